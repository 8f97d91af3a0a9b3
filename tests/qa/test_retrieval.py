import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from qa.retrieval import RetrievalSettings, best_per_group, min_max, rrf_fusion, score_fusion, top_k, union_dense

scores = arrays(np.float32, st.integers(1, 40), elements=st.floats(-5, 5, width=32))


@settings(deadline=None)
@given(scores, st.integers(1, 50))
def test_top_k_matches_a_full_sort(values, k):
    expected = sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]
    assert top_k(values, k).tolist() == expected


def test_min_max_maps_to_unit_range_and_constant_to_zero():
    assert min_max(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert min_max(np.array([7.0, 7.0])).tolist() == [0.0, 0.0]


def test_score_fusion_is_the_weighted_sum_of_normalized_scores():
    dense, lexical = np.array([0.9, 0.5, 0.1]), np.array([0.0, 10.0, 5.0])
    fused = score_fusion(dense, lexical, dense_weight=0.25)
    assert fused == pytest.approx([0.25 * 1 + 0.75 * 0, 0.25 * 0.5 + 0.75 * 1, 0.25 * 0 + 0.75 * 0.5])


@settings(deadline=None)
@given(scores, st.integers(1, 100))
def test_rrf_matches_the_textbook_formula(values, k):
    other = values[::-1].copy()
    fused = rrf_fusion(values, other, k=k)

    def rank(v, i):  # 1-based, ties by index
        return sorted(range(len(v)), key=lambda j: (-v[j], j)).index(i) + 1

    expected = [1 / (k + rank(values, i)) + 1 / (k + rank(other, i)) for i in range(len(values))]
    assert fused == pytest.approx(expected, rel=1e-5)


def test_best_per_group_keeps_each_groups_maximum():
    assert best_per_group(np.array([0, 1, 0, 2]), np.array([0.1, 0.5, 0.7, 0.2])) == {0: 0.7, 1: 0.5, 2: 0.2}


def test_settings_name_the_valid_choices():
    with pytest.raises(ValueError, match="score, rrf"):
        RetrievalSettings(fusion="magic")


class CountingRows:
    """A matrix that records which rows were read from it."""

    def __init__(self, matrix):
        self.matrix, self.read = matrix, []

    def __getitem__(self, rows):
        self.read += np.asarray(rows).tolist()
        return self.matrix[rows]


def test_union_dense_reuses_the_scores_a_search_read_and_reads_only_the_rest():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50, 8)).astype(np.float32)
    query = rng.normal(size=8).astype(np.float32)
    known = np.array([40, 7, 23])
    union = np.array([2, 7, 11, 23, 40])
    rows = CountingRows(matrix)
    got = union_dense(union, known, matrix[known] @ query, rows, query)
    assert np.allclose(got, matrix[union] @ query, atol=1e-6)
    assert sorted(rows.read) == [2, 11]
    nothing_known = CountingRows(matrix)
    assert np.array_equal(union_dense(union, known[:0], np.zeros(0), nothing_known, query), matrix[union] @ query)
    assert sorted(nothing_known.read) == union.tolist()
