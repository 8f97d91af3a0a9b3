"""PDF text as it reads: no running heads or page numbers, mended hyphenation, ligatures spelled out."""

from pathlib import Path

import pytest

from corpus import DocumentError, load_documents, split_sentences
from corpus.pdf_reader import Line, drop_running_heads, mend_hyphenation, page_text

fpdf = pytest.importorskip("fpdf")

_WRAPPED = ("Worker bees build the comb from wax that they secrete from glands under the abdomen, "
            "shaping each cell with their mandibles until the walls are thin and even.")


def _dejavu() -> str:
    from matplotlib import font_manager

    return font_manager.findfont("DejaVu Sans", fallback_to_default=False)


class _Manual(fpdf.FPDF):
    """A manual with a running head that names the chapter and the page, and a page number below."""

    chapter = ""

    def header(self):
        self.set_font("DejaVu", size=9)
        self.cell(0, 6, f"Hive Manual, {self.chapter}", align="L")
        self.cell(0, 6, str(self.page_no()), align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(6)

    def footer(self):
        self.set_y(-15)
        self.set_font("DejaVu", size=9)
        self.cell(0, 8, str(self.page_no()), align="C")


def _write_manual(path: Path) -> None:
    pdf = _Manual()
    pdf.set_title("Hive Manual")
    pdf.add_font("DejaVu", fname=_dejavu())
    chapters = [
        ("Chapter 1: Comb", [_WRAPPED,
                             "This chapter describes the imple-\nmentation of a foundationless frame, "
                             "and the ofﬁce hours of the club's ﬂoor manager."]),
        ("Chapter 2: Frames", ["Frames hang from the rebates of the box, a bee space apart from each "
                               "other and from the walls of the box on every side."]),
        ("Chapter 3: Honey", ["Extracted honey is strained twice before it is bottled for the show."]),
    ]
    for chapter, paragraphs in chapters:
        pdf.chapter = chapter
        pdf.add_page()
        pdf.set_font("DejaVu", size=16)
        pdf.multi_cell(0, 10, chapter.split(": ")[1], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    pdf.output(str(path))


@pytest.fixture(scope="module")
def manual(tmp_path_factory):
    path = tmp_path_factory.mktemp("pdf") / "manual.pdf"
    _write_manual(path)
    [doc] = load_documents([path])
    return doc


def test_running_heads_and_page_numbers_are_dropped_and_the_page_map_stays_right(manual):
    assert "Hive Manual" not in manual.text and "Chapter 2:" not in manual.text
    assert not any(line.strip().isdigit() for line in manual.text.splitlines())
    assert [p.number for p in manual.pages] == [1, 2, 3]
    for number, words in ((1, "Worker bees"), (2, "Frames hang"), (3, "Extracted honey")):
        page = manual.pages[number - 1]
        assert manual.text[page.start:page.end].startswith(("Comb", "Frames", "Honey")[number - 1])
        assert manual.page_at(manual.text.index(words)) == number
    assert manual.text[manual.pages[-1].end:] == ""


def test_hyphenation_is_mended_and_wrapped_lines_joined(manual):
    assert "implementation of a foundationless frame" in manual.text and "imple-" not in manual.text
    assert "office hours" in manual.text and "floor manager" in manual.text
    spans = split_sentences(manual.text)
    sentences = [manual.text[s:e] for s, e in spans]
    assert _WRAPPED in sentences  # wrapped over two lines, read as one sentence with a space
    assert "Comb" in sentences and "Frames" in sentences  # a heading is a sentence of its own
    for (start, end), sentence in zip(spans, sentences):
        assert manual.text[start:end] == sentence and manual.page_at(start) == manual.page_at(end - 1)


def test_a_hyphen_goes_unless_it_joins_a_compound():
    assert mend_hyphenation("the imple-", "mentation") == "the imple"
    assert mend_hyphenation("DER en-", "coding") == "DER en"
    assert mend_hyphenation("a command-", "line tool") == "a command-"
    assert mend_hyphenation("a well-", "known fact") == "a well-"
    assert mend_hyphenation("Non-", "English") == "Non-"  # a capital after it: not a broken word
    assert mend_hyphenation("range 1-", "2") == "range 1-"


def test_heads_that_count_with_the_pages_or_repeat_on_most_pages_go():
    pages = [[Line("Chapter 3: Utilities 6"), Line("Body of page one, with 42 in it.")],
             [Line("Chapter 3: Utilities 7"), Line("Body of page two."), Line("42")],
             [Line("Chapter 4: Functions 8"), Line("Body of page three.")],
             [Line("9 Library Reference"), Line("Body of page four."), Line("Draft - do not cite")]]
    for page in pages[:3]:
        page.append(Line("Draft - do not cite"))
    kept = [[line.text for line in page] for page in drop_running_heads(pages)]
    assert kept == [["Body of page one, with 42 in it."], ["Body of page two.", "42"],
                    ["Body of page three."], ["Body of page four."]]


def test_ligatures_are_spelled_out():
    assert page_text([Line("The \ufb01rst \ufb02oor is o\ufb03cial, and \ufb00 stays o\ufb00.")]) == (
        "The first floor is official, and ff stays off.")


def test_lines_without_geometry_keep_their_line_breaks():
    lines = [Line("A line that PDFium gave"), Line("no geometry for, with a hyphen-"), Line("ated word.")]
    assert page_text(lines) == "A line that PDFium gave\nno geometry for, with a hyphenated word."


def test_a_broken_pdf_is_a_clear_error(tmp_path):
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(DocumentError, match=r"bad\.pdf: corrupt PDF"):
        load_documents([tmp_path / "bad.pdf"])


def _pdf(path: Path, *, text: str | None, password: str | None = None) -> Path:
    pdf = fpdf.FPDF()
    pdf.add_page()
    if text:
        pdf.set_font("helvetica", size=12)
        pdf.cell(text=text)
    else:
        pdf.rect(20, 20, 80, 40, style="F")  # a page of drawing only, as a scan without OCR would be
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.output(str(path))
    return path


def test_an_encrypted_pdf_and_one_without_text_are_refused_saying_why(tmp_path):
    _pdf(tmp_path / "locked.pdf", text="A secret sentence.", password="s3cret")
    _pdf(tmp_path / "scan.pdf", text=None)
    _pdf(tmp_path / "fine.pdf", text="An open sentence.")
    said = []
    documents = load_documents([tmp_path], skip_unreadable=True, warn=said.append)
    assert [d.doc_id for d in documents] == ["fine.pdf"]
    assert sorted(said) == [f"skipped {tmp_path / 'locked.pdf'}: encrypted PDF: it needs a password",
                            f"skipped {tmp_path / 'scan.pdf'}: PDF with no text layer (1 pages of images?): "
                            "nothing to quote"]
