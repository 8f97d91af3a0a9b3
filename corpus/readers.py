"""Readers that turn one file into a `Document`: plain text and Markdown, HTML, PDF."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from corpus.documents import Document
from corpus.errors import DocumentError
from corpus.pdf_reader import read_pdf

# Beyond this share of undecodable bytes among non-ASCII ones, a file is not UTF-8 with a few bad
# bytes but another encoding, and a single-byte code page reads it better.
_MAX_BAD_UTF8_SHARE = 0.1


def read_document(path: Path, *, doc_id: str, source: str, max_bytes: int | None = None) -> Document:
    """Read `path` by its suffix; raise DocumentError, saying why, for a file that gives no usable text.

    Refused: unreadable, empty, larger than `max_bytes`, binary content under a text suffix, a
    corrupt or encrypted PDF or one without a text layer, and any file whose text is only whitespace.
    """
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise DocumentError(f"too large ({size / 1e6:.3g} MB; the limit is {max_bytes / 1e6:g} MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"unreadable ({exc.strerror or exc})") from exc
    if not data.strip():
        raise DocumentError("empty file")
    if suffix == ".pdf":
        document = read_pdf(data, doc_id=doc_id, source=source, fallback_title=path.stem)
        if not document.text.strip():
            raise DocumentError("PDF with no text layer: nothing to quote")
        return document
    text, encoding = decode_text(data)
    if looks_binary(text):
        raise DocumentError(f"binary content, not {suffix.lstrip('.') or 'text'}")
    document = _read_text(path, suffix, doc_id, source, text, encoding)
    if not document.text.strip():
        raise DocumentError("no visible text")
    return document


def looks_binary(text: str, *, sample: int = 65536) -> bool:
    """Whether decoded file text is really binary data: NULs, or many control characters
    (over 1 in 20 of the first `sample`), which no text document has."""
    head = text[:sample]
    if "\x00" in head:
        return True
    control = sum(1 for ch in head if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or 0x7f <= ord(ch) < 0xa0)
    return control > len(head) / 20


def _read_text(path: Path, suffix: str, doc_id: str, source: str, text: str, encoding: str) -> Document:
    if suffix in (".html", ".htm"):
        title, visible = html_to_text(text)
        return Document(doc_id, source, title or path.stem, visible, kind="html", encoding=encoding)
    kind = "md" if suffix in (".md", ".markdown") else "txt"
    title = markdown_title(text)
    return Document(doc_id, source, title or path.stem, text, kind=kind, encoding=encoding)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode file bytes, returning (text, encoding used).

    UTF-8 first (a BOM is dropped); a file that is UTF-8 but for a few bad bytes keeps U+FFFD in
    their place; otherwise cp1252, then latin-1, which never fails.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data, bom = data[3:], True
    else:
        bom = False
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    replaced = data.decode("utf-8", errors="replace")
    bad = replaced.count("\ufffd") - data.count("\xef\xbf\xbd".encode("latin-1"))
    non_ascii = sum(1 for b in data if b >= 0x80) or 1
    if bad / non_ascii <= _MAX_BAD_UTF8_SHARE:
        return replaced, "utf-8 (invalid bytes replaced)"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SETEXT_HEADING = re.compile(r"^(\S[^\n]*)\n(?:=+|-+)[ \t]*$", re.MULTILINE)


def markdown_title(text: str) -> str | None:
    """The first Markdown-style heading (ATX `# Title` or setext underline), if any; plain text too."""
    found = [m for m in (_ATX_HEADING.search(text), _SETEXT_HEADING.search(text)) if m]
    if not found:
        return None
    return min(found, key=lambda m: m.start()).group(1).strip()


_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr", "pre", "figure",
    "figcaption", "dl", "dt", "dd", "hr", "address", "details", "summary", "form", "fieldset",
}
_HIDDEN_TAGS = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}


class _VisibleText(HTMLParser):
    """Visible text of a page; a table becomes a Markdown pipe table, one row a line, so that a row
    keeps its cell boundaries and its column names (the header row, then a `|---|` separator)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.first_h1: list[str] | None = None
        self._hidden = 0
        self._in_title = False
        self._in_h1 = False
        self._bullet = False  # a list item opened and its "- " is not written yet
        self._tables: list[int] = []  # rows written so far, per open table (innermost last)
        self._row: list[list[str]] | None = None  # cells of the open row, each a list of text pieces

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "table":
            if self._row is None:
                self._tables.append(0)
                self.parts.append("\n\n")
        elif tag == "tr" and self._tables and self._row is None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append([])
        elif self._row is not None:
            self._text(" ")  # inside a cell, line breaks and blocks are spaces
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag != "li" else "\n")
            self._bullet = self._bullet or tag == "li"
        if tag == "h1" and self.first_h1 is None:
            self.first_h1, self._in_h1 = [], True

    def handle_endtag(self, tag):
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "tr" and self._row is not None:
            self._end_row()
        elif tag == "table" and self._tables and self._row is None:
            self._tables.pop()
            self.parts.append("\n\n")
        elif self._row is not None:
            self._text(" ")
        elif tag in _BLOCK_TAGS and tag != "li":
            self.parts.append("\n\n")
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_title:
            self.title.append(data)
            return
        if self._hidden:
            return
        self._text(data)
        if self._in_h1 and self.first_h1 is not None:
            self.first_h1.append(data)

    def close(self):
        super().close()
        if self._row is not None:
            self._end_row()

    def _text(self, data: str) -> None:
        if self._row is None and self._tables:  # between rows: a caption gets its own line
            if data.strip():
                self.parts.append(f"\n{data}\n")
        elif self._row is None:
            if self._bullet and data.strip():
                self.parts.append("- ")
                data, self._bullet = data.lstrip(), False
            self.parts.append(data)
        elif self._row:
            self._row[-1].append(data)
        elif data.strip():  # text in a row but outside any cell
            self._row.append([data])

    def _end_row(self) -> None:
        cells = [" ".join("".join(c).split()).replace("|", "\\|") for c in self._row or []]
        self._row = None
        if not any(cells):
            return
        self.parts.append("| " + " | ".join(cells) + " |\n")
        if self._tables[-1] == 0:
            self.parts.append("|" + "---|" * len(cells) + "\n")
        self._tables[-1] += 1


