"""BM25 scores and idf, with and without the general-English prior on term counts."""

import math

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


# Words that no stopword list drops and stemming maps one to one; lengths 3, 2, 4 and 1 terms.
FRUIT = ["apple apple banana", "banana cherry", "cherry cherry cherry date", "elder"]
COUNTS = [{"apple": 2, "banana": 1}, {"banana": 1, "cherry": 1}, {"cherry": 3, "date": 1}, {"elder": 1}]


def hand_bm25(query_words, idf, k1=1.2, b=0.75):
    """Lucene BM25 written out: sum over query words of idf * tf / (tf + k1 * (1 - b + b * len / avg len))."""
    lengths = [sum(c.values()) for c in COUNTS]
    avg = sum(lengths) / len(lengths)
    return np.array([sum(idf[w] * c.get(w, 0) / (c.get(w, 0) + k1 * (1 - b + b * n / avg)) for w in query_words)
                     for c, n in zip(COUNTS, lengths)])


def lucene_idf(n, df):
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def test_scores_are_bm25_by_hand():
    lexical = LexicalIndex.build(FRUIT)
    words = ["apple", "cherry", "date"]
    idf = {w: lucene_idf(4, sum(w in c for c in COUNTS)) for w in words}
    np.testing.assert_allclose(lexical.scores("apple cherry date"), hand_bm25(words, idf), rtol=1e-5)
    np.testing.assert_allclose(lexical.scores("apple cherry date", TermPrior(chunk_words=5, weight=0)),
                               hand_bm25(words, idf), rtol=1e-5)


def test_rescaled_scores_are_bm25_by_hand_with_the_prior_idf():
    from wordfreq import word_frequency

    lexical = LexicalIndex.build(FRUIT)
    words, chunk_words, weight = ["apple", "cherry", "date"], 5.0, 100.0
    # each word's chunk count gains `weight` chunks holding it at its English rate
    rate = {w: 1 - math.exp(-chunk_words * word_frequency(w, "en")) for w in words}
    idf = {w: lucene_idf(4 + weight, sum(w in c for c in COUNTS) + weight * rate[w]) for w in words}
    scores = lexical.scores("apple cherry date", TermPrior(chunk_words=chunk_words, weight=weight))
    np.testing.assert_allclose(scores, hand_bm25(words, idf), rtol=1e-5)
    assert not np.allclose(scores, lexical.scores("apple cherry date"), rtol=1e-2)  # the prior changed them
    # a vanishing prior leaves the corpus's own BM25
    corpus_idf = {w: lucene_idf(4, sum(w in c for c in COUNTS)) for w in words}
    np.testing.assert_allclose(lexical.scores("apple cherry date", TermPrior(chunk_words=chunk_words, weight=1e-9)),
                               hand_bm25(words, corpus_idf), rtol=1e-5)


def test_a_question_without_indexed_terms_scores_zero():
    lexical = LexicalIndex.build(TINY)
    assert not lexical.scores("zebra giraffe", TermPrior(chunk_words=120)).any()


def test_term_prior_must_not_be_negative():
    with pytest.raises(ValueError, match="term_prior"):
        RetrievalSettings(term_prior=-1)


IDENTIFIERS = [
    "The function asn1_der_decoding fills the structure from DER data.",
    "Decoding is the reverse of encoding, in general.",
    "Set PRAGMA journal_mode to WAL for concurrent readers.",
    "Call sqlite3_open_v2 with the flags; asn1Decoding is the command line tool.",
    "A journal keeps the mode of the hive inspection notes.",
]


def test_an_identifier_matches_whole_and_by_part():
    lexical = LexicalIndex.build(IDENTIFIERS)
    for query, best in (("asn1_der_decoding", 0), ("der decoding", 0), ("PRAGMA journal_mode", 2),
                        ("journal_mode", 2), ("sqlite3_open_v2", 3), ("open v2", 3), ("asn1Decoding", 3)):
        for prior in (None, TermPrior(chunk_words=12)):
            scores = lexical.scores(query, prior)
            assert int(np.argmax(scores)) == best, (query, prior, scores)
    assert lexical.scores("journal mode")[2] > 0  # the parts of journal_mode


def test_identifier_parts_add_to_the_whole_and_plain_words_are_unchanged():
    import bm25s

    from embeddings.terms import identifier_terms, tokenize

    assert identifier_terms("asn1_der_decoding") == ["asn1", "der", "decoding"]
    assert identifier_terms("Example.Group.id") == ["Example_Group_id"]
    assert identifier_terms("std::vector") == ["std_vector"]
    assert identifier_terms("XMLHttpRequest") == ["XML", "Http", "Request"]
    for plain in ("hive", "IDs", "e.g", "U.S", "__init__"):
        assert identifier_terms(plain) == []
    text = "The bees swarm in May, e.g. on a warm day; IDs and U.S. hives too."
    assert tokenize([text]) == bm25s.tokenize([text], stopwords="en", stemmer=_english_stemmer(),
                                              return_ids=False, show_progress=False)


def _english_stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def test_identifier_terms_of_a_text_are_those_of_its_words():
    """The one-pass search for identifiers finds what asking every word would."""
    import random
    import re

    from embeddings.terms import _with_identifier_terms, identifier_terms

    word = re.compile(r"\w+(?:(?:\.|::|->)\w+)*")
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(rng.choice("aB_.:->x1 Z") for _ in range(rng.randint(1, 50)))
        added = [t for w in word.findall(text) for t in identifier_terms(w)]
        assert _with_identifier_terms(text) == (f"{text} {' '.join(added)}" if added else text), text
