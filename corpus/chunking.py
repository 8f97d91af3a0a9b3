"""Sentence-aware chunking: whole sentences packed into chunks that fit the encoder's input."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from corpus.documents import Document
from corpus.errors import GroundQAError
from corpus.sentences import split_sentences

TokenCounter = Callable[[str], int]

# A chunking unit holds at most this many characters per token of the chunk size (200 tokens: 2,400
# characters); an ordinary sentence of that many tokens is well under it.
MAX_CHARS_PER_TOKEN = 12
_WORDPIECE_ESTIMATE = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole sentences of one document; `doc.text[start:end] == text`.

    It holds the document's text by reference (`source`), not a copy of its own span: an index
    of a million chunks keeps each character once.
    """

    doc_id: str
    index: int
    start: int
    end: int
    source: str = field(repr=False, compare=False)
    sentences: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        return self.source[self.start:self.end]


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents are cut: at most `max_tokens` word pieces, `overlap` sentences shared."""

    max_tokens: int = 200
    overlap: int = 1

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise GroundQAError(f"chunk size {self.max_tokens} is too small: use at least 8 tokens")
        if self.overlap < 0:
            raise GroundQAError(f"chunk overlap {self.overlap} must be 0 or more sentences")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free upper-bound guess of word pieces, for use without a model."""
    return sum(1 + len(w) // 6 for w in _WORDPIECE_ESTIMATE.findall(text))


def chunk_document(
    doc: Document,
    *,
    settings: ChunkingSettings = ChunkingSettings(),
    count_tokens: TokenCounter = estimate_tokens,
    token_spans: Callable[[str], Sequence[tuple[int, int]]] | None = None,
    count_many: Callable[[Sequence[str]], Sequence[int]] | None = None,
) -> list[Chunk]:
    """Cut `doc` into chunks of consecutive sentences of at most `settings.max_tokens` tokens.

    A sentence longer than the limit is split at spaces into pieces that fit, so the encoder
    never truncates a chunk. Consecutive chunks share `settings.overlap` sentences.
    `token_spans(text)`, the tokenizer's character spans of `text`'s tokens, when given, lets a
    very long sentence be cut with two tokenizer calls per piece instead of a bisection's eight.
    `count_many(texts)`, `count_tokens` of many texts in one call, when given, counts the sentences
    in one batch (a tokenizer's batch call is several times quicker than a call per sentence).
    """
    units = _fitting_units(doc.text, split_sentences(doc.text), settings.max_tokens, count_tokens, token_spans,
                           count_many)
    max_chars = MAX_CHARS_PER_TOKEN * settings.max_tokens
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        last, used = first, units[first][2]
        while (last + 1 < len(units) and used + units[last + 1][2] <= settings.max_tokens
               and units[last + 1][1] - units[first][0] <= max_chars):
            last += 1
            used += units[last][2]
        start, end = units[first][0], units[last][1]
        chunks.append(Chunk(doc.doc_id, len(chunks), start, end, doc.text,
                            tuple((s, e) for s, e, _ in units[first:last + 1])))
        if last + 1 >= len(units):
            break
        first = _next_first(units, first, last, settings)
    return chunks


def _next_first(units, first: int, last: int, settings: ChunkingSettings) -> int:
    """Where the next chunk starts: up to `overlap` sentences back, if the next sentence still fits."""
    max_chars = MAX_CHARS_PER_TOKEN * settings.max_tokens
    for back in range(min(settings.overlap, last - first), 0, -1):
        if (sum(u[2] for u in units[last + 1 - back:last + 2]) <= settings.max_tokens
                and units[last + 1][1] - units[last + 1 - back][0] <= max_chars):
            return last + 1 - back
    return last + 1


def _fitting_units(text, spans, max_tokens, count_tokens, token_spans=None,
                   count_many=None) -> list[tuple[int, int, int]]:
    """Sentence spans with their token counts; over-long sentences split at spaces to fit.

    A unit also holds at most MAX_CHARS_PER_TOKEN * max_tokens characters, so that a line with no
    sentence break, or one giant "word" the tokenizer reads as a single unknown token, stays bounded.
    """
    max_chars = MAX_CHARS_PER_TOKEN * max_tokens
    spans = list(spans)
    short = [(start, end) for start, end in spans if end - start <= max_chars]
    counted = dict(zip(short, count_many([text[a:b] for a, b in short]))) if count_many and short else {}
    units = []
    for start, end in spans:
        if end - start <= max_chars:
            n = counted[start, end] if counted else count_tokens(text[start:end])
            if n <= max_tokens:
                units.append((start, end, n))
                continue
        units.extend(_split_long(text, start, end, max_tokens, max_chars, count_tokens, token_spans))
    return units


def _split_long(text, start, end, max_tokens, max_chars, count_tokens,
                token_spans=None) -> list[tuple[int, int, int]]:
    """Cut `text[start:end]` at spaces into the longest pieces that fit, each found by bisection
    (every word is at least one token), so the cost grows with the pieces, not with the words.
    With `token_spans`, one tokenization of the stretch a piece may reach proposes its cut, and one
    count checks it."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    ends = [w[1] for w in words]
    pieces, first = [], 0
    while first < len(words):
        a, b = words[first]
        if b - a > max_chars or count_tokens(text[a:b]) > max_tokens:  # one "word" longer than a unit
            pieces.extend(_split_word(text, a, b, max_tokens, max_chars, count_tokens))
            first += 1
            continue
        lo = first
        hi = min(first + max_tokens, bisect.bisect_right(ends, a + max_chars)) - 1
        if token_spans is not None:  # the last word before the token limit, if it really fits
            tokens = token_spans(text[a:words[hi][1]])
            limit = a + tokens[max_tokens - 1][1] if len(tokens) > max_tokens else words[hi][1]
            guess = max(first, min(hi, bisect.bisect_right(ends, limit) - 1))
            n = count_tokens(text[a:words[guess][1]])
            if n <= max_tokens:
                pieces.append((a, words[guess][1], n))
                first = guess + 1
                continue
            hi = guess
        while lo < hi:  # the last word such that the piece still fits
            mid = (lo + hi + 1) // 2
            if count_tokens(text[a:words[mid][1]]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((a, words[lo][1], count_tokens(text[a:words[lo][1]])))
        first = lo + 1
    return pieces


def _split_word(text, start, end, max_tokens, max_chars, count_tokens) -> list[tuple[int, int, int]]:
    pieces, pos = [], start
    while pos < end:
        lo, hi = pos + 1, min(end, pos + max_chars)
        while lo < hi:  # longest prefix that fits
            mid = (lo + hi + 1) // 2
            if count_tokens(text[pos:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((pos, lo, count_tokens(text[pos:lo])))
        pos = lo
    return pieces
