"""`kb.ask`: verified verbatim quotes, abstention, provenance, stale-citation detection."""

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT, write
from qa import KnowledgeBase, QuestionError
from qa.answers import FEATURES
from corpus import scoring_text

QUESTIONS = [json.loads(line) for line in (ROOT / "tests" / "data" / "sample_questions.jsonl").read_text().splitlines()]


def test_quotes_are_exact_slices_with_full_citations(sample_kb):
    answer = sample_kb.ask("What is the maximum moisture content for extracted honey?")
    assert not answer.abstained and 0.0 <= answer.confidence <= 1.0
    assert "18.6%" in answer.quotes[0].text
    for q in answer.quotes:
        doc = sample_kb.document(q.doc_id)
        assert doc.text[q.start:q.end] == q.text
        assert q.context_start <= q.start < q.end <= q.context_end
        assert q.doc_sha256 == doc.sha256 and q.page == doc.page_at(q.start)
        assert sample_kb.verify(q)
    assert answer.passages and answer.provenance["index_id"] == sample_kb.manifest["index_id"]


def test_a_quote_is_one_or_a_few_whole_sentences(sample_kb):
    answer = sample_kb.ask("How often should colonies be inspected during swarm season?")
    assert not answer.abstained and answer.quotes
    for q in answer.quotes:
        spans = {s for c in sample_kb.chunks if c.doc_id == q.doc_id for s in c.sentences}
        starts, ends = {a for a, _ in spans}, {b for _, b in spans}
        assert q.start in starts and q.end in ends  # whole sentences, never a fragment
        covered = sorted(s for s in spans if q.start <= s[0] and s[1] <= q.end)
        assert covered and all(not sample_kb.document(q.doc_id).text[a[1]:b[0]].strip()
                               for a, b in zip(covered, covered[1:]))  # consecutive, nothing skipped


def test_a_sentence_that_introduces_a_list_is_quoted_with_its_items(sample_kb):
    answer = sample_kb.ask("What should you do for a normal local reaction to a bee sting?")
    intro = [q for q in answer.quotes if q.text.startswith("For a normal local reaction:")]
    assert intro, [q.text for q in answer.quotes]
    assert "cold compress" in intro[0].text
    for other in answer.quotes:  # the items are not quoted a second time on their own
        assert other is intro[0] or not (other.doc_id == intro[0].doc_id and intro[0].start <= other.start
                                         and other.end <= intro[0].end)


# Known misses, kept visible (strict: a fix makes these tests fail until the mark is removed).
SAMPLE_MISSES = {
    "How many days after the egg is laid does a new queen emerge?":
        "the answer is a Markdown table row ('| Queen | day 3 | day 8 | day 16 |'); even read with its header "
        "row it scores below prose sentences about days after the egg is laid",
    "What is the population of the town of Millbrook?":
        "off-topic but about 'Millbrook', which the handbook names everywhere: confidence 0.28 against 0.1",
}


def _marked(rows, misses):
    return [pytest.param(r, marks=pytest.mark.xfail(reason=misses[r["question"]], strict=True))
            if r["question"] in misses else r for r in rows]


@pytest.mark.parametrize("row", _marked([r for r in QUESTIONS if not r.get("unanswerable")], SAMPLE_MISSES),
                         ids=lambda r: r["question"][:40])
def test_sample_questions_are_answered_in_the_top_quotes(sample_kb, row):
    answer = sample_kb.ask(row["question"])
    assert not answer.abstained
    texts = [q.text.lower() for q in answer.quotes]
    assert any(a.lower() in t for a in row["answers"] for t in texts), texts


@pytest.mark.parametrize("row", _marked([r for r in QUESTIONS if r.get("unanswerable")], SAMPLE_MISSES),
                         ids=lambda r: r["question"][:40])
def test_off_topic_questions_abstain_but_still_list_passages(sample_kb, row):
    answer = sample_kb.ask(row["question"])
    assert answer.abstained
    assert answer.passages


def test_line_numbers_point_into_the_file(sample_kb):
    answer = sample_kb.ask("What sugar-to-water ratio should be fed in autumn to build winter stores?")
    q = next(q for q in answer.quotes if q.line_start is not None)
    lines = sample_kb.document(q.doc_id).text.split("\n")
    assert q.text.split("\n")[0] in lines[q.line_start - 1]


