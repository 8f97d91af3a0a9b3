"""BM25 over chunk texts: bm25s's tokenizer (English stopwords, Snowball stemming), term counts per segment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embeddings.term_prior import TermPrior

if TYPE_CHECKING:  # scipy is imported where first used: `show`, `--help` and `index` of an unchanged folder skip it
    from scipy import sparse

K1, B = 1.2, 0.75  # BM25's defaults (Lucene's and bm25s')
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


@dataclass(frozen=True)
class TermCounts:
    """How often each term occurs in each text: a (texts x terms) sparse matrix and its vocabulary.

    A segment keeps its own; counts, unlike BM25 weights, add up across segments, so the index's
    BM25 is computed from all live texts together, with corpus-wide idf and average length.
    """

    vocabulary: np.ndarray  # str, one per column
    matrix: sparse.csr_matrix

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @classmethod
    def of_texts(cls, texts: Sequence[str]) -> "TermCounts":
        from scipy import sparse

        distinct = list(dict.fromkeys(texts))  # repeated texts (duplicate files, boilerplate) tokenized once
        vocab: dict[str, int] = {}
        ids = [np.array([vocab.setdefault(t, len(vocab)) for t in tokens], dtype=np.int64)
               for tokens in tokenize(distinct)]
        which = {text: i for i, text in enumerate(distinct)}
        per_text = [ids[which[t]] for t in texts]
        rows = np.repeat(np.arange(len(texts)), [len(i) for i in per_text])
        cols = np.concatenate(per_text) if per_text else np.zeros(0, dtype=np.int64)
        matrix = sparse.csr_matrix((np.ones(len(cols), dtype=np.int32), (rows, cols)),
                                   shape=(len(texts), len(vocab)), dtype=np.int32)
        matrix.sum_duplicates()
        return cls(np.array(list(vocab), dtype=str), matrix)

    def rows(self, keep: np.ndarray) -> "TermCounts":
        """These rows only (a boolean mask or row numbers), in that order."""
        return TermCounts(self.vocabulary, self.matrix[keep])

    @classmethod
    def stack(cls, parts: Sequence["TermCounts"]) -> "TermCounts":
        """The rows of all `parts`, in order, over the union of their vocabularies."""
        from scipy import sparse

        if len(parts) == 1:
            return parts[0]
        vocab: dict[str, int] = {}
        blocks = []
        for part in parts:
            columns = np.array([vocab.setdefault(t, len(vocab)) for t in part.vocabulary.tolist()], dtype=np.int64)
            m = part.matrix
            blocks.append((m.data, columns[m.indices] if len(columns) else m.indices, m.indptr, m.shape[0]))
        matrices = [sparse.csr_matrix((data, indices, indptr), shape=(n, len(vocab)))
                    for data, indices, indptr, n in blocks]
        matrix = sparse.vstack(matrices, format="csr") if matrices else sparse.csr_matrix((0, 0), dtype=np.int32)
        return cls(np.array(list(vocab), dtype=str), matrix.astype(np.int32))

    def save(self, path: Path) -> None:
        m = self.matrix
        with open(path, "wb") as f:  # a file object keeps numpy from renaming the path
            np.savez(f, vocabulary=self.vocabulary, data=m.data, indices=m.indices, indptr=m.indptr,
                     shape=np.array(m.shape, dtype=np.int64))

    @classmethod
    def load(cls, path: Path) -> "TermCounts":
        from scipy import sparse

        with np.load(path, allow_pickle=False) as z:
            matrix = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(z["vocabulary"], matrix)


class LexicalIndex:
    """BM25 (Lucene variant, as bm25s computes it) scores of a query against every text.

    bm25s tokenizes; the weights are computed here from `TermCounts`, because bm25s indexes one
    corpus at a time and an index of segments needs corpus-wide statistics over all of them.
    """

    def __init__(self, counts: TermCounts, *, k1: float = K1, b: float = B) -> None:
        from scipy import sparse

        self.k1, self.b = k1, b
        self._vocab = {t: i for i, t in enumerate(counts.vocabulary.tolist())}
        self._stemmer = _stemmer()
        m = counts.matrix
        n, terms = m.shape
        self._n = n
        self._df = np.bincount(m.indices, minlength=terms)
        lengths = np.asarray(m.sum(axis=1), dtype=np.float64).ravel()
        average = lengths.mean() if n and lengths.mean() > 0 else 1.0
        idf = np.log1p((n - self._df + 0.5) / (self._df + 0.5)).astype(np.float32)
        # Computed in place in float32, one posting-sized array at a time: on a million chunks each is ~0.4 GB.
        tf = m.data.astype(np.float32)
        weights = np.repeat((k1 * (1 - b + b * lengths / average)).astype(np.float32), np.diff(m.indptr))
        weights += tf
        np.divide(tf, weights, out=weights)
        del tf
        weights *= idf[m.indices]
        # term-major (CSC) so that a query reads each of its terms' postings in one slice
        by_term = sparse.csr_matrix((weights, m.indices, m.indptr), shape=m.shape, copy=False)
        del weights
        by_term = by_term.tocsc()
        self._data, self._indices, self._indptr = by_term.data, by_term.indices, by_term.indptr

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = K1, b: float = B) -> "LexicalIndex":
        return cls(TermCounts.of_texts(texts), k1=k1, b=b)

    def __len__(self) -> int:
        return self._n

    def scores(self, query: str, prior: TermPrior | None = None) -> np.ndarray:
        """BM25 score of `query` for every indexed text, in index order; with `prior`, by `query_idf`'s idf."""
        words = [w for w in tokenize([query], self._stemmer)[0] if w in self._vocab]
        out = np.zeros(self._n, dtype=np.float64)
        if not words:
            return out.astype(np.float32)
        rescale = prior is not None and prior.weight > 0
        corpus_idf, idf = (self.idf(words), self.query_idf(query, prior)) if rescale else ({}, {})
        for term in words:  # a repeated query word counts each time, as in bm25s
            column = self._vocab[term]
            postings = slice(self._indptr[column], self._indptr[column + 1])
            factor = idf.get(term, corpus_idf[term]) / corpus_idf[term] if rescale else 1.0
            out[self._indices[postings]] += self._data[postings] * factor
        return out.astype(np.float32)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """Lucene BM25 idf of each stemmed term; a term the corpus lacks gets the idf of a unique term."""
        return {term: _lucene_idf(self._n, self._chunk_count(term) or 1) for term in terms}

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
        return {term: _lucene_idf(self._n + prior.weight, self._chunk_count(term) + prior.weight * rate)
                for term, rate in rates.items()}

    def _chunk_count(self, term: str) -> int:
        """How many indexed texts hold `term`."""
        i = self._vocab.get(term)
        return int(self._df[i]) if i is not None else 0

    def terms(self, texts: Sequence[str]) -> list[list[str]]:
        """The stemmed, stopword-free terms of each text, as the index sees them."""
        return tokenize(texts, self._stemmer) if len(texts) else []


def _lucene_idf(n: float, df: float) -> float:
    return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
