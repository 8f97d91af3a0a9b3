"""`Citation` (document, page, exact character span, score) and `Passage`, one retrieved chunk that carries one."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Citation:
    """Text with where it stands: `document(doc_id).text[start:end] == text`."""

    text: str
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    page: int | None
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Passage(Citation):
    """A retrieved chunk, `rank` 1 the best."""

    rank: int
    chunk: int = 0
