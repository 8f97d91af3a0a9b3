"""BM25 over chunk texts with bm25s: English stopwords, Snowball stemming, saved beside the vectors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.term_prior import TermPrior

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's own token pattern
# A word, or an identifier whose pieces are joined by ".", "::" or "->": "Example.Group.id", "std::vector".
_WORD = re.compile(r"\w+(?:(?:\.|::|->)\w+)*")
_PIECE_SEPARATOR = re.compile(r"\.|::|->")
# The words of `_WORD` that may be identifiers (joined pieces, "_", camelCase): found in one pass,
# so that plain prose costs no call per word.
_MAYBE_IDENTIFIER = re.compile(r"\w+(?:(?:\.|::|->)\w+)+|\w*(?:_\w|[a-z0-9][A-Z])\w*")
# Where an identifier splits into its parts: "_", and camelCase ("asn1Decoding", "XMLHttpRequest").
_PART_BOUNDARY = re.compile(r"_+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str], stemmer=None) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed word lists, as bm25s indexes them; an identifier also
    gives its parts (see `identifier_terms`)."""
    import bm25s

    texts = [_with_identifier_terms(text) for text in texts]
    return bm25s.tokenize(texts, lower=True, stopwords="en", stemmer=stemmer or _stemmer(),
                          return_ids=False, show_progress=False)


def identifier_terms(word: str) -> list[str]:
    """The words an identifier adds to its own, so that it matches whole and by part.

    "asn1_der_decoding" adds "asn1 der decoding" (bm25s keeps it whole); "Example.Group.id", which
    bm25s reads as three words, adds "Example_Group_id" as the whole; "asn1Decoding" adds "asn1 Decoding".
    A plain word adds nothing.
    """
    pieces = _PIECE_SEPARATOR.split(word)
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


class LexicalIndex:
    """BM25 (bm25s, Lucene variant) scores of a query against every chunk."""

    def __init__(self, retriever, *, k1: float, b: float) -> None:
        self._retriever = retriever
        self._vocab = retriever.vocab_dict
        self._stemmer = _stemmer()
        self.k1, self.b = k1, b
        self._df: np.ndarray | None = None

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> "LexicalIndex":
        import bm25s

        distinct = list(dict.fromkeys(texts))  # repeated texts (duplicate files, boilerplate) tokenized once
        tokens_of = dict(zip(distinct, tokenize(distinct)))
        corpus_tokens = [list(tokens_of[t]) for t in texts]
        # bm25s cannot index an empty corpus vocabulary; a placeholder token keeps empty texts valid.
        corpus_tokens = [t or ["\x00"] for t in corpus_tokens] or [["\x00"]]
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, k1=k1, b=b)

    def scores(self, query: str, prior: TermPrior | None = None) -> np.ndarray:
        """BM25 score of `query` for every indexed text, in index order; with `prior`, by `query_idf`'s idf."""
        n = self._retriever.scores["num_docs"]
        words = [w for w in tokenize([query], self._stemmer)[0] if w in self._vocab]
        if not words:
            return np.zeros(n, dtype=np.float32)
        if prior is None or prior.weight <= 0:
            return np.asarray(self._retriever.get_scores(words), dtype=np.float32)
        # bm25s stores idf * term-frequency part per (term, text): rescale each term by its new idf.
        corpus_idf, idf = self.idf(words), self.query_idf(query, prior)
        data, indices, indptr = (self._retriever.scores[key] for key in ("data", "indices", "indptr"))
        out = np.zeros(n, dtype=np.float64)
        for term in words:
            postings = slice(indptr[self._vocab[term]], indptr[self._vocab[term] + 1])
            out[indices[postings]] += data[postings] * (idf.get(term, corpus_idf[term]) / corpus_idf[term])
        return out.astype(np.float32)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """Lucene BM25 idf of each stemmed term; a term the corpus lacks gets the idf of a unique term."""
        return {term: _lucene_idf(self._retriever.scores["num_docs"], self._chunk_count(term) or 1) for term in terms}

    def query_idf(self, query: str, prior: TermPrior | None = None) -> dict[str, float]:
        """Idf of each of the query's stemmed terms; with `prior`, each term's chunk count is shrunk
        toward what general English predicts for the query's word (see embeddings.term_prior)."""
        if prior is None or prior.weight <= 0:
            return self.idf(tokenize([query], self._stemmer)[0])
        # Each word, and each dotted identifier as a whole ("Example.Group"), which English never uses.
        words = _TOKEN.findall(query) + [w for w in _WORD.findall(query) if _PIECE_SEPARATOR.search(w)]
        rates: dict[str, float] = {}
        for word, stems in zip(words, tokenize(words, self._stemmer)):
            for term in stems:
                rates[term] = max(rates.get(term, 0.0), prior.chunk_rate(word.lower()))
        n = self._retriever.scores["num_docs"]
        return {term: _lucene_idf(n + prior.weight, self._chunk_count(term) + prior.weight * rate)
                for term, rate in rates.items()}

    def _chunk_count(self, term: str) -> int:
        """How many indexed texts hold `term`."""
        if self._df is None:
            self._df = np.diff(np.asarray(self._retriever.scores["indptr"]))
        i = self._vocab.get(term)
        return int(self._df[i]) if i is not None and i < len(self._df) else 0

    def terms(self, texts: Sequence[str]) -> list[list[str]]:
        """The stemmed, stopword-free terms of each text, as the index sees them."""
        return tokenize(texts, self._stemmer) if len(texts) else []

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder))

    @classmethod
    def load(cls, folder: Path, *, k1: float, b: float) -> "LexicalIndex":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=False), k1=k1, b=b)


def _lucene_idf(n: float, df: float) -> float:
    return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
