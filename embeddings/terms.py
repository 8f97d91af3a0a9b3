"""How texts become BM25 terms: bm25s's tokenizer (English stopwords, Snowball stemming), with the
parts of identifiers ("asn1_der_decoding", "Example.Group.id", "XMLHttpRequest") added as words."""

from __future__ import annotations

import re
from typing import Sequence

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's own token pattern
# A word, or an identifier whose pieces are joined by ".", "::" or "->": "Example.Group.id", "std::vector".
WORD = re.compile(r"\w+(?:(?:\.|::|->)\w+)*")
PIECE_SEPARATOR = re.compile(r"\.|::|->")
# The words of `WORD` that may be identifiers (joined pieces, "_", camelCase): found in one pass,
# so that plain prose costs no call per word; tried from a word's start only (a match inside a
# word would have matched from its start), which saves the backtracking of every inner position;
# possessive and lazy runs (no separator or camel hump can hide inside \w+) save the rest.
_MAYBE_IDENTIFIER = re.compile(r"(?<!\w)(?:\w++(?:(?:\.|::|->)\w++)+|\w*?(?:_\w|[a-z0-9][A-Z])\w*+)")
# Where an identifier splits into its parts: "_", and camelCase ("asn1Decoding", "XMLHttpRequest").
_PART_BOUNDARY = re.compile(r"_+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")


def english_stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str], stemmer=None) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed word lists, as bm25s indexes them; an identifier also
    gives its parts (see `identifier_terms`)."""
    import bm25s

    texts = [_with_identifier_terms(text) for text in texts]
    return bm25s.tokenize(texts, lower=True, stopwords="en", stemmer=stemmer or english_stemmer(),
                          return_ids=False, show_progress=False)


def identifier_terms(word: str) -> list[str]:
    """The words an identifier adds to its own, so that it matches whole and by part.

    "asn1_der_decoding" adds "asn1 der decoding" (bm25s keeps it whole); "Example.Group.id", which
    bm25s reads as three words, adds "Example_Group_id" as the whole; "asn1Decoding" adds "asn1 Decoding".
    A plain word adds nothing.
    """
    pieces = PIECE_SEPARATOR.split(word)
    added = []
    if len(pieces) > 1 and max(len(p) for p in pieces) > 1:  # "e.g" or "U.S" is no identifier
        added.append("_".join(pieces))
    for piece in pieces:
        if "_" in piece.strip("_") or _CAMEL.search(piece):
            added.extend(part for part in _PART_BOUNDARY.split(piece) if part)
    return added


def _with_identifier_terms(text: str) -> str:
    added = [term for word in _MAYBE_IDENTIFIER.findall(text) for term in identifier_terms(word)]
    return f"{text} {' '.join(added)}" if added else text
