"""The reader (cross-encoder) and its head: what it reads, how its scores combine, and the shipped model."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.answers import Network
from qa.errors import AnswerModelError
from qa.reader import (HEAD_CONFIDENCE_FEATURES, HEAD_FEATURES, READER_DIR, Reader, ReaderHead, default_reader,
                       head_confidence_features, head_features, missing_numbers, reader_text)


def logistic(weights, bias=0.0) -> Network:
    n = len(weights)
    return Network(np.zeros(n), np.ones(n), ((np.asarray(weights, dtype=float).reshape(n, 1), np.array([bias])),))


def test_reader_text_puts_the_title_line_before_the_sentence():
    text = "First sentence here. The hive holds 20 frames."
    assert reader_text("Hive  anatomy", text, 21, len(text)) == "Hive anatomy\nThe hive holds 20 frames."
    assert reader_text("", text, 0, 20) == "First sentence here."


def test_reader_text_reads_a_table_row_under_its_header():
    text = "| Day | Stage |\n| --- | --- |\n| 16 | queen emerges |\n"
    start = text.index("| 16")
    end = text.index("\n", start)
    assert reader_text("The colony", text, start, end) == "The colony\n| Day | Stage |\n| 16 | queen emerges |"


def test_head_features_are_reader_logit_scorer_log_odds_coverage_and_missing_numbers():
    x = head_features(np.array([2.0, -1.0]), np.array([0.5, 0.9]), np.array([0.3, 1.0]), np.array([0, 2]))
    assert x.shape == (2, len(HEAD_FEATURES))
    assert x[:, 0].tolist() == [2.0, -1.0]
    assert x[0, 1] == pytest.approx(0.0)
    assert x[1, 1] == pytest.approx(np.log(9.0))
    assert x[:, 2].tolist() == [0.3, 1.0] and x[:, 3].tolist() == [0, 2]


def test_missing_numbers_compares_digit_runs():
    context = "In the 2023\u20132024 winter survey the club lost 14 colonies."
    assert missing_numbers("How many colonies were lost in the 2023-2024 winter?", context) == 0
    assert missing_numbers("How many colonies were lost in the 2021-2022 winter?", context) == 2
    assert missing_numbers("How many colonies were lost in the 2023-2025 winter?", context) == 1
    assert missing_numbers("How many colonies were lost?", context) == 0
    assert missing_numbers("Did it lose 4 colonies?", context) == 1  # "4" is not a run of "14"


def test_head_confidence_features_read_best_answer_and_reader_margin():
    row = head_confidence_features(np.array([0.2, 0.7, 0.1]), np.array([1.0, 3.5, -2.0]), 0.4, 100)
    assert row.shape == (1, len(HEAD_CONFIDENCE_FEATURES))
    top, logit, margin, scorer, log_chunks = row[0]
    assert (top, logit, margin, scorer) == (0.7, 3.5, 2.5, 0.4)
    assert log_chunks == pytest.approx(np.log(100))


def test_head_ranks_by_the_reader_when_the_combiner_says_so():
    head = ReaderHead(top_n=3, combine=logistic([1.0, 0.0, 0.0, -2.0]),
                      confidence=logistic([4.0, 0, 0, 0, 0], -2.0), threshold=0.5)
    no_missing = np.zeros(3)
    answers = head.answer_probabilities(np.array([-3.0, 4.0, 0.0]), np.array([0.9, 0.1, 0.5]), np.ones(3), no_missing)
    assert int(np.argmax(answers)) == 1  # the reader's choice, not the scorer's
    sure = head.confidence_of(answers, np.array([-3.0, 4.0, 0.0]), 0.1, 50)
    unsure = head.confidence_of(np.array([0.1, 0.2]), np.array([-3.0, -2.5]), 0.1, 50)
    assert sure > 0.5 > unsure
    near_miss = head.answer_probabilities(np.array([-3.0, 4.0, 0.0]), np.array([0.9, 0.1, 0.5]), np.ones(3),
                                          np.array([0, 3, 0]))
    assert int(np.argmax(near_miss)) == 2  # the reader's choice lacks the question's numbers


def test_head_round_trips_and_refuses_other_features():
    head = ReaderHead(5, logistic([1.0, 0.5, 0.2, -1.0]), logistic([1.0, 0, 0, 0, 0]), 0.3)
    data = head.to_dict()
    again = ReaderHead.from_dict(json.loads(json.dumps(data)))
    assert again.top_n == 5 and again.threshold == 0.3
    x = np.array([[1.0, 2.0, 0.5, 1.0]])
    assert np.allclose(again.combine.predict(x), head.combine.predict(x))
    with pytest.raises(AnswerModelError, match="other features"):
        ReaderHead.from_dict({**data, "features": ["reader_logit"]})


def test_a_missing_reader_file_is_one_clear_error(tmp_path):
    shutil.copytree(READER_DIR, tmp_path / "models")
    (tmp_path / "models" / "reader-int8.onnx").unlink()
    with pytest.raises(AnswerModelError, match="reader model is missing"):
        Reader(tmp_path / "models")


def test_shipped_reader_is_small_and_calibrated():
    size = (READER_DIR / "reader-int8.onnx").stat().st_size
    assert size <= 30 * 1024 * 1024
    reader = default_reader()
    assert reader.head is not None and 0 < reader.head.threshold < 1
    assert reader.score("anything?", []).shape == (0,)


@pytest.mark.slow
def test_shipped_reader_tells_the_answer_from_a_near_miss():
    reader = default_reader()
    sentences = [
        "Club survey\nIn the 2023-2024 winter the club lost 14 of 66 colonies.",
        "Club survey\nIn the 2021-2022 winter the club lost 9 of 40 colonies.",
        "Club survey\nMembers who treated for mites in August lost fewer colonies.",
    ]
    logits = reader.score("How many colonies did the club lose in the winter of 2021-2022?", sentences)
    assert logits.shape == (3,)
    assert int(np.argmax(logits)) == 1
    logits = reader.score("How many colonies were lost during the 2023-2024 winter?", sentences)
    assert int(np.argmax(logits)) == 0


@pytest.mark.slow
def test_shipped_reader_scores_a_pair_the_same_alone_and_in_a_batch():
    reader = default_reader()
    question = "What temperature is the brood nest kept at?"
    sentences = ["Bees\nThe brood nest is kept at 34 to 35 degrees.", "Bees\nA short one."]
    batch = reader.score(question, sentences)
    alone = np.array([reader.score(question, [s])[0] for s in sentences])
    # Each pair runs alone (dynamic int8 would otherwise scale it by its batch's range, padding included).
    assert np.array_equal(batch, alone)
    assert np.array_equal(reader.score(question, sentences[::-1]), batch[::-1])



def test_reader_workers_score_every_pair_in_place_and_share_the_load():
    question = "What temperature is the brood nest kept at?"
    # Of unequal lengths, in no order of length: the workers take the longest first.
    sentences = [f"Bees\nThe brood nest is kept at {30 + i} degrees{' in the colony' * ((3 * i) % 7)}." for i in range(7)]
    one, two = Reader(workers=1), Reader(workers=2)
    assert one.workers == 1 and two.workers == 2
    expected = one.score(question, sentences)
    with ThreadPoolExecutor(4) as people:  # several people asking at once through one reader
        results = list(people.map(lambda s: two.score(question, s), [sentences, sentences[::-1]] * 4))
    for forward, backward in zip(results[::2], results[1::2]):
        assert np.array_equal(forward, expected) and np.array_equal(backward, expected[::-1])


CLUB_NOTES = """# Winter losses

