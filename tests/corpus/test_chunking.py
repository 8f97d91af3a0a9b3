import pytest
from hypothesis import given, settings, strategies as st

from corpus import ChunkingSettings, Document, GroundQAError, chunk_document, split_sentences
from corpus.chunking import estimate_tokens

WORDS = st.sampled_from(["bee", "hive", "Dr.", "U.S.", "3.5", "queen", "honey,", "wax", "A", "x" * 30])
SEPARATORS = st.sampled_from([" ", " ", ". ", "! ", "\n", "\n\n", "? ", "\n- "])


@st.composite
def texts(draw):
    parts = draw(st.lists(st.tuples(WORDS, SEPARATORS), max_size=120))
    return "".join(w + s for w, s in parts)


def words(text):
    return len(text.split())


@settings(max_examples=200, deadline=None)
@given(texts(), st.integers(min_value=8, max_value=40), st.integers(min_value=0, max_value=3))
def test_chunks_are_exact_slices_within_budget_and_cover_every_sentence(text, max_tokens, overlap):
    doc = Document("d", "d.txt", "d", text)
    chunks = chunk_document(doc, settings=ChunkingSettings(max_tokens=max_tokens, overlap=overlap),
                            count_tokens=words)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert words(c.text) <= max_tokens
        assert all(c.start <= s < e <= c.end for s, e in c.sentences)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    for s, e in split_sentences(text):  # split over-long sentences leave only spaces between pieces
        assert {i for i in range(s, e) if not text[i].isspace()} <= covered
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(a.start < b.start and a.end < b.end for a, b in zip(chunks, chunks[1:]))


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk():
    text = " ".join(f"Sentence number {i} is here." for i in range(12))
    doc = Document("d", "d.txt", "d", text)
    chunks = chunk_document(doc, settings=ChunkingSettings(max_tokens=15, overlap=1), count_tokens=words)
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:]):
        assert a.sentences[-1] == b.sentences[0]


def test_a_sentence_longer_than_a_chunk_is_split_not_truncated():
    text = "word " * 100 + "end."
    doc = Document("d", "d.txt", "d", text.strip())
    chunks = chunk_document(doc, settings=ChunkingSettings(max_tokens=16, overlap=0), count_tokens=words)
    assert "".join(c.text + " " for c in chunks).split() == doc.text.split()
    assert all(words(c.text) <= 16 for c in chunks)


def test_real_tokenizer_never_truncates_a_chunk(encoder):
    text = ("Pneumonoultramicroscopicsilicovolcanoconiosis is rare; so is 0.000123% of anything. " * 40
            + "Ω≈ç√∫˜µ≤≥÷ " * 80)
    doc = Document("d", "d.txt", "d", text)
    limit = encoder.chunk_token_limit
    chunks = chunk_document(doc, settings=ChunkingSettings(max_tokens=limit), count_tokens=encoder.count_tokens)
    assert all(encoder.count_tokens(c.text) <= limit for c in chunks)


def test_estimate_is_an_upper_bound_of_the_real_tokenizer_on_prose(encoder):
    text = "The colony's queen lays approx. 1,500 eggs a day in June; workers live 5-6 weeks."
    assert estimate_tokens(text) >= encoder.count_tokens(text)


def test_settings_reject_nonsense():
    with pytest.raises(GroundQAError, match="too small"):
        ChunkingSettings(max_tokens=2)
    with pytest.raises(GroundQAError, match="overlap"):
        ChunkingSettings(overlap=-1)


def word_spans(text):
    import re

    return [m.span() for m in re.finditer(r"\S+", text)]


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=400), st.integers(min_value=8, max_value=40),
       st.integers(min_value=0, max_value=2))
def test_cutting_a_long_line_by_its_token_spans_gives_the_same_chunks(line, max_tokens, overlap):
    """A line with no sentence break, cut from the tokenizer's spans, is cut as counting would cut it."""
    doc = Document("d", "d.txt", "d", " ".join(w.rstrip(".!?,") or "x" for w in line))
    settings_ = ChunkingSettings(max_tokens=max_tokens, overlap=overlap)
    counted = chunk_document(doc, settings=settings_, count_tokens=words)
    spanned = chunk_document(doc, settings=settings_, count_tokens=words, token_spans=word_spans)
    assert [(c.start, c.end, c.sentences) for c in spanned] == [(c.start, c.end, c.sentences) for c in counted]


def test_a_line_with_no_break_is_cut_into_bounded_exact_pieces():
    from corpus.chunking import MAX_CHARS_PER_TOKEN

    doc = Document("d", "d.txt", "d", "word " * 20000 + "x" * 50000)
    chunks = chunk_document(doc, settings=ChunkingSettings(max_tokens=50), count_tokens=words)
    assert all(doc.text[c.start:c.end] == c.text for c in chunks)
    assert max(c.end - c.start for c in chunks) <= MAX_CHARS_PER_TOKEN * 50
    assert max(words(c.text) for c in chunks) <= 50 and chunks[-1].end == len(doc.text)
