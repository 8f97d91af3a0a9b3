"""Chat and source-panel HTML: everything escaped, one line per message, the highlight exact."""

from dataclasses import replace
from html import escape, unescape
from html.parser import HTMLParser

import pytest

from ui.render import (
    ABSTAIN, CLOSEST, answer_html, cite_target, documents_html, passages_html, status_html, text_html, user_html,
)
from ui.source import parse_target, source_html

HOSTILE_NAME = "<img src=x onerror=alert(3)>.md"
HOSTILE_MD = ("# <script>alert(4)</script> Zebra handbook\n\n"
              "Zebra quartz <script>alert(1)</script> is mined near Tallow Creek.\n\n"
              "The zebra quartz mine opened in 1911 <img src=x onerror=alert(2)> after a long winter.\n")
HOSTILE_HTML = ("<html><head><title>&lt;img src=x onerror=alert(5)&gt; notes</title></head><body>"
                "<p>&lt;script&gt;alert(6)&lt;/script&gt; Granite is cut by hand in Tallow Creek.</p></body></html>")


@pytest.fixture(scope="module")
def hostile_kb(tmp_path_factory, encoder):
    from qa import KnowledgeBase

    root = tmp_path_factory.mktemp("hostile")
    docs = root / "docs"
    docs.mkdir()
    (docs / HOSTILE_NAME).write_text(HOSTILE_MD)
    (docs / "granite.html").write_text(HOSTILE_HTML)
    (docs / "copy-of-zebra.md").write_text(HOSTILE_MD)
    return KnowledgeBase.build([docs], index_dir=root / "index", encoder=encoder, show_progress=False)


def assert_inert(html: str):
    """No tag from the documents survives as a tag (their text stays, escaped)."""
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered


