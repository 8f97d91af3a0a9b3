"""`kb.ask`: verified verbatim quotes, abstention, provenance, stale-citation detection."""

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT, write
from qa import KnowledgeBase, QuestionError

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
    for q in answer.quotes:
        chunk_sentences = {s for c in sample_kb.chunks if c.doc_id == q.doc_id for s in c.sentences}
        assert (q.start, q.end) in chunk_sentences


@pytest.mark.parametrize("row", [r for r in QUESTIONS if not r.get("unanswerable")], ids=lambda r: r["question"][:40])
def test_sample_questions_are_answered_in_the_top_quotes(sample_kb, row):
    answer = sample_kb.ask(row["question"])
    assert not answer.abstained
    texts = [q.text.lower() for q in answer.quotes]
    assert any(a.lower() in t for a in row["answers"] for t in texts), texts


@pytest.mark.parametrize("row", [r for r in QUESTIONS if r.get("unanswerable")], ids=lambda r: r["question"][:40])
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
    assert len(texts) == len(set(texts))


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
