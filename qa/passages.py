"""`Passage`: one retrieved chunk with its citation (document, page, exact character span) and score."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk; `document(doc_id).text[start:end] == text`."""

    text: str
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    page: int | None
    score: float
    rank: int
    chunk: int = 0

    def to_dict(self) -> dict:
        return asdict(self)
