"""Memory-mapped BM25 postings per segment, scored over the live rows of all segments."""

import mmap
import threading

import numpy as np
import pytest

from embeddings import TermPrior
from embeddings.lexical_index import POSTINGS_FILES, LexicalIndex, Postings, TermCounts, write_postings

SUBJECTS = ["The ferry", "A red kite", "The old library", "Our cornerstone", "The asn1_der_decoding step"]
VERBS = ["was painted", "crossed", "stored", "lost", "opened"]
OBJECTS = ["blue and white", "the river twice", "rare maps", "a quiet garden", "in Johannesburg"]
QUERIES = ["ferry painted blue", "river river crossed", "der decoding", "rare maps library", "zebra",
           "the", "cornerstone garden garden garden", "kite zebra"]


def _corpus() -> list[str]:
    return [f"{SUBJECTS[i % 5]} {VERBS[(i * 2) % 5]} {OBJECTS[(i * 3) % 5]}, item {i}." + " maps" * (i % 4)
            for i in range(30)]


def _same_counts(a: TermCounts, b: TermCounts) -> None:
    """Same rows, same term counts, whatever the order of the vocabularies."""
    assert len(a) == len(b) and sorted(a.vocabulary.tolist()) == sorted(b.vocabulary.tolist())
    a_order, b_order = np.argsort(a.vocabulary), np.argsort(b.vocabulary)
    assert (a.matrix[:, a_order] != b.matrix[:, b_order]).nnz == 0