def test_stale_citations_are_detected_after_reindexing(tmp_path, encoder):
    docs = tmp_path / "docs"
    write(docs / "a.md", "The hive tool costs 12 dollars. Smokers cost 40 dollars.")
    kb = KnowledgeBase.build([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    quote = kb.ask("How much does the hive tool cost?").quotes[0]
    assert kb.verify(quote)
    write(docs / "a.md", "Prices changed. The hive tool now costs 15 dollars. Smokers cost 45 dollars.")
    rebuilt = KnowledgeBase.build([docs], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)
    assert not rebuilt.verify(quote)
    assert not rebuilt.verify(replace(quote, doc_id="gone.md"))


def test_duplicate_files_give_each_sentence_once(tmp_path, encoder):
    text = "The club extractor is loaned for up to 3 days. Members book it by phone."
    write(tmp_path / "d" / "one.md", text)
    write(tmp_path / "d" / "copy.md", text)
    kb = KnowledgeBase.build([tmp_path / "d"], index_dir=tmp_path / "i", encoder=encoder, show_progress=False)
    texts = [q.text for q in kb.ask("How long is the extractor loaned?").quotes]
    assert texts.count("The club extractor is loaned for up to 3 days.") == 1, texts
    assert len(texts) == len(set(texts))


def test_a_table_row_is_scored_with_its_header_but_quoted_alone(tmp_path, encoder):
    text = ("# Brood development\n\nDays after the egg is laid:\n\n| Caste | Cell capped | Adult emerges |\n"
            "|---|---|---|\n| Worker | day 9 | day 21 |\n| Drone | day 10 | day 24 |\n\nWorkers live six weeks in summer.")
    write(tmp_path / "d" / "brood.md", text)
    kb = KnowledgeBase.build([tmp_path / "d"], index_dir=tmp_path / "i", encoder=encoder, show_progress=False)
    row = "| Drone | day 10 | day 24 |"
    start = text.index(row)
    assert scoring_text(text, start, start + len(row)) == "| Caste | Cell capped | Adult emerges |\n" + row
    assert scoring_text(text, text.index("Workers"), len(text)) == "Workers live six weeks in summer."
    top = kb.ask("On which day does an adult drone emerge?").quotes[0]
    assert top.text == row and kb.document(top.doc_id).text[top.start:top.end] == row


NEWS = ("date 2024-03-02 OSLO (Nordic Wire / Baltic Press - 2nd March, 2024) Norway's fisheries minister "
        "announced on Friday a three-point plan to protect coastal cod.\n\n"
        "Firstly, quotas for coastal cod will be cut by a fifth next season, the minister said.\n\n"
        "Secondly, every trawler must carry a satellite tracker from June.\n\n"
        "Thirdly, the ministry will fund a research station in Tromso to count spawning fish.\n\n"
        "The plan follows a survey that found the stock at its lowest level since 1990.")


@pytest.fixture(scope="module")
def news_kb(tmp_path_factory, encoder):
    folder = tmp_path_factory.mktemp("news")
    write(folder / "d" / "cod.txt", NEWS)
    return KnowledgeBase.build([folder / "d"], index_dir=folder / "i", encoder=encoder, show_progress=False)


def test_a_news_dateline_is_quoted_alone_and_read_as_who_reported_the_story(news_kb):
    dateline = "date 2024-03-02 OSLO (Nordic Wire / Baltic Press - 2nd March, 2024)"
    assert scoring_text(NEWS, 0, len(dateline)) == ("This news story was reported from OSLO by Nordic Wire / "
                                                    "Baltic Press - 2nd March, 2024 (date 2024-03-02).")
    answer = news_kb.ask("Which agency reported this story?")
    assert not answer.abstained and answer.quotes[0].text == dateline
    assert news_kb.verify(answer.quotes[0])
    who = news_kb.ask("Who announced a plan to protect coastal cod?").quotes[0]
    assert who.text.startswith("Norway's fisheries minister announced")  # the story's first sentence, without the dateline


@pytest.mark.parametrize("question, point", [
    ("What is the first point?", "Firstly, quotas"), ("What is the second point?", "Secondly, every trawler"),
    ("What is the third point?", "Thirdly, the ministry"),
    ("What does the third point say the ministry will fund?", "Thirdly, the ministry"),
    pytest.param("What is the second point of the plan?", "Secondly, every trawler", marks=pytest.mark.xfail(
        strict=True, reason="the story's first sentence names the 'three-point plan' and outscores the point")),
])
def test_an_enumerated_point_is_found_by_its_place_in_the_list(news_kb, question, point):
    second = NEWS.index("Secondly")
    assert scoring_text(NEWS, second, NEWS.index("\n", second)).startswith("The second point: Secondly, every")
    answer = news_kb.ask(question)
    assert not answer.abstained and answer.quotes[0].text.startswith(point), answer.quotes[0].text


def test_a_one_passage_index_scores_its_passage_as_the_best(tmp_path, encoder):
    write(tmp_path / "d" / "note.txt", "The club extractor is loaned for up to 3 days. Members book it by phone.")
    kb = KnowledgeBase.build([tmp_path / "d"], index_dir=tmp_path / "i", encoder=encoder, show_progress=False)
    passages, _, features = kb.sentence_candidates("How long is the extractor loaned?")
    assert len(passages) == 1
    assert np.all(features[:, FEATURES.index("passage_score")] == 1.0)  # not 0: min-max of one score
    assert not kb.ask("How long is the extractor loaned?").abstained


def test_bad_arguments(sample_kb):
    with pytest.raises(QuestionError):
        sample_kb.ask("")
    with pytest.raises(QuestionError, match="threshold"):
        sample_kb.ask("bees", threshold=2.0)
    with pytest.raises(QuestionError):
        sample_kb.ask("bees", max_quotes=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60).filter(str.strip))
def test_any_question_yields_only_verified_quotes(sample_kb, question):
    answer = sample_kb.ask(question)
    for q in answer.quotes:
        assert sample_kb.document(q.doc_id).text[q.start:q.end] == q.text


SEED_QUESTIONS = [json.loads(line) for line in
                  (ROOT / "tests" / "data" / "seed_questions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def seed_kb(shared_data, tmp_path_factory, encoder):
    return KnowledgeBase.build([shared_data / "seed"], index_dir=tmp_path_factory.mktemp("seed") / "idx",
                               encoder=encoder, show_progress=False)


@pytest.mark.parametrize("row", [r for r in SEED_QUESTIONS if not r.get("unanswerable")],
                         ids=lambda r: r["question"][:40])
def test_seed_article_top_quote_holds_the_answer(seed_kb, row):
    top = seed_kb.ask(row["question"]).quotes[0]
    assert any(a.lower() in top.text.lower() for a in row["answers"]), top.text
    assert seed_kb.document(top.doc_id).text[top.start:top.end] == top.text


@pytest.mark.parametrize("row", [r for r in SEED_QUESTIONS if not r.get("unanswerable")],
                         ids=lambda r: r["question"][:40])
def test_seed_article_answerable_questions_are_answered(seed_kb, row):
    answer = seed_kb.ask(row["question"])
    assert not answer.abstained, answer.confidence
    assert any(a.lower() in answer.quotes[0].text.lower() for a in row["answers"])


@pytest.mark.parametrize("row", [r for r in SEED_QUESTIONS if r.get("unanswerable")], ids=lambda r: r["question"][:40])
def test_seed_article_abstains_on_what_it_does_not_cover(seed_kb, row):
    answer = seed_kb.ask(row["question"])
    assert answer.abstained, (answer.confidence, answer.quotes[:1])
    assert answer.passages


def test_long_sentences_are_scored_by_their_best_window_kept_across_reopen_and_add(tmp_path, encoder):
    long = ("The association met on Tuesday in the old town hall to discuss the annual budget, the repair "
            "of the club extractor and the new apiary rules, and after a long debate it agreed that the "
            "honey show will be held in the village school on the first Saturday of September.")
    write(tmp_path / "d" / "minutes.md", f"# Minutes\n\n{long} Tea was served afterwards.")
    kb = KnowledgeBase.build([tmp_path / "d"], index_dir=tmp_path / "i", encoder=encoder, show_progress=False)
    question = "Where will the honey show be held?"
    dense, window = FEATURES.index("dense"), FEATURES.index("window_dense")

    def features_of_long(base):
        _, candidates, features = base.sentence_candidates(question)
        assert (features[:, window] >= features[:, dense] - 1e-6).all()
        return features[[c.text for c in candidates].index(long)]

    row = features_of_long(kb)
    assert row[window] > row[dense] + 0.05
    assert np.allclose(features_of_long(KnowledgeBase.open(tmp_path / "i", encoder=encoder)), row, atol=1e-6)
    write(tmp_path / "e" / "other.md", "Varroa mites are counted on a sticky board under the hive.")
    grown, _ = kb.add([tmp_path / "e"])
    assert np.isclose(features_of_long(grown)[window], row[window], atol=1e-3)  # windows kept, not recomputed
