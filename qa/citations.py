"""What an answer cites, read from the document store: ranked passages, and quotes checked
against the indexed text before they leave (`document.text[start:end] == quote`)."""

from __future__ import annotations

import numpy as np

from embeddings.document_shelf import DocumentShelf
from embeddings.row_table import RowTable
from qa.answers import Candidate, Quote
from qa.errors import CitationError
from qa.passages import Passage


def verify(documents: DocumentShelf, quote: Quote) -> bool:
    """Whether `quote` still stands, word for word, at its place in the indexed document."""
    if quote.doc_id not in documents:
        return False
    return documents.span(quote.doc_id, quote.start, quote.end) == quote.text


def quote_of(documents: DocumentShelf, table: RowTable, c: Candidate, end: int, score: float) -> Quote:
    """The quote of candidate sentence `c` (through `end`), with its place, page, lines and
    chunk; a CitationError if the store's text there is not the sentence (a damaged index)."""
    doc = documents.record(c.doc_id)
    lines = ((documents.line_at(doc.doc_id, c.start), documents.line_at(doc.doc_id, max(c.start, end - 1)))
             if doc.kind in ("txt", "md") else (None, None))
    quote = Quote(text=documents.span(doc.doc_id, c.start, end), doc_id=doc.doc_id, source=doc.source, title=doc.title,
                  start=c.start, end=end, page=doc.page_at(c.start), score=round(score, 4),
                  context_start=min(int(table.chunk_start[c.chunk_row]), c.start),
                  context_end=max(int(table.chunk_end[c.chunk_row]), end),
                  doc_sha256=doc.sha256, line_start=lines[0], line_end=lines[1])
    if not verify(documents, quote):  # never let a quote out that is not the document's own text
        raise CitationError(f"quote {c.start}-{c.end} of {doc.doc_id!r} is not its text; rebuild the index")
    return quote


def passages_of(documents: DocumentShelf, table: RowTable, rows: np.ndarray, scores: np.ndarray) -> list[Passage]:
    """The passages of chunk `rows`, ranked in order, their texts read ahead together."""
    documents.prefetch((documents.ids[table.chunk_doc[r]], int(table.chunk_start[r]), int(table.chunk_end[r]))
                       for r in np.asarray(rows).tolist())
    return [_passage(documents, table, int(i), float(s), rank) for rank, (i, s) in enumerate(zip(rows, scores), 1)]


def _passage(documents: DocumentShelf, table: RowTable, row: int, score: float, rank: int) -> Passage:
    doc = documents.records[table.chunk_doc[row]]
    start, end = int(table.chunk_start[row]), int(table.chunk_end[row])
    return Passage(text=documents.span(doc.doc_id, start, end), doc_id=doc.doc_id, source=doc.source,
                   title=doc.title, start=start, end=end, page=doc.page_at(start), score=score, rank=rank,
                   chunk=int(table.chunk_index[row]))