def _bm25(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Lucene BM25 written out over dense counts, independent of the index's code."""
    counts = TermCounts.of_texts(texts)
    dense, column = counts.matrix.toarray().astype(np.float64), {t: i for i, t in enumerate(counts.vocabulary)}
    n, lengths = len(texts), dense.sum(axis=1)
    out = np.zeros(n)
    for term in LexicalIndex.build(texts).terms([query])[0]:
        if term in column:
            tf = dense[:, column[term]]
            df = np.count_nonzero(tf)
            out += np.log1p((n - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b + b * lengths / lengths.mean()))
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _corpus()


def _mapped(array: np.ndarray) -> bool:
    """Whether the array's memory is a file mapping."""
    while array is not None and not isinstance(array, mmap.mmap):
        array = getattr(array, "base", None)
    return array is not None


def test_written_postings_open_memory_mapped_and_match_the_in_memory_ones(tmp_path, texts):
    counts = TermCounts.of_texts(texts)
    write_postings(tmp_path, counts)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(POSTINGS_FILES)
    opened, built = Postings.open(tmp_path), Postings.of_counts(counts)
    for array in opened.arrays():
        assert _mapped(array) == (array is not opened.hashes)  # hashes are held in memory
    assert len(opened) == len(built) == 30
    assert sorted(opened.terms.tolist()) == sorted(counts.vocabulary.tolist())
    assert np.all(opened.hashes[1:] > opened.hashes[:-1]) and len(opened.hashes) == len(opened.terms)
    for term in counts.vocabulary.tolist() + ["zebra", "", "zzzzzzzzzzzzzzzzzzzzzzzzzzzz"]:
        (rows, tf), (rows2, tf2) = opened.lookup(term), built.lookup(term)
        np.testing.assert_array_equal(rows, rows2)
        np.testing.assert_array_equal(tf, tf2)
        assert np.all(np.diff(rows) > 0)
    rows, tf = opened.lookup("map")  # " maps" * (i % 4) plus "rare maps"
    assert set(rows.tolist()) == {i for i in range(30) if i % 4 or (i * 3) % 5 == 2}
    assert tf[rows.tolist().index(7)] == 3
    assert opened.lookup("zebra")[0].shape == (0,)
    np.testing.assert_array_equal(opened.lengths, np.asarray(counts.matrix.sum(axis=1)).ravel())
    _same_counts(opened.to_counts(), counts)
    _same_counts(built.to_counts(), counts)


def test_of_parts_scores_like_bm25_over_the_live_texts(tmp_path, texts):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    write_postings(first, TermCounts.of_texts(texts[:12]))
    write_postings(second, TermCounts.of_texts(texts[12:]))
    # The second segment's rows come first in the index; some rows of each are deleted.
    deleted = {1, 4, 5, 13, 20, 29}
    live = [i for i in range(30) if i not in deleted]
    order = [i for i in live if i >= 12] + [i for i in live if i < 12]  # global row -> text
    where = {text_index: row for row, text_index in enumerate(order)}
    maps = [np.array([where.get(i, -1) for i in range(lo, hi)]) for lo, hi in ((0, 12), (12, 30))]
    index = LexicalIndex.of_parts([(Postings.open(first), maps[0]), (Postings.open(second), maps[1])])
    expected = LexicalIndex(TermCounts.of_texts([texts[i] for i in order]))
    assert len(index) == len(expected) == 24
    prior = TermPrior.of_lengths([len(texts[i]) for i in order], weight=20)
    for query in QUERIES:
        got = index.scores(query)
        assert got.dtype == np.float32 and got.shape == (24,)
        np.testing.assert_allclose(got, expected.scores(query), rtol=1e-5)
        np.testing.assert_allclose(got, _bm25([texts[i] for i in order], query), rtol=1e-5)
        np.testing.assert_allclose(index.scores(query, prior), expected.scores(query, prior), rtol=1e-5)
        assert index.query_idf(query) == pytest.approx(expected.query_idf(query), rel=1e-9)
        assert index.query_idf(query, prior) == pytest.approx(expected.query_idf(query, prior), rel=1e-9)
    terms = index.terms(["maps of the river"])[0]
    assert index.idf(terms + ["zebra"]) == pytest.approx(expected.idf(terms + ["zebra"]), rel=1e-9)
    assert index._chunk_count("kite") == sum("kite" in texts[i] for i in live)
    assert index.scores("ferry")[[where[i] for i in live if "ferry" in texts[i]]].min() > 0
    assert not np.any(index.scores("river river")[[where[i] for i in live if "river" not in texts[i]]])


def test_scores_of_the_two_halves_at_once_are_the_same_sums(texts, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from embeddings import lexical_index

    monkeypatch.setattr(lexical_index, "SPLIT_ROWS", 1)  # split even these 30 texts' rows
    parts = [Postings.of_counts(TermCounts.of_texts(texts[:12])), Postings.of_counts(TermCounts.of_texts(texts[12:]))]
    deleted = {1, 4, 13, 20}
    live = [i for i in range(30) if i not in deleted]
    maps = [np.array([live.index(i) if i in live else -1 for i in range(lo, hi)]) for lo, hi in ((0, 12), (12, 30))]
    in_order = LexicalIndex.of_parts(list(zip(parts, maps)))
    swapped = LexicalIndex.of_parts([(parts[0], np.where(maps[0] >= 0, maps[0] + 16, -1)),
                                     (parts[1], np.where(maps[1] >= 0, maps[1] - 10, -1))])
    calls = []
    with ThreadPoolExecutor(1) as pool:
        def start(fn):
            calls.append(fn)
            return pool.submit(fn).result

        for index in (in_order, swapped):
            for query in QUERIES:
                for prior in (None, TermPrior.of_lengths([len(texts[i]) for i in live], weight=20)):
                    assert np.array_equal(index.scores(query, prior, start=start), index.scores(query, prior)), query
    assert in_order._ascending and not swapped._ascending
    assert calls  # the ascending index's lower half went through `start`; the other cannot be split by rows


def test_common_terms_postings_are_kept_within_a_bound_and_score_the_same(texts, monkeypatch):
    from embeddings import lexical_index

    fresh = LexicalIndex.build(texts)
    expected = {query: fresh.scores(query) for query in QUERIES}
    monkeypatch.setattr(lexical_index, "CACHED_POSTINGS", 2)
    monkeypatch.setattr(lexical_index, "RECENT_POSTINGS", 12)
    index = LexicalIndex.build(texts)
    for _ in range(2):
        for query in QUERIES:
            assert np.array_equal(index.scores(query), expected[query])
            kept = index._recent
            assert sum(len(rows) for rows, _ in kept.values()) <= 12 or len(kept) == 1
            assert all(len(rows) >= 2 and not rows.flags.writeable for rows, _ in kept.values())
    assert index._recent  # something was kept


def test_repeated_words_count_each_time(texts):
    index = LexicalIndex.build(texts)
    np.testing.assert_allclose(index.scores("river river"), 2 * index.scores("river"), rtol=1e-6)


def test_empty_and_fully_deleted_segments(tmp_path, texts):
    empty = Postings.of_counts(TermCounts.of_texts([]))
    write_postings(tmp_path, TermCounts.of_texts([]))
    opened_empty = Postings.open(tmp_path)
    assert len(empty) == len(opened_empty) == 0 and opened_empty.lookup("ferry")[0].shape == (0,)
    gone = Postings.of_counts(TermCounts.of_texts(texts[:10]))
    kept = Postings.of_counts(TermCounts.of_texts(texts[10:]))
    index = LexicalIndex.of_parts([(empty, np.zeros(0, dtype=np.int64)), (gone, np.full(10, -1)),
                                   (opened_empty, np.zeros(0, dtype=np.int64)), (kept, np.arange(20))])
    expected = LexicalIndex.build(texts[10:])
    for query in QUERIES:
        np.testing.assert_allclose(index.scores(query), expected.scores(query), rtol=1e-5)
    nothing = LexicalIndex.of_parts([(gone, np.full(10, -1)), (empty, np.zeros(0, dtype=np.int64))])
    assert len(nothing) == 0 and nothing.scores("ferry").shape == (0,)
    assert nothing._chunk_count("ferri") == 0 and LexicalIndex.of_parts([]).scores("ferry").shape == (0,)


def test_parts_must_map_live_rows_one_to_one(texts):
    part = Postings.of_counts(TermCounts.of_texts(texts[:3]))
    with pytest.raises(ValueError):
        LexicalIndex.of_parts([(part, np.array([0, 0, 1]))])
    with pytest.raises(ValueError):
        LexicalIndex.of_parts([(part, np.array([0, 3, 1]))])
    with pytest.raises(ValueError):
        LexicalIndex.of_parts([(part, np.arange(2))])


def test_scores_from_several_threads_at_once(texts):
    index = LexicalIndex.build(texts)
    expected = {query: index.scores(query) for query in QUERIES}
    failures = []

    def work():
        for _ in range(20):
            for query in QUERIES:
                if not np.array_equal(index.scores(query), expected[query]):
                    failures.append(query)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