The club runs a winter loss survey every spring. In the 2023-2024 winter survey, members lost 29 of
137 colonies, a loss rate of 21.2%. Most losses came from colonies that went into winter with high
mite counts. Starvation in late February caused most of the rest.

# Hive limits

The town ordinance limits the number of hives by lot size. A lot smaller than half an acre may hold
at most two colonies. A lot of half an acre to one acre may hold up to four colonies.
"""


@pytest.fixture(scope="module")
def club_kb(tmp_path_factory, encoder):
    from qa import KnowledgeBase

    folder = tmp_path_factory.mktemp("club")
    (folder / "notes.md").write_text(CLUB_NOTES, encoding="utf-8")
    return KnowledgeBase.build([folder], index_dir=folder / "index", encoder=encoder, show_progress=False)


@pytest.mark.slow
def test_ask_rereads_with_the_reader_by_default_and_can_do_without(club_kb):
    question = "What share of colonies did members lose in the 2023-2024 winter?"
    read = club_kb.ask(question)
    alone = club_kb.ask(question, reader=False)
    assert read.provenance["reader"] == default_reader().info.name and alone.provenance["reader"] is None
    assert read.provenance["threshold"] == club_kb.default_threshold == default_reader().head.threshold
    assert not read.abstained and "21.2%" in read.quotes[0].text
    assert all(0.0 <= q.score <= 1.0 for q in read.quotes)
    assert all(club_kb.verify(q) for q in read.quotes + alone.quotes)


@pytest.mark.slow
def test_a_question_about_another_year_than_the_documents_give_is_less_sure(club_kb):
    stated = club_kb.ask("How many colonies did the members lose in the 2023-2024 winter?")
    other = club_kb.ask("How many colonies did the members lose in the 2021-2022 winter?")
    assert not stated.abstained and "29 of" in stated.quotes[0].text
    assert other.confidence < stated.confidence


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured: confidence 0.72 against 0.235; the head weighs the question's missing "
                   "numbers (-0.6 logit each) far less than the reader's and the scorer's agreement")
def test_a_question_about_another_year_than_the_documents_give_abstains(club_kb):
    assert club_kb.ask("How many colonies did the members lose in the 2021-2022 winter?").abstained


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured: both wordings quote the 'smaller than half an acre' rule (confidence "
                   "0.27 and 0.72 against 0.235): the reader does not read a quantity as falling inside a range")
def test_a_reworded_question_gets_the_same_quote(club_kb):
    asked = [club_kb.ask(q) for q in ("How many hives may I keep on a lot of three quarters of an acre?",
                                      "What is the colony limit for a lot between half an acre and an acre?")]
    assert all(not a.abstained for a in asked), [a.confidence for a in asked]
    assert {a.quotes[0].text for a in asked} == {"A lot of half an acre to one acre may hold up to four colonies."}
