"""The `groundqa` command: each subcommand parses, calls `qa`'s public API (or `ui` for `serve`), and
prints text or JSON. It lives in `ui`, the interfaces, so that `qa` never imports them; heavy
modules load inside the commands that need them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from embeddings.backends import DEFAULT_BACKEND, ENCODER_BACKENDS
from embeddings.ann_index import AUTO_CHUNKS, INDEX_TYPES
from embeddings.vector_store import STORE_HELP
from qa.errors import GroundQAError
from qa.retrieval import FUSIONS, MODES

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_REGRESSION = 3


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
    except Exception as exc:  # noqa: BLE001 - a bug or a library's surprise: one line, the details on demand
        if os.environ.get("GROUNDQA_DEBUG"):
            raise
        first = str(exc).strip().splitlines()
        return _fail(f"unexpected {type(exc).__name__}: {first[0] if first else ''} "
                     f"(set GROUNDQA_DEBUG=1 for the traceback, and please report it)")


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
        if name != "eval":  # eval documents --index itself
            p.add_argument("--index", type=Path, default=None, metavar="DIR",
                           help="index folder (default: $GROUNDQA_INDEX or ./.groundqa)")
        if name in ("index", "eval"):  # the others read queries as the index was built
            p.add_argument("--encoder", choices=ENCODER_BACKENDS, default=DEFAULT_BACKEND,
                           help="build with onnx (default: the model's int8 ONNX export, made once and cached; "
                                "every token encoded once) or torch (sentence-transformers, sentences encoded "
                                "again on their own)")
        return p

    p = command("index", "Index files and folders (.txt .md .html .pdf): build the index, or bring it up to date "
                         "(new and changed files read into a new segment, files gone from these paths deleted).", _index)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders to index (recursively); none with --optimize: only merge")
    p.add_argument("--rebuild", action="store_true", help="start over instead of updating the index")
    p.add_argument("--optimize", action="store_true",
                   help="then merge the index's segments into one (updates add segments; reading one is quicker)")
    p.add_argument("--strict", action="store_true",
                   help="exit with an error when any file was skipped (unreadable, empty, binary, corrupt, ...)")
    p.add_argument("--no-wait", action="store_true",
                   help="fail at once when another groundqa process is writing the index, instead of waiting")
    p.add_argument("--max-file-mb", type=float, default=100, metavar="MB",
                   help="skip files larger than this (default 100)")
    p.add_argument("--model", default=None, metavar="PATH_OR_NAME",
                   help="local sentence-transformers model folder (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=200, metavar="TOKENS",
                   help="most word pieces per chunk (capped by the model's input; default 200)")
    p.add_argument("--chunk-overlap", type=int, default=1, metavar="SENTENCES",
                   help="sentences shared by consecutive chunks (default 1)")
    p.add_argument("--index-type", choices=INDEX_TYPES, default=None,
                   help=f"how chunk vectors are searched: exact (flat), HNSW graph or IVF-PQ; auto (for a new index) "
                        f"is flat below {AUTO_CHUNKS:,} chunks, hnsw from there; default: the index's own. "
                        "On FAISS changing it re-encodes nothing; a Milvus collection is rebuilt")
    p.add_argument("--store", default=None, metavar="STORE",
                   help=f"where chunk vectors are searched: {STORE_HELP}; default: the index's own, faiss for "
                        "a new one; another store than the index's rebuilds it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = command("search", "Print the passages that best match a question, with citations.", _search)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command("ask", "Answer with verbatim quotes from the documents, or say they do not answer.", _ask)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=8, help="passages whose sentences are considered (default 8)")
    p.add_argument("--quotes", type=int, default=3, help="most quotes to show (default 3)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    p.add_argument("--threshold", type=float, default=None,
                   help="abstain below this confidence, 0..1 (default: the calibrated one)")
    p.add_argument("--no-reader", action="store_true",
                   help="answer with the bi-encoder scorer alone, without the reader that rereads its best "
                        "candidates with the question (faster, less exact)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command("show", "Print a stored document (its exact indexed text).", _show)
    p.add_argument("doc_id", nargs="?", help="document id, as printed by search")
    p.add_argument("--list", action="store_true", help="list the indexed documents instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command("eval", "Evaluate retrieval on a BEIR folder, a SQuAD JSON file, or a question set.", _eval)
    p.add_argument("dataset", type=Path, metavar="DATASET",
                   help="BEIR folder, SQuAD .json, or question set .jsonl/.csv (asked against --index)")
    p.add_argument("--index", type=Path, default=None, metavar="DIR",
                   help="index to ask a question set against (default: $GROUNDQA_INDEX or ./.groundqa); "
                        "BEIR and SQuAD build and cache their own")
    p.add_argument("--mode", choices=(*MODES, "all"), default="hybrid", help="retrieval mode, or all three")
    p.add_argument("--split", default="test", help="BEIR qrels file to use (default test)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions")
    p.add_argument("--articles", type=int, default=None, metavar="N", help="SQuAD: only the first N articles")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="write report.md, metrics.json, per_query.jsonl and plots into DIR")
    p.add_argument("--baseline", type=Path, default=None, metavar="METRICS_JSON",
                   help="compare with an earlier metrics.json; exit 3 when a metric moves the wrong way "
                        "(a recall drops, answerable abstention rises) by more than --tolerance")
    p.add_argument("--tolerance", type=float, default=0.01, help="largest allowed move the wrong way (default 0.01)")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="where data set indexes are cached (default $GROUNDQA_CACHE or ~/.cache/groundqa)")
    p.add_argument("--model", default=None, metavar="PATH_OR_NAME", help="model for data set indexes")
    p.add_argument("--chunk-size", type=int, default=200, metavar="TOKENS", help="chunk size for data set indexes")
    p.add_argument("--chunk-overlap", type=int, default=1, metavar="SENTENCES",
                   help="chunk overlap for data set indexes")
    p.add_argument("--fusion", choices=FUSIONS, default=None, help="hybrid fusion (default: the index's)")
    p.add_argument("--dense-weight", type=float, default=None, metavar="W",
                   help="weight of dense scores in score fusion, 0..1 (default: the index's)")
    p.add_argument("--term-prior", type=float, default=None, metavar="CHUNKS",
                   help="weight, in chunks, of general-English word frequencies in query-term idf; "
                        "0 = corpus counts only (default: the index's, 100)")
    p.add_argument("--no-answers", action="store_true",
                   help="retrieval metrics only: skip `ask` (quote metrics and abstention)")
    p.add_argument("--ask-k", type=int, default=8, metavar="K", help="passages `ask` considers (default 8)")
    p.add_argument("--threshold", type=float, default=None, help="abstention threshold for `ask` (default calibrated)")
    p.add_argument("--no-reader", action="store_true",
                   help="answer with the bi-encoder scorer alone, as groundqa did before the reader")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = command("serve", "Start the web chat.", _serve)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-file-mb", type=float, default=50, help="largest upload accepted, per file (default 50)")
    p.add_argument("--read-only", action="store_true", help="no uploading or removing documents from the page")
    return parser


def _open(args):
    from qa.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(args.index)


def _index(args) -> int:
    from qa.knowledge_base import default_index_dir
    from qa.updating import index_paths

    index_dir = args.index or default_index_dir()
    say = lambda msg: print(f"groundqa: {msg}", file=sys.stderr)  # noqa: E731
    if not args.paths:
        if not args.optimize:
            return _fail("give the files or folders to index: groundqa index PATH... "
                         "(or `groundqa index --optimize` to merge an index's segments)")
        from qa.updating import optimize_index

        before, counts = optimize_index(index_dir, wait=not args.no_wait, on_wait=say)
        print(f"optimized: {_plural(before, 'segment')} merged into 1; {_plural(counts['documents'], 'document')} "
              f"as {_plural(counts['chunks'], 'chunk')} in {index_dir}")
        return 0
    report = index_paths(args.paths, index_dir=index_dir, rebuild=args.rebuild, optimize=args.optimize,
                         model=args.model, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap,
                         backend=args.encoder, max_bytes=int(args.max_file_mb * 1e6), show_progress=_progress(args),
                         wait=not args.no_wait, on_wait=say,
                         on_skip=lambda path, reason: say(f"skipped {path}: {reason}"), store=args.store,
                         index_type=args.index_type)
    if report.damaged:
        say(report.damaged.split(": rebuild it")[0] + "; it was rebuilt")
    counts = report.counts
    if report.rebuilt:
        done = f"indexed {_plural(counts['documents'], 'document')} as {_plural(counts['chunks'], 'chunk')}"
    elif report.modified:
        done = (f"updated: {len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
                f"{report.unchanged} unchanged; {_plural(counts['documents'], 'document')} as "
                f"{_plural(counts['chunks'], 'chunk')}")
    else:
        done = f"up to date: {_plural(counts['documents'], 'document')} as {_plural(counts['chunks'], 'chunk')}"
    skipped = f", skipped {len(report.skipped)}" if report.skipped else ""
    print(f"{done}{skipped} in {index_dir}")
    if report.skipped and args.strict:
        return _fail(f"{_plural(len(report.skipped), 'file')} skipped and --strict given "
                     f"(the index was written with the rest)")
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


def _ask(args) -> int:
    kb = _open(args)
    answer = kb.ask(args.question, k=args.k, max_quotes=args.quotes, mode=args.mode, threshold=args.threshold,
                    reader=not args.no_reader)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    dim, bold, reset = ("\033[2m", "\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "", "")
    if answer.abstained:
        print(f"The indexed documents do not answer this (confidence {answer.confidence:.3f}). "
              f"Closest passages, not an answer:")
        for p in answer.passages[:args.quotes]:
            print(f"  {dim}\"{' '.join(p.text.split())}\"{reset}")
            print(f"  — {_cite(p)}")
        return 0
    print(f"Answer (confidence {answer.confidence:.3f}):")
    for q in answer.quotes:
        doc = kb.document(q.doc_id)
        before = " ".join(doc.text[max(q.context_start, q.start - 160):q.start].split())
        after = " ".join(doc.text[q.end:min(q.context_end, q.end + 160)].split())
        print(f"  {dim}…{before}{reset} {bold}\"{' '.join(q.text.split())}\"{reset} {dim}{after}…{reset}")
        print(f"  — {_cite(q)}")
    return 0


def _cite(item) -> str:
    page = f", p. {item.page}" if item.page else ""
    return f"{item.title} ({item.source}{page}, chars {item.start}-{item.end})"


def _show(args) -> int:
    if args.list or not args.doc_id:
        from embeddings.index_folder import read_checked_manifest
        from embeddings.segments import list_documents
        from qa.knowledge_base import default_index_dir

        index_dir = args.index or default_index_dir()
        docs = list_documents(index_dir, read_checked_manifest(index_dir))  # a cut file is named, as `open` would
        if args.json:
            print(json.dumps(docs, ensure_ascii=False, indent=2))
        else:
            for d in docs:
                print(f"{d['doc_id']}\t{d['title']}\t{d['source']}\t{d['chars']} chars")
        return 0
    doc = _open(args).document(args.doc_id)
    if args.json:
        print(json.dumps({"doc_id": doc.doc_id, "source": doc.source, "title": doc.title, "text": doc.text,
                          "kind": doc.kind, "encoding": doc.encoding, "sha256": doc.sha256,
                          "pages": [[p.number, p.start, p.end] for p in doc.pages]},
                         ensure_ascii=False, indent=2))
    else:
        print(doc.text)
    return 0


def _eval(args) -> int:
    from dataclasses import replace

    from qa.errors import EvaluationError
    from qa.evaluation import cached_knowledge_base, compare, evaluate, load_dataset, result_json, table, write_report
    from qa.knowledge_base import KnowledgeBase

    baseline = _read_baseline(args.baseline) if args.baseline else None
    dataset = load_dataset(args.dataset, split=args.split, limit=args.limit, articles=args.articles)
    if dataset.documents is None:
        kb = KnowledgeBase.open(args.index)
    else:
        kb = cached_knowledge_base(dataset, cache_dir=args.cache_dir, model=args.model, chunk_size=args.chunk_size,
                                   chunk_overlap=args.chunk_overlap, backend=args.encoder,
                                   show_progress=_progress(args))
    overrides = {k: v for k, v in (("fusion", args.fusion), ("dense_weight", args.dense_weight),
                                   ("term_prior", args.term_prior)) if v is not None}
    try:
        retrieval = replace(kb.retrieval, **overrides)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc
    modes = MODES if args.mode == "all" else (args.mode,)
    runs = [evaluate(kb, dataset, mode=m, retrieval=retrieval, answers=not args.no_answers, ask_k=args.ask_k,
                     threshold=args.threshold, reader=not args.no_reader, show_progress=_progress(args))
            for m in modes]
    settings = {"model": kb.manifest["model"]["name"], "index_id": kb.manifest["index_id"],
                "chunking": kb.manifest["chunking"], "retrieval": retrieval.to_dict(), "split": args.split,
                "limit": args.limit, "articles": args.articles, "reader": not args.no_reader}
    result = result_json(dataset.name, len(dataset.queries), settings, runs)
    if args.report:
        write_report(args.report, result, runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{dataset.name}: {len(dataset.queries)} questions")
        print(table(runs))
        if args.report:
            print(f"report written to {args.report}/report.md")
    if baseline is not None:
        lines, regressed = compare(result, baseline, tolerance=args.tolerance)
        for line in lines:
            print(line, file=sys.stderr)
        if regressed:
            print(f"groundqa: error: a metric moved the wrong way by more than {args.tolerance} against {args.baseline}",
                  file=sys.stderr)
            return EXIT_REGRESSION
    return 0


def _read_baseline(path: Path) -> dict:
    from qa.errors import EvaluationError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot read baseline {path}: {exc}") from exc
    if "metrics" not in data and "modes" not in data:
        raise EvaluationError(f"{path} is not a groundqa eval result (no 'metrics' or 'modes')")
    return data


def _serve(args) -> int:
    from ui.app import serve

    serve(_open(args), host=args.host, port=args.port, max_file_mb=args.max_file_mb, read_only=args.read_only)
    return 0


def _progress(args) -> bool:
    """Progress bars for long work, on a terminal only, and never with --quiet."""
    return not args.quiet and sys.stderr.isatty()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
