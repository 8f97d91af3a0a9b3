"""What the chat does, without Gradio: ask, show a source, add and remove documents.

`ui.app` wires these methods to components and API endpoints; tests can call them directly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from qa import GroundQAError, KnowledgeBase
from ui.render import answer_html, error_html, user_html
from ui.source import EMPTY, error_panel, parse_target, source_html
from ui.state import AnswerStore, KnowledgeBaseHolder
from ui.uploads import UploadPolicy, remove_uploaded, stage_uploads

# Uploaded documents are named "uploads/<file name>", apart from the files indexed from disk.
UPLOAD_PREFIX = "uploads/"

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class UploadResult:
    """The outcome of one upload, for the status line and the `/upload` endpoint."""

    ok: bool
    status: str
    added: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, documents: list[dict]) -> dict:
        return {"ok": self.ok, "status": self.status, "added": self.added, "notes": self.notes,
                "documents": documents}


def default_upload_dir(kb: KnowledgeBase) -> Path:
    """`<index>-uploads` beside the index folder (the index folder itself is replaced on every write)."""
    index_dir = Path(kb.index_dir)
    return index_dir.parent / f"{index_dir.name}-uploads"


class ChatService:
    """The chat's behaviour over a swappable knowledge base."""

    def __init__(self, kb: KnowledgeBase, *, upload_dir: str | Path | None = None,
                 policy: UploadPolicy = UploadPolicy(), answers: AnswerStore | None = None) -> None:
        self.holder = KnowledgeBaseHolder(kb)
        self.upload_dir = Path(upload_dir) if upload_dir is not None else default_upload_dir(kb)
        self.policy = policy
        self.answers = answers or AnswerStore()

    @property
    def kb(self) -> KnowledgeBase:
        return self.holder.current

    # ----- questions --------------------------------------------------------------------------
    def respond(self, message: str, history: list | None, k: float = 8, mode: str = "hybrid",
                calibrated: bool = True, threshold: float | None = None) -> tuple[list, str]:
        """Chat turn: the history with the question and its answer (escaped HTML) appended, and an empty box."""
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            return history, ""
        history.append({"role": "user", "content": user_html(message)})
        try:
            answer, verified = self._ask(message, k, mode, None if calibrated else threshold)
            html = answer_html(answer, verified, answer_id=self.answers.put(answer_dict(answer, verified)))
        except GroundQAError as exc:
            html = error_html(exc)
        except Exception:  # a bug must not kill the chat; the log has the traceback
            log.exception("answering %r failed", message)
            html = error_html("something went wrong while answering; the server log has the details")
        history.append({"role": "assistant", "content": html})
        return history, ""

    def ask_dict(self, question: str, k: float = 8, mode: str = "hybrid", threshold: float | None = None) -> dict:
        """`Answer.to_dict()` with a `verified` flag on every quote; raises GroundQAError."""
        return answer_dict(*self._ask(question, k, mode, threshold))

    def search_dict(self, question: str, k: float = 5, mode: str = "hybrid") -> dict:
        passages = self.kb.search(question, k=int(k), mode=mode)
        return {"question": question, "passages": [p.to_dict() for p in passages]}

    def _ask(self, question: str, k: float, mode: str, threshold: float | None):
        answer = self.kb.ask(question, k=int(k), mode=mode,
                             threshold=None if threshold is None else float(threshold))
        # Checked against the index as it is now: a document replaced meanwhile fails here.
        current = self.kb
        return answer, [current.verify(q) for q in answer.quotes]

    def answer_json(self, answer_id: str) -> str:
        """The stored answer as pretty JSON, or "" when it is no longer kept."""
        data = self.answers.get((answer_id or "").strip())
        return json.dumps(data, ensure_ascii=False, indent=2) if data is not None else ""

    # ----- the source panel --------------------------------------------------------------------
    def source(self, target: str, whole: bool = False) -> str:
        """The source panel for a citation target `doc_id:start:end:sha`."""
        if not (target or "").strip():
            return EMPTY
        try:
            doc_id, start, end, sha = parse_target(target)
        except ValueError:
            return error_panel("that citation link is malformed")
        try:
            doc = self.kb.document(doc_id)
        except GroundQAError:
            return error_panel(f"{doc_id} is no longer in the index (it was removed after this answer)")
        return source_html(doc, start, end, whole=bool(whole), sha=sha)

    # ----- documents ----------------------------------------------------------------------------
    def documents(self) -> list[dict]:
        return [{"title": t, "source": s, "chunks": n, "doc_id": d} for t, s, n, d in self.holder.document_rows()]

    def upload(self, files: Iterable | None, progress: Progress | None = None, *,
               show_progress: bool = False) -> UploadResult:
        """Copy files into the upload folder, index what is new, and swap the new index in."""
        files = [f for f in (files or []) if f]
        if not files:
            return UploadResult(False, "no files were given")
        progress = progress or (lambda fraction, desc: None)

        def change(kb: KnowledgeBase):
            progress(0.05, "checking and copying files")
            staged = stage_uploads(files, self.upload_dir, self.policy)
            if not staged.paths:
                return kb, (staged, [], set())
            progress(0.2, f"reading and embedding {len(staged.paths)} file(s)")
            notes: list[str] = []
            known = {d.doc_id for d in kb.records}
            new_kb, added = kb.add(staged.paths, show_progress=show_progress, warn=notes.append,
                                   prefix=UPLOAD_PREFIX, skip_unreadable=True)
            staged.notes.extend(notes)
            return new_kb, (staged, added, known)

        try:
            staged, added, known = self.holder.update(change)
        except GroundQAError as exc:
            return UploadResult(False, f"upload refused: {exc}")
        except OSError as exc:
            log.exception("upload failed")
            return UploadResult(False, f"upload failed: {exc.strerror or exc}")
        progress(1.0, "done")
        return _upload_result(staged, added, known)

    def remove(self, doc_ids: Sequence[str] | str | None) -> UploadResult:
        """Drop documents from the index (and their uploaded copies, never other files)."""
        ids = [doc_ids] if isinstance(doc_ids, str) else [d for d in (doc_ids or []) if d]
        if not ids:
            return UploadResult(False, "select a document to remove first")

        def change(kb: KnowledgeBase):
            docs = [kb.document(d) for d in ids]
            return kb.remove(ids), docs

        try:
            removed = self.holder.update(change)
        except GroundQAError as exc:
            return UploadResult(False, f"not removed: {exc}")
        for doc in removed:
            if doc.doc_id.startswith(UPLOAD_PREFIX):
                remove_uploaded(str(self.upload_dir / doc.doc_id[len(UPLOAD_PREFIX):]), self.upload_dir)
        return UploadResult(True, f"removed {_names(d.doc_id for d in removed)}")


def answer_dict(answer, verified: Sequence[bool]) -> dict:
    data = answer.to_dict()
    data["quotes"] = [dict(q, verified=bool(ok)) for q, ok in zip(data["quotes"], verified)]
    return data


def _upload_result(staged, added, known: set[str]) -> UploadResult:
    replaced = [d.doc_id for d in added if d.doc_id in known]
    fresh = [d.doc_id for d in added if d.doc_id not in known]
    unchanged = len(staged.paths) - len(added)
    parts = []
    if fresh:
        parts.append(f"added {_names(fresh)}")
    if replaced:
        parts.append(f"replaced {_names(replaced)}")
    if unchanged > 0:
        parts.append(f"{unchanged} file(s) already indexed unchanged")
    if not parts:
        parts.append("nothing new to index")
    return UploadResult(bool(added) or unchanged > 0, "; ".join(parts), [d.doc_id for d in added], staged.notes)


def _names(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return f"{len(ids)} document{'s' if len(ids) != 1 else ''} ({shown})"
