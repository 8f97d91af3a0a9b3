"""Window vectors: the clause of a long sentence that a question is about, pooled from one forward pass."""

import numpy as np
import pytest

from embeddings import WINDOW_TOKENS, window_vectors

LONG_SENTENCE = (
    "The committee met on Tuesday in the old town hall to discuss the annual budget, the repair of the "
    "north bridge and the new parking rules, and after a long debate it agreed that the village bakery "
    "on Elm Street will sell sourdough bread every Saturday morning from eight o'clock.")


def test_a_text_that_fits_in_one_window_has_none():
    assert window_vectors(np.ones((WINDOW_TOKENS, 4))).shape == (0, 4)
    assert window_vectors(np.ones((3, 4)), size=8).shape == (0, 4)


@pytest.mark.parametrize("n", [9, 12, 13, 20, 31])
def test_windows_overlap_by_half_cover_every_token_and_are_unit_means(n):
    rng = np.random.default_rng(n)
    tokens = rng.normal(size=(n, 5))
    got = window_vectors(tokens, size=8)
    starts = list(range(0, n - 4, 4))
    expected = [tokens[s:min(s + 8, n)].mean(axis=0) for s in starts]
    expected = np.array([v / np.linalg.norm(v) for v in expected])
    assert got.shape == expected.shape
    assert np.allclose(got, expected, atol=1e-6)
    assert starts[-1] + 8 >= n  # the last window reaches the text's end


def test_windows_pack_into_one_array_with_offsets():
    from embeddings.segments import pack_windows

    rng = np.random.default_rng(0)
    windows = [rng.normal(size=(k, 6)).astype(np.float32) for k in (0, 3, 0, 1)]
    vectors, offsets = pack_windows(windows, 6)
    assert offsets.tolist() == [0, 0, 3, 3, 4] and vectors.dtype == np.float16
    for i, w in enumerate(windows):
        assert np.allclose(vectors[offsets[i]:offsets[i + 1]], w, atol=1e-2)  # stored as float16


def test_encode_windows_gives_the_same_vectors_as_encode(encoder):
    texts = ["a bee", LONG_SENTENCE, "Mitochondria are the powerhouse of the cell. " * 40]
    vectors, windows = encoder.encode_windows(texts)
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)
    assert [len(w) for w in windows][0] == 0
    assert len(windows[1]) >= 2 and len(windows[2]) > len(windows[1])
    assert all(np.allclose(np.linalg.norm(w, axis=1), 1.0, atol=1e-5) for w in windows if len(w))


def test_a_window_matches_a_question_about_one_clause_better_than_the_whole_sentence(encoder):
    vectors, windows = encoder.encode_windows([LONG_SENTENCE])
    query = encoder.encode_query("When does the bakery sell sourdough bread?")
    assert float((windows[0] @ query).max()) > float(vectors[0] @ query) + 0.05
