import pytest

from conftest import SAMPLES, write
from corpus import DocumentError, load_documents, split_sentences, table_header
from corpus.readers import decode_text


def test_text_and_markdown_keep_the_file_content_unchanged(tmp_path):
    raw = "# Hive care\r\n\r\nKeep the  lid on.\n\n\n  Indented — café.\n"
    write(tmp_path / "notes.md", raw)
    write(tmp_path / "plain.txt", "first line\nsecond\n")
    docs = {d.doc_id: d for d in load_documents([tmp_path])}
    assert docs["notes.md"].text == raw
    assert docs["notes.md"].title == "Hive care"
    assert docs["notes.md"].kind == "md"
    assert docs["plain.txt"].text == "first line\nsecond\n"
    assert docs["plain.txt"].title == "plain"  # no heading: the file name


def test_html_keeps_visible_text_only_and_takes_the_title(tmp_path):
    write(tmp_path / "page.html", """<html><head><title>Swarm  notes</title>
        <style>p { color: red }</style><script>alert("boo")</script></head>
        <body><h1>Swarms</h1><p>Bees swarm in <b>May</b> &amp; June.</p>
        <script>document.write("hidden")</script><ul><li>one</li><li>two</li></ul>
        <p>&lt;script&gt;shown as text&lt;/script&gt;</p></body></html>""")
    [doc] = load_documents([tmp_path / "page.html"])
    assert doc.title == "Swarm notes"
    assert "Bees swarm in May & June." in doc.text
    assert "alert" not in doc.text and "hidden" not in doc.text and "color" not in doc.text
    assert "<script>shown as text</script>" in doc.text
    assert "- one\n- two" in doc.text
    assert doc.kind == "html"


def test_an_html_table_becomes_a_pipe_table_whose_rows_know_their_header(tmp_path):
    write(tmp_path / "officers.html", "<p>Officers</p>\n<table>\n <tr><th>Role</th><th>Name</th></tr>\n"
          " <tr><td>Secretary</td><td><p>Margaret</p><p>Okafor</p></td></tr>\n"
          " <tr><td>Treasurer|Clerk</td><td>Dan<br>Reyes</td></tr>\n</table>\n<p>After the table.</p>")
    text = load_documents([tmp_path])[0].text
    assert text == ("Officers\n\n| Role | Name |\n|---|---|\n| Secretary | Margaret Okafor |\n"
                    "| Treasurer\\|Clerk | Dan Reyes |\n\nAfter the table.")
    row = text.index("| Secretary")
    header_start, header_end = table_header(text, row)
    assert text[header_start:header_end] == "| Role | Name |"
    assert (row, text.index("\n", row)) in split_sentences(text)  # a row is a sentence of its own


def test_pdf_pages_map_offsets_to_page_numbers(tmp_path):
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.set_title("Extractor manual")
    pdf.set_font("Helvetica", size=12)
    for text in ("Page one talks about frames.", "Page two talks about honey."):
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(tmp_path / "manual.pdf"))
    [doc] = load_documents([tmp_path / "manual.pdf"])
    assert doc.title == "Extractor manual"
    assert [p.number for p in doc.pages] == [1, 2]
    assert doc.page_at(doc.text.index("frames")) == 1
    assert doc.page_at(doc.text.index("honey")) == 2
    for page in doc.pages:
        assert doc.text[page.start:page.end].strip()


def test_folder_is_recursive_and_skips_unsupported_files_with_a_warning(tmp_path):
    write(tmp_path / "a" / "b" / "deep.txt", "deep text")
    write(tmp_path / "image.png", "not text")
    write(tmp_path / ".hidden" / "secret.txt", "hidden")
    warnings = []
    docs = load_documents([tmp_path], warn=warnings.append)
    assert [d.doc_id for d in docs] == ["a/b/deep.txt"]
    assert len(warnings) == 1 and "image.png" in warnings[0] and "unsupported" in warnings[0]


def test_nothing_usable_or_missing_path_is_a_clear_error(tmp_path):
    write(tmp_path / "x.bin", "zzz")
    with pytest.raises(DocumentError, match="no usable documents"):
        load_documents([tmp_path], warn=lambda m: None)
    with pytest.raises(DocumentError, match="no such file"):
        load_documents([tmp_path / "missing"])


def test_decoding_falls_back_and_records_the_encoding():
    assert decode_text("naïve".encode("utf-8")) == ("naïve", "utf-8")
    assert decode_text("naïve café".encode("cp1252")) == ("naïve café", "cp1252")
    assert decode_text(b"\xef\xbb\xbfbom") == ("bom", "utf-8-sig")
    text, enc = decode_text("a long run of good UTF-8 text: é è ê ë ï ô ü ".encode() * 5 + b"\xff ok")
    assert enc.startswith("utf-8") and text.endswith("\ufffd ok")


def test_replacement_characters_in_a_utf8_file_stay(tmp_path):
    write(tmp_path / "dirty.txt", "Johannesburg.\ufffd The diplomat\ufffd said.")
    [doc] = load_documents([tmp_path])
    assert doc.text.count("\ufffd") == 2


def test_seed_article_loads_exactly_with_its_replacement_characters(shared_data):
    path = shared_data / "seed" / "wang-yi-cybersecurity-2023-07-25.txt"
    [doc] = load_documents([path])
    raw = path.read_bytes().decode("utf-8")
    assert doc.text == raw
    assert doc.text.count("\ufffd") >= 1
    i = doc.text.index("Wang Yi")
    assert doc.text[i:i + 7] == "Wang Yi"