class MarkText(HTMLParser):
    """The text inside <mark>, as a browser would show it (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.inside += tag == "mark"

    def handle_endtag(self, tag):
        self.inside -= tag == "mark"

    def handle_data(self, data):
        if self.inside:
            self.parts.append(data)


def mark_text(html: str) -> str:
    parser = MarkText()
    parser.feed(html)
    return "".join(parser.parts)


def test_answer_escapes_hostile_text_titles_and_file_names(hostile_kb):
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    assert not answer.abstained and answer.quotes
    html = answer_html(answer, [True] * len(answer.quotes), answer_id="abc")
    assert_inert(html)
    assert "&lt;img src=x onerror=alert(2)&gt;" in html  # the quoted text, shown as text
    assert escape(HOSTILE_NAME) in html  # the file name
    assert "&lt;script&gt;alert(4)&lt;/script&gt; Zebra handbook" in html  # the title


def test_abstention_and_closest_passages_are_escaped(hostile_kb):
    answer = hostile_kb.ask("Where is granite cut?", threshold=1.0)
    assert answer.abstained
    html = answer_html(answer, [True] * len(answer.quotes))
    assert_inert(html)
    assert ABSTAIN in html and CLOSEST in html and "<blockquote" not in html
    assert "&lt;img src=x onerror=alert(5)&gt; notes" in html or escape(HOSTILE_NAME) in html


def test_source_panel_escapes_and_highlights_exactly_the_span(hostile_kb):
    doc = hostile_kb.document(HOSTILE_NAME)
    for needle in ("<script>alert(1)</script>", "The zebra quartz mine opened in 1911 <img src=x onerror=alert(2)>",
                   "Zebra"):
        start = doc.text.index(needle)
        end = start + len(needle)
        for whole in (False, True):
            html = source_html(doc, start, end, whole=whole)
            assert_inert(html)
            assert f'<mark id="gq-highlight">{escape(doc.text[start:end])}</mark>' in html
            assert mark_text(html) == doc.text[start:end]
            assert html.count("<mark") == 1
    assert escape(HOSTILE_NAME) in html and "&lt;script&gt;alert(4)" in html


def test_source_panel_for_a_quote_marks_the_quote_text(hostile_kb):
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    q = answer.quotes[0]
    html = source_html(hostile_kb.document(q.doc_id), q.start, q.end, sha=q.doc_sha256[:12])
    assert mark_text(html) == q.text
    assert "replaced" not in html
    assert "replaced after the answer" in source_html(hostile_kb.document(q.doc_id), q.start, q.end, sha="0" * 12)


def test_pdf_pages_are_labelled_outside_the_highlight(sample_kb):
    doc = next(d for d in sample_kb.documents if d.pages and len(d.pages) > 1)
    page2 = doc.pages[1]
    start, end = page2.start, min(page2.end, page2.start + 40)
    html = source_html(doc, start, end, whole=True)
    assert mark_text(html) == doc.text[start:end]
    assert f'data-page="{doc.pages[-1].number}"' in html
    assert f"p. {page2.number}, chars {start}–{end}" in html


def test_chat_html_is_one_line(hostile_kb):
    """Chat messages are Markdown: a blank line would end the HTML block and show raw tags."""
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    abstained = hostile_kb.ask("When did the zebra quartz mine open?", threshold=1.0)
    for html in (answer_html(answer, [True] * len(answer.quotes), answer_id="x"),
                 answer_html(abstained, [True] * len(abstained.quotes)),
                 passages_html(hostile_kb.search("zebra quartz")), user_html("line one\n\n\nline <b>two</b>"),
                 text_html("a\r\n\r\nb")):
        assert "\n" not in html and "\r" not in html


def test_a_quote_that_fails_verification_is_an_error_never_an_answer(hostile_kb):
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    first = answer.quotes[0]
    html = answer_html(answer, [False] + [True] * (len(answer.quotes) - 1))
    assert "gq-error" in html and "withheld" in html
    assert escape(first.text) not in html.split("gq-error")[0]
    only_bad = replace(answer, quotes=(first,))
    html = answer_html(only_bad, [False])
    assert "<blockquote" not in html and ABSTAIN in html and "withheld" in html


def test_duplicate_sentences_are_shown_once_and_grouped_per_document(hostile_kb):
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    q = answer.quotes[0]
    twin = replace(q, doc_id="copy-of-zebra.md", source="docs/copy-of-zebra.md", title="Copy")
    other = replace(q, text="Granite is cut by hand in Tallow Creek.", doc_id="granite.html",
                    source="docs/granite.html", title="Granite", score=q.score)
    html = answer_html(replace(answer, quotes=(q, twin, other)), [True, True, True])
    assert html.count('<blockquote class="gq-quote">') == 2  # the twin sentence is shown once
    assert html.count('class="gq-doc"') == 3  # but cited under each of the three documents
    assert "corroborated by 3 documents" in html
    assert html.count(">[1] ") == 2  # same number for the same sentence in both files


def test_weak_quotes_are_folded_away(hostile_kb):
    answer = hostile_kb.ask("When did the zebra quartz mine open?")
    q = answer.quotes[0]
    weak = replace(q, text="Zebra quartz is mined near Tallow Creek.", start=0, end=10, score=q.score * 0.1)
    html = answer_html(replace(answer, quotes=(q, weak)), [True, True])
    head, more = html.split('<details class="gq-more">')
    assert escape(q.text) in head and "Zebra quartz is mined" in more


def test_citation_targets_round_trip_odd_doc_ids():
    for doc_id in ("a.md", "dir/with:colon:1:2.md", "sp ace%20&<x>.md"):
        assert parse_target(cite_target(doc_id, 3, 9, "abcdef0123456789")) == (doc_id, 3, 9, "abcdef012345")
    for bad in ("", "nope", "a.md:x:2:", "a.md:5:2:", ":1:2:"):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_document_list_and_status_are_escaped():
    html = documents_html([{"title": "<script>alert(1)</script>", "source": "<img src=x onerror=alert(2)>.md",
                            "chunks": 3, "doc_id": "x"}])
    assert_inert(html)
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;.md" in html
    html = status_html(False, "refused <img src=x onerror=alert(1)>", ["skipped <script>x</script>"])
    assert_inert(html)
    assert "gq-error" in html


def test_passages_html_escapes_document_text(hostile_kb):
    html = passages_html(hostile_kb.search("zebra quartz"))
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert unescape(html).count("<script>alert(1)</script>") >= 1