def html_to_text(html: str) -> tuple[str | None, str]:
    """(title, text) of an HTML page: its main content, without site menus, tables of contents,
    sidebars and footers, blocks on their own lines; the whole visible text when no main content is
    found (a tiny page)."""
    page = _parse(html)
    h1 = " ".join("".join(page.first_h1).split()) if page.first_h1 else ""
    title = " ".join("".join(page.title).split()) or h1
    visible = _tidy_lines("".join(page.parts))
    main = main_content_html(html)
    text = _tidy_lines("".join(_parse(main).parts)) if main else ""
    if not text:
        return title or None, visible
    for headline in (h1, title):  # the page's headline, when the extractor took it for a banner
        if (headline and headline not in text[:len(headline) + 200]
                and re.search(rf"(?m)^{re.escape(headline)}$", visible)):
            text = f"{headline}\n\n{text}"
            break
    return title or None, text


_SCRIPT_OR_STYLE = re.compile(r"(?is)<(script|style)\b[^>]*>.*?</\1\s*>")


def main_content_html(html: str) -> str | None:
    """The page's main content as simplified HTML (headings, paragraphs, lists, tables, code), found
    by trafilatura; None when it finds none.

    trafilatura keeps headings only inside a content container it recognises; a page without an
    <article> or <main> gets its body wrapped in an <article>, inside which navigation, menus and
    tables of contents are pruned as usual. (SQLite's pages, for one, have neither.)
    """
    import trafilatura

    html = _SCRIPT_OR_STYLE.sub(r"<\1></\1>", html)  # never content; a 2 MB script would cost its parse
    tree = trafilatura.load_html(html) if html.strip() else None
    if tree is None:
        return None
    for quote in tree.xpath("//blockquote[.//table]"):
        quote.tag = "div"  # trafilatura flattens a table inside a quote into loose cells
    body = tree.find("body")
    if body is not None and not tree.xpath("//article|//main"):
        article = body.makeelement("article", {})
        article.text, body.text = body.text, None
        article.extend(list(body))
        body.append(article)
    main = trafilatura.extract(tree, output_format="html", include_tables=True, include_comments=False, fast=True,
                               include_images=False, include_links=False, favor_recall=True,
                               deduplicate=False, with_metadata=False)
    # The output is pretty-printed: a newline and indentation between tags is layout, not text
    # (text cannot hold a bare "<" or ">", so only tags match).
    return re.sub(r">\n\s*<", "><", main) if main else None


def _parse(html: str) -> _VisibleText:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser


def _tidy_lines(raw: str) -> str:
    """Collapse runs of spaces inside lines and keep at most one blank line between blocks."""
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
