"""BM25 scores and idf, with and without the general-English prior on term counts."""

import numpy as np
import pytest

from embeddings import LexicalIndex, TermPrior
from qa import RetrievalSettings

TINY = [
    "They get what they need in an open cyberspace.",
    "Cybersecurity is a cornerstone of national security.",
    "Developing countries should be heard.",
    "The meeting was held in Johannesburg.",
]


def test_chunk_rate_follows_english_frequency():
    prior = TermPrior(chunk_words=120)
    assert prior.chunk_rate("what") > prior.chunk_rate("national") > prior.chunk_rate("cornerstone") > 0
    assert prior.chunk_rate("zqxwvy") == 0.0  # a word general English never uses predicts no chunk
    assert TermPrior(chunk_words=400).chunk_rate("national") > prior.chunk_rate("national")


def test_prior_chunk_length_comes_from_the_texts():
    assert TermPrior.of_texts(["x" * 600, "x" * 1200]).chunk_words == pytest.approx(150)
    assert TermPrior.of_texts([]).chunk_words == 1.0


def test_in_a_tiny_corpus_the_prior_tells_function_words_from_content_words():
    lexical = LexicalIndex.build(TINY)
    plain = lexical.query_idf("What is the cornerstone?")
    assert plain["what"] == pytest.approx(plain["cornerston"])  # each in one of four chunks
    weighted = lexical.query_idf("What is the cornerstone?", TermPrior(chunk_words=120))
    assert weighted["cornerston"] > 2 * weighted["what"]
    assert set(weighted) == set(plain)


def test_a_large_corpus_outweighs_the_prior():
    texts = [f"{'what' if i % 10 == 0 else 'this'} record says about item{i}" for i in range(3000)]
    texts += ["the cornerstone"] * 30
    lexical = LexicalIndex.build(texts)
    plain = lexical.query_idf("what cornerstone")
    weighted = lexical.query_idf("what cornerstone", TermPrior(chunk_words=6))
    for term in plain:
        assert weighted[term] == pytest.approx(plain[term], rel=0.1)


def test_scores_rank_by_the_weighted_idf():
    lexical = LexicalIndex.build(TINY)
    question = "what cornerstone"
    plain = lexical.scores(question)
    assert plain[0] == pytest.approx(plain[1], rel=0.2)  # one matching term each, like idf
    weighted = lexical.scores(question, TermPrior(chunk_words=120))
    assert weighted[1] > 2 * weighted[0]
    assert np.all(weighted[2:] == 0)
    np.testing.assert_allclose(lexical.scores(question, TermPrior(chunk_words=120, weight=0)), plain)


def test_a_question_without_indexed_terms_scores_zero():
    lexical = LexicalIndex.build(TINY)
    assert not lexical.scores("zebra giraffe", TermPrior(chunk_words=120)).any()


def test_term_prior_must_not_be_negative():
    with pytest.raises(ValueError, match="term_prior"):
        RetrievalSettings(term_prior=-1)