def test_bundled_samples_cover_every_file_type():
    docs = load_documents([SAMPLES])
    assert 8 <= len(docs) <= 15
    assert {d.kind for d in docs} == {"txt", "md", "html", "pdf"}
    assert all(d.text.strip() and d.title for d in docs)
    pdf = next(d for d in docs if d.kind == "pdf")
    assert len(pdf.pages) >= 2


_PARAGRAPH = ("The connection object owns every prepared statement, and closing it finalizes them in turn. "
              "A program that opens a database should therefore keep one connection per thread of work.")
_DOC_PAGE = f"""<!DOCTYPE html><html><head><title>Opening A Database</title></head><body>
<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/about">About</a></li>
<li><a href="/docs">Documentation</a></li><li><a href="/download">Download</a></li></ul></nav>
<div class="fancy_title">Opening A Database</div>
<div class="toc" id="toc"><a href="#toc">Table Of Contents</a>
<div><a href="#intro">1. Introduction</a></div><div><a href="#flags">2. Open flags</a></div></div>
<h1 id="intro">1. Introduction</h1>
<p>{_PARAGRAPH}</p>
<p>The call sqlite3_open_v2 takes a file name, a handle and flags. It returns a result code that the
caller must check before using the handle for anything else.</p>
<h2 id="flags">2. Open flags</h2>
<p>The flags say how the file is opened:</p>
<ul><li><p>SQLITE_OPEN_READONLY opens the file for reading only.</p></li>
<li>SQLITE_OPEN_READWRITE opens it for reading and writing.</li></ul>
<blockquote><table><tr><th>Flag</th><th>Value</th></tr><tr><td>READONLY</td><td>0x01</td></tr>
<tr><td>READWRITE</td><td>0x02</td></tr></table></blockquote>
<pre>sqlite3 *db;
int rc = sqlite3_open_v2("test.db", &amp;db, SQLITE_OPEN_READONLY, NULL);</pre>
<p>{_PARAGRAPH.replace("connection", "handle")}</p>
<div class="footer">This page last modified on 2024-01-01. Copyright Example Corp. All rights reserved.</div>
</body></html>"""


def test_html_main_content_drops_the_site_menu_the_toc_and_the_footer(tmp_path):
    write(tmp_path / "open.html", _DOC_PAGE)
    [doc] = load_documents([tmp_path / "open.html"])
    assert doc.title == "Opening A Database"
    assert doc.text.startswith("Opening A Database\n\n1. Introduction\n\nThe connection object")  # headline kept
    for boilerplate in ("Home", "About", "Download", "Table Of Contents", "Copyright", "last modified"):
        assert boilerplate not in doc.text
    assert doc.text.count("2. Open flags") == 1  # the heading, not its TOC entry
    assert "\n\n2. Open flags\n\nThe flags say how the file is opened:\n\n" in doc.text  # headings stay blocks
    assert "\n- SQLITE_OPEN_READONLY opens the file for reading only.\n" in doc.text  # its <p> keeps the marker
    assert "\n- SQLITE_OPEN_READWRITE opens it for reading and writing.\n" in doc.text
    assert "| Flag | Value |\n|---|---|\n| READONLY | 0x01 |\n| READWRITE | 0x02 |" in doc.text  # even in a quote
    assert 'sqlite3 *db;\nint rc = sqlite3_open_v2("test.db", &db, SQLITE_OPEN_READONLY, NULL);' in doc.text
    sentences = [doc.text[s:e] for s, e in split_sentences(doc.text)]
    assert "It returns a result code that the caller must check before using the handle for anything else." in sentences
    assert "1. Introduction" in sentences and "2. Open flags" in sentences  # a numbered heading is not cut at "1."


def test_html_without_main_content_falls_back_to_the_visible_text(tmp_path):
    write(tmp_path / "tiny.html", "<html><head><title>Tiny</title></head><body><p>Hi.</p></body></html>")
    write(tmp_path / "bare.htm", "<p>Just a fragment, with <b>bold</b> text.</p>")
    docs = {d.doc_id: d for d in load_documents([tmp_path])}
    assert (docs["tiny.html"].title, docs["tiny.html"].text) == ("Tiny", "Hi.")
    assert (docs["bare.htm"].title, docs["bare.htm"].text) == ("bare", "Just a fragment, with bold text.")


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b" \n\t\n", "empty file"),
    (bytes(range(256)) * 8, "binary content, not txt"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 64 + b"some text", "binary content, not txt"),
])
def test_unusable_text_files_are_refused_saying_why(tmp_path, content, reason):
    (tmp_path / "f.txt").write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_documents([tmp_path / "f.txt"])


def test_text_in_other_encodings_is_not_mistaken_for_binary(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café crème brûlée is served cold.\n".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Ünïcode text in UTF-16.\n".encode("utf-16"))
    (tmp_path / "tabs.md").write_bytes(b"col\tcol\tcol\r\n1\t2\t3\r\n\x0c\n")
    docs = load_documents([tmp_path])
    assert [d.text.strip()[:5] for d in docs] == ["café ", "col\tc", "Ünïco"]


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 1000)
    with pytest.raises(DocumentError, match=r"too large \(0.005 MB; the limit is 0.001 MB\)"):
        load_documents([tmp_path / "big.txt"], max_bytes=1000)
