"""The `groundqa` command: each subcommand parses, calls the public API, and prints text or JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from qa.errors import GroundQAError
from qa.retrieval import MODES

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_ERROR
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        return args.run(args) or 0
    except GroundQAError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("groundqa: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(message: str) -> int:
    print(f"groundqa: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groundqa",
        description="Answer questions about your documents with verbatim, cited quotes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, run) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(run=run)
        if name != "eval":
            p.add_argument("--index", type=Path, default=None, metavar="DIR",
                           help="index folder (default: $GROUNDQA_INDEX or ./.groundqa)")
        return p

    p = command("index", "Build (or rebuild) the index from files and folders (.txt .md .html .pdf).", _index)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index (recursively)")
    p.add_argument("--model", default=None, metavar="PATH_OR_NAME",
                   help="local sentence-transformers model folder (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=200, metavar="TOKENS",
                   help="most word pieces per chunk (capped by the model's input; default 200)")
    p.add_argument("--chunk-overlap", type=int, default=1, metavar="SENTENCES",
                   help="sentences shared by consecutive chunks (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = command("search", "Print the passages that best match a question, with citations.", _search)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command("show", "Print a stored document (its exact indexed text).", _show)
    p.add_argument("doc_id", nargs="?", help="document id, as printed by search")
    p.add_argument("--list", action="store_true", help="list the indexed documents instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command("serve", "Start the web chat.", _serve)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    return parser


def _open(args):
    from qa.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(args.index)


def _index(args) -> int:
    from qa.knowledge_base import KnowledgeBase, default_index_dir

    index_dir = args.index or default_index_dir()
    warn = lambda msg: print(f"groundqa: warning: {msg}", file=sys.stderr)  # noqa: E731
    kb = KnowledgeBase.build(args.paths, index_dir=index_dir, model=args.model, chunk_size=args.chunk_size,
                             chunk_overlap=args.chunk_overlap, show_progress=not args.quiet, warn=warn)
    counts = kb.manifest["counts"]
    print(f"indexed {counts['documents']} documents as {counts['chunks']} chunks into {index_dir}")
    return 0


def _search(args) -> int:
    kb = _open(args)
    passages = kb.search(args.question, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps({"question": args.question, "mode": args.mode,
                          "passages": [p.to_dict() for p in passages]}, ensure_ascii=False, indent=2))
        return 0
    for p in passages:
        page = f", p. {p.page}" if p.page else ""
        print(f"[{p.rank}] {p.title} ({p.source}{page}, chars {p.start}-{p.end}) score {p.score:.3f}")
        print("    " + " ".join(p.text.split()))
        print()
    return 0


def _show(args) -> int:
    kb = _open(args)
    if args.list or not args.doc_id:
        docs = [{"doc_id": d.doc_id, "source": d.source, "title": d.title, "chars": len(d.text)}
                for d in kb.documents]
        if args.json:
            print(json.dumps(docs, ensure_ascii=False, indent=2))
        else:
            for d in docs:
                print(f"{d['doc_id']}\t{d['title']}\t{d['source']}\t{d['chars']} chars")
        return 0
    doc = kb.document(args.doc_id)
    if args.json:
        print(json.dumps({"doc_id": doc.doc_id, "source": doc.source, "title": doc.title, "text": doc.text,
                          "kind": doc.kind, "encoding": doc.encoding, "sha256": doc.sha256,
                          "pages": [[p.number, p.start, p.end] for p in doc.pages]},
                         ensure_ascii=False, indent=2))
    else:
        print(doc.text)
    return 0


def _serve(args) -> int:
    from ui.app import serve

    serve(_open(args), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
