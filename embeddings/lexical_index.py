"""BM25 over chunk texts: bm25s's tokenizer (English stopwords, Snowball stemming), term counts per segment
and their memory-mappable postings, scored at query time over the live rows of all segments."""

from __future__ import annotations

import collections
import functools
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from embeddings.term_prior import TermPrior
from embeddings.terms import PIECE_SEPARATOR, TOKEN, WORD, english_stemmer, tokenize

if TYPE_CHECKING:  # scipy is imported where first used: `show`, `--help` and `index` of an unchanged folder skip it
    from scipy import sparse

K1, B = 1.2, 0.75  # BM25's defaults (Lucene's and bm25s')
SPLIT_ROWS = 100_000  # from this many rows, `scores` may score its two halves at once
# Terms held by this many rows have their gathered postings kept, the most recent first, up to
# RECENT_POSTINGS postings in all (8 bytes each: 32 MB).
CACHED_POSTINGS = 10_000
RECENT_POSTINGS = 4_000_000


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


POSTINGS_FILES = ["postings_terms.npy", "postings_hashes.npy", "postings_ptr.npy", "postings_rows.npy",
                  "postings_tf.npy", "postings_lengths.npy"]


def term_hashes(terms: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each term (BLAKE2b), the same in every process: what postings are looked up
    by. Two of a segment's terms sharing one is a chance of about n² / 2⁶⁴ (1e-11 for 16,000 terms)."""
    return np.array([int.from_bytes(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                                    "little") for t in terms], dtype=np.uint64)


def write_postings(folder: Path, counts: TermCounts) -> None:
    """Write `counts` term-major into `folder` as plain .npy files (see `POSTINGS_FILES`), which
    `Postings.open` memory-maps (but the term hashes), so that an open index keeps its postings on disk."""
    postings = Postings.of_counts(counts)
    for name, array in zip(POSTINGS_FILES, postings.arrays()):
        with open(Path(folder) / name, "wb") as f:  # a file object keeps numpy from renaming the path
            np.save(f, array)


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # older numpy cannot memory-map an empty array
        return np.load(path, allow_pickle=False)


@dataclass(frozen=True, eq=False)
class Postings:
    """One segment's term counts, term-major: for the `i`th of `terms`, ordered by their `hashes`, the
    rows holding it are `rows[ptr[i]:ptr[i+1]]` (ascending) with their counts in `tf`; `lengths` is
    each row's term count. Looking a term up reads its hash's place in memory, not the term strings
    (a binary search over memory-mapped strings would fault in most of every segment's vocabulary)."""

    terms: np.ndarray  # str, in hash order
    hashes: np.ndarray  # uint64, sorted, in memory
    ptr: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32, the segment's own row numbers
    tf: np.ndarray  # int32
    lengths: np.ndarray  # int32, one per row

    def __len__(self) -> int:
        return len(self.lengths)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The arrays, in the order of `POSTINGS_FILES`."""
        return self.terms, self.hashes, self.ptr, self.rows, self.tf, self.lengths

    @classmethod
    def open(cls, folder: Path) -> "Postings":
        """The postings `write_postings` wrote into `folder`, memory-mapped (read-only), but the hashes."""
        # Plain views of the maps: slicing a np.memmap costs a Python-level hook per slice.
        arrays = [np.asarray(_load(Path(folder) / name)) for name in POSTINGS_FILES]
        arrays[1] = np.array(arrays[1])
        return cls(*arrays)

    @classmethod
    def of_counts(cls, counts: TermCounts) -> "Postings":
        """The same postings built in memory, for a segment that only has its `TermCounts`."""
        by_term = counts.matrix.tocsc(copy=True)  # a counting sort: rows come out ascending within each term
        by_term.sum_duplicates()
        by_term.eliminate_zeros()
        lengths = np.asarray(by_term.sum(axis=1), dtype=np.int64).ravel().astype(np.int32)
        used = np.flatnonzero(np.diff(by_term.indptr))  # terms some row holds
        vocabulary = np.asarray(counts.vocabulary, dtype=str)[used]
        hashes = term_hashes(vocabulary.tolist())
        by_hash = np.argsort(hashes, kind="stable")
        by_term = by_term[:, used[by_hash]]
        return cls(vocabulary[by_hash], hashes[by_hash], by_term.indptr.astype(np.int64),
                   by_term.indices.astype(np.int32), by_term.data.astype(np.int32), lengths)

    def lookup(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding `term` and how often each does; empty arrays if none does."""
        return self.lookup_hash(term_hashes([term])[0])

    def lookup_hash(self, h: np.uint64) -> tuple[np.ndarray, np.ndarray]:
        """`lookup` of the term whose `term_hashes` value is `h` (hashed once for all segments)."""
        i = int(np.searchsorted(self.hashes, h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return self.at(i)
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)

    def at(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding the `i`th term (in hash order) and how often each does."""
        postings = slice(int(self.ptr[i]), int(self.ptr[i + 1]))
        return self.rows[postings], self.tf[postings]

    def to_counts(self) -> TermCounts:
        """Back to per-row `TermCounts` (the same rows), for merging segments."""
        from scipy import sparse

        by_term = sparse.csc_matrix((np.asarray(self.tf), np.asarray(self.rows), np.asarray(self.ptr)),
                                    shape=(len(self), len(self.terms)))
        return TermCounts(np.array(self.terms, dtype=str), by_term.tocsr().astype(np.int32))


class LexicalIndex:
    """BM25 (Lucene variant, as bm25s computes it) scores of a query against every live text.

    bm25s tokenizes; the scores are computed here at query time from each segment's raw postings, with
    corpus-wide n, document frequency and average length over the live rows of all segments (as Lucene
    does), so that the postings can stay memory-mapped and deleted rows cost no rewrite.
    """

    def __init__(self, counts: TermCounts, *, k1: float = K1, b: float = B) -> None:
        """One in-memory segment, every row live and in its own order."""
        self._setup([(Postings.of_counts(counts), np.arange(len(counts)))], k1, b)

    @classmethod
    def of_parts(cls, parts: Sequence[tuple[Postings, np.ndarray]], *, k1: float = K1,
                 b: float = B) -> "LexicalIndex":
        """An index over segments: each part maps its segment's rows to rows 0..n-1 of the index, or to
        -1 for a deleted row, which then counts for nothing and scores nothing."""
        index = cls.__new__(cls)
        index._setup(parts, k1, b)
        return index

    def _setup(self, parts: Sequence[tuple[Postings, np.ndarray]], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self._local = threading.local()  # a stemmer per thread: a Stemmer must not be used concurrently
        mappings = [np.asarray(to_global, dtype=np.int64) for _, to_global in parts]
        for (postings, _), to_global in zip(parts, mappings):
            if to_global.shape != (len(postings),):
                raise ValueError(f"a part maps {to_global.shape} rows, its postings have {len(postings)}")
        self._n = n = sum(int(np.count_nonzero(g >= 0)) for g in mappings)
        lengths = np.zeros(n, dtype=np.float32)  # exact: a row holds fewer than 2**24 terms
        placed = np.zeros(n, dtype=bool)
        # (postings, local row -> index row or None where that is local row + shift, whether every
        # row is live, shift): a build's segments are shifted ranges, so most parts need no gather.
        self._parts: list[tuple[Postings, np.ndarray | None, bool, int]] = []
        for (postings, _), to_global in zip(parts, mappings):
            live = to_global >= 0
            shift = int(to_global[0]) if len(to_global) else 0
            shifted = shift >= 0 and bool(np.array_equal(to_global, np.arange(shift, shift + len(to_global))))
            self._parts.append((postings, None if shifted else to_global.astype(np.int32), bool(live.all()), shift))
            where = to_global[live]
            if len(where) and where.max() >= n:
                raise ValueError(f"a live row maps past the index's {n} rows")
            placed[where] = True
            lengths[where] = np.asarray(postings.lengths)[live]
        if not placed.all():  # n live rows over 0..n-1 leave a gap only if two map to the same row
            raise ValueError(f"the parts' live rows must map one to one onto 0..{n - 1}")
        # Whether a term's postings, gathered part by part, come out in ascending index rows (as
        # segments map them: in order, each onto rows after the last's), so that a range of rows
        # is a slice of them.
        spans = [(int(g[g >= 0][0]), int(g[g >= 0][-1])) for g in mappings if np.any(g >= 0)]
        self._ascending = (all(bool(np.all(np.diff(g[g >= 0]) > 0)) for g in mappings)
                           and all(a[1] < b[0] for a, b in zip(spans, spans[1:])))
        average = float(lengths.mean(dtype=np.float64)) if n else 0.0
        average = average if average > 0 else 1.0
        # Each row's BM25 length normalisation k1 (1 - b + b len / average), kept instead of its length:
        # the same 4 bytes a row, and a query then spends one gather on it.
        self._norm = (k1 * (1 - b + b * lengths.astype(np.float64) / average)).astype(np.float32)
        self._df = functools.lru_cache(maxsize=4096)(self._count_live)  # bounded; lru_cache is thread-safe
        # The gathered postings of the most recently asked common terms (a question's words recur across
        # questions: "patients", "colonies"): read once from every segment, then reused, up to a bound.
        self._recent: collections.OrderedDict[str, tuple[np.ndarray, np.ndarray]] = collections.OrderedDict()
        self._recent_lock = threading.Lock()
        # Every part's term hashes in one sorted table (hash, part, where its postings start, how many),
        # so that a query term is looked up once, not once per segment (~290 at a million chunks),
        # and its postings are sliced without reading each segment's pointers: ~20 bytes a segment's term.
        hashes = [np.asarray(postings.hashes) for postings, *_ in self._parts]
        pointers = [np.asarray(postings.ptr) for postings, *_ in self._parts]
        sizes = np.array([len(h) for h in hashes], dtype=np.int64)
        every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        order = np.argsort(every, kind="stable")  # equal hashes (one term in many parts) stay in part order
        self._hashes = every[order]
        self._hash_part = np.repeat(np.arange(len(hashes), dtype=np.int32), sizes)[order]
        starts = [p[:-1] for p in pointers if len(p)]
        starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        narrow = max((int(p[-1]) for p in pointers if len(p)), default=0) < 2**31  # every segment's postings fit int32
        self._hash_start = starts[order].astype(np.int32 if narrow else np.int64)
        counts = [np.diff(p) for p in pointers if len(p)]
        self._hash_count = (np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64))[order].astype(np.int32)
        self._shifts = np.array([shift for *_, shift in self._parts], dtype=np.int64)
        # Parts whose rows are their segment's rows shifted, all live: their postings need no gather.
        self._plain = np.array([to_global is None and all_live for _, to_global, all_live, _ in self._parts], dtype=bool)
        self._all_live = np.array([all_live for _, _, all_live, _ in self._parts], dtype=bool)
        self._rows_of = [postings.rows for postings, *_ in self._parts]
        self._tf_of = [postings.tf for postings, *_ in self._parts]

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = K1, b: float = B) -> "LexicalIndex":
        return cls(TermCounts.of_texts(texts), k1=k1, b=b)

    def __len__(self) -> int:
        return self._n

    @property
    def _stemmer(self):
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = english_stemmer()
        return stemmer

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live postings of `term` across all parts: index rows and their term counts."""
        with self._recent_lock:
            if term in self._recent:
                self._recent.move_to_end(term)
                return self._recent[term]
        found = self._gather(term)
        if len(found[0]) >= CACHED_POSTINGS:  # only terms whose gathering costs more than a lookup
            for array in found:
                array.flags.writeable = False  # shared by every later query
            with self._recent_lock:
                self._recent[term] = found
                held = sum(len(rows) for rows, _ in self._recent.values())
                while held > RECENT_POSTINGS and len(self._recent) > 1:
                    held -= len(self._recent.popitem(last=False)[1][0])
        return found

    def _gather(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """`_postings`, read from every part holding `term`."""
        parts, starts, counts = self._holding(term)
        if not len(parts):
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        stops = (starts + counts).tolist()
        which = parts.tolist()
        rows_of, tf_of = self._rows_of, self._tf_of
        rows = [rows_of[p][a:b] for p, a, b in zip(which, starts.tolist(), stops)]
        tf = [tf_of[p][a:b] for p, a, b in zip(which, starts.tolist(), stops)]
        if self._plain[parts].all():  # one addition for every part's shift, not an array per part
            where = np.concatenate(rows) if len(rows) > 1 else np.array(rows[0])
            where += np.repeat(self._shifts[parts].astype(where.dtype), counts)
            return where, (np.concatenate(tf) if len(tf) > 1 else tf[0])
        for i, p in enumerate(which):
            _, to_global, all_live, shift = self._parts[p]
            if to_global is None:
                rows[i] = rows[i] + np.int32(shift) if shift else rows[i]
            else:
                rows[i] = to_global[rows[i]]
                if not all_live:
                    live = rows[i] >= 0
                    rows[i], tf[i] = rows[i][live], tf[i][live]
        return np.concatenate(rows), np.concatenate(tf)

    def _holding(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The parts holding `term`, in part order: (part, where its postings start, how many)."""
        h = term_hashes([term])[0]
        first, last = np.searchsorted(self._hashes, h, "left"), np.searchsorted(self._hashes, h, "right")
        return self._hash_part[first:last], self._hash_start[first:last], self._hash_count[first:last]

    def _count_live(self, term: str) -> int:
        """How many live rows hold `term` (cached by `_df`: counting needs no weights)."""
        parts, starts, counts = self._holding(term)
        if self._all_live[parts].all():
            return int(counts.sum())
        total = 0
        for p, a, c in zip(parts.tolist(), starts.tolist(), counts.tolist()):
            postings, to_global, all_live, _ = self._parts[p]
            total += c if all_live else int(np.count_nonzero(to_global[postings.rows[a:a + c]] >= 0))
        return total

    def scores(self, query: str, prior: TermPrior | None = None, *,
               start: Callable[[Callable[[], np.ndarray]], Callable[[], np.ndarray]] | None = None) -> np.ndarray:
        """BM25 score of `query` for every indexed text, in index order; with `prior`, by `query_idf`'s idf.

        With `start` (e.g. `qa.side_thread.SideThread.start`), a large index's lower rows are
        scored through it while this thread scores the upper ones: the same sums, in half the time.
        """
        words = tokenize([query], self._stemmer)[0]
        found = {term: self._postings(term) for term in dict.fromkeys(words)}
        found = {term: postings for term, postings in found.items() if len(postings[0])}
        if not found:
            return np.zeros(self._n, dtype=np.float32)
        rescale = prior is not None and prior.weight > 0
        prior_idf = self.query_idf(query, prior) if rescale else {}
        weigh = {}
        for term, (rows, _) in found.items():
            corpus_idf = _lucene_idf(self._n, len(rows))
            factor = prior_idf.get(term, corpus_idf) / corpus_idf if rescale else 1.0
            weigh[term] = (np.float32(np.log1p((self._n - len(rows) + 0.5) / (len(rows) + 0.5))), factor)
        used = [term for term in words if term in found]
        if start is None or self._n < SPLIT_ROWS or not self._ascending:
            return self._sum(used, found, weigh, 0, self._n)
        middle = self._n // 2
        lower = start(lambda: self._sum(used, found, weigh, 0, middle))
        upper = self._sum(used, found, weigh, middle, self._n)
        return np.concatenate([lower(), upper])

    def _sum(self, used: list[str], found: dict, weigh: dict, first: int, last: int) -> np.ndarray:
        """The scores of rows first..last-1: every term's weights summed in one pass, in query order
        (a repeated word counts each time, as in bm25s), as one `+=` per term would add them."""
        rows, weights, done = [], [], {}
        for term in used:
            if term not in done:
                where, tf = found[term]
                if (first, last) != (0, self._n):  # a term's rows ascend (`_ascending`)
                    a, b = np.searchsorted(where, [first, last]).tolist()
                    where, tf = where[a:b], tf[a:b]
                tf = tf.astype(np.float32)
                w = self._norm[where]
                w += tf
                np.divide(tf, w, out=w)  # tf / (tf + k1 (1 - b + b len / average)), in float32 as bm25s
                idf, factor = weigh[term]
                w *= idf
                done[term] = (where - first if first else where, w * factor if factor != 1.0 else w)
            rows.append(done[term][0])
            weights.append(done[term][1])
        return np.bincount(np.concatenate(rows), weights=np.concatenate(weights),
                           minlength=last - first).astype(np.float32)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """Lucene BM25 idf of each stemmed term; a term the corpus lacks gets the idf of a unique term."""
        return {term: _lucene_idf(self._n, self._chunk_count(term) or 1) for term in terms}

    def query_idf(self, query: str, prior: TermPrior | None = None) -> dict[str, float]:
        """Idf of each of the query's stemmed terms; with `prior`, each term's chunk count is shrunk
        toward what general English predicts for the query's word (see embeddings.term_prior)."""
        if prior is None or prior.weight <= 0:
            return self.idf(tokenize([query], self._stemmer)[0])
        # Each word, and each dotted identifier as a whole ("Example.Group"), which English never uses.
        words = TOKEN.findall(query) + [w for w in WORD.findall(query) if PIECE_SEPARATOR.search(w)]
        rates: dict[str, float] = {}
        for word, stems in zip(words, tokenize(words, self._stemmer)):
            for term in stems:
                rates[term] = max(rates.get(term, 0.0), prior.chunk_rate(word.lower()))
        return {term: _lucene_idf(self._n + prior.weight, self._chunk_count(term) + prior.weight * rate)
                for term, rate in rates.items()}

    def _chunk_count(self, term: str) -> int:
        """How many live indexed texts hold `term`."""
        return self._df(term)

    def terms(self, texts: Sequence[str]) -> list[list[str]]:
        """The stemmed, stopword-free terms of each text, as the index sees them."""
        return tokenize(texts, self._stemmer) if len(texts) else []


def _lucene_idf(n: float, df: float) -> float:
    return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
