import pytest

from conftest import write
from qa import KnowledgeBase, QuestionError, UnknownDocumentError


def test_every_passage_is_an_exact_slice_of_its_document(sample_kb):
    for mode in ("hybrid", "dense", "lexical"):
        passages = sample_kb.search("How should honey be stored after extraction?", k=8, mode=mode)
        assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
        assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
        for p in passages:
            doc = sample_kb.document(p.doc_id)
            assert doc.text[p.start:p.end] == p.text
            assert p.source == doc.source and p.title == doc.title
            assert p.page == doc.page_at(p.start)


def test_pdf_passages_carry_their_page_number(sample_kb):
    pdf = next(d for d in sample_kb.documents if d.kind == "pdf")
    pages = {p.page for q in ("moisture content of honey", "uncapping knife", "wax")
             for p in sample_kb.search(q, k=10) if p.doc_id == pdf.doc_id}
    assert pages and pages <= {pg.number for pg in pdf.pages}
    assert None not in pages


def test_questions_find_the_document_that_answers_them(sample_kb):
    import json
    from conftest import ROOT

    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "sample_questions.jsonl").read_text().splitlines()]
    answerable = [r for r in rows if not r.get("unanswerable")]
    hits = 0
    for row in answerable:
        passages = sample_kb.search(row["question"], k=5)
        hits += any(a.lower() in p.text.lower() for p in passages for a in row["answers"])
    assert hits / len(answerable) >= 0.85


def test_bad_questions_raise_typed_errors(sample_kb):
    with pytest.raises(QuestionError, match="empty"):
        sample_kb.search("   ")
    with pytest.raises(QuestionError, match="hybrid, dense, lexical"):
        sample_kb.search("bees", mode="fuzzy")
    with pytest.raises(QuestionError):
        sample_kb.search("bees", k=0)
    with pytest.raises(UnknownDocumentError, match="no document 'nope'"):
        sample_kb.document("nope")


def _kb_of(tmp_path, encoder, files: dict[str, str]) -> KnowledgeBase:
    """An index of text files written here, one per (name, text)."""
    for name, text in files.items():
        write(tmp_path / "docs" / name, text)
    return KnowledgeBase.build([tmp_path / "docs"], index_dir=tmp_path / "idx", encoder=encoder, show_progress=False)


def test_hybrid_finds_rare_exact_terms_and_paraphrases(tmp_path, encoder):
    kb = _kb_of(tmp_path, encoder, {
        "codes.txt": "The error code XJ-4471 means the extractor motor overheated.",
        "animals.txt": "Young cats enjoy chasing string around the living room.",
        "other.txt": "The club meets on the first Tuesday of every month.",
    })
    assert kb.search("XJ-4471", k=1)[0].doc_id == "codes.txt"
    assert kb.search("kittens playing", k=1)[0].doc_id == "animals.txt"


def test_in_a_small_index_lexical_search_weighs_words_by_their_english_rarity(tmp_path, fake_encoder):
    from qa import RetrievalSettings

    kb = _kb_of(tmp_path, fake_encoder, {
        "a-need.txt": "They get what they need in an open market.",
        "b-stone.txt": "Trust is the cornerstone of any club.",
        "c-meet.txt": "The club meets on the first Tuesday.",
    })
    assert kb.retrieval.term_prior > 0
    weighted = {p.doc_id: p.score for p in kb.search("what is the cornerstone", k=2, mode="lexical")}
    plain = {p.doc_id: p.score for p in kb.search("what is the cornerstone", k=2, mode="lexical",
                                                  retrieval=RetrievalSettings(term_prior=0))}
    # Each word is in one of three documents: alone, the corpus cannot tell them apart.
    assert plain["b-stone.txt"] / plain["a-need.txt"] < 1.1
    assert weighted["b-stone.txt"] / weighted["a-need.txt"] > 1.2


def test_duplicate_ids_are_refused(tmp_path, fake_encoder):
    from corpus import Document
    from qa import GroundQAError

    docs = [Document("a", "a", "a", "one"), Document("a", "b", "b", "two")]
    with pytest.raises(GroundQAError, match="duplicate doc_id 'a'"):
        KnowledgeBase.from_documents(docs, index_dir=tmp_path / "i", encoder=fake_encoder, show_progress=False)
