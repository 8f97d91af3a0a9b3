"""PDF text that reads like the document: pypdfium2's lines, rejoined into paragraphs.

Running heads, footers and page numbers are dropped, line-end hyphenation is undone and ligatures
are spelled out. `Document.text` is this text, and `Document.pages` maps it back to the pages.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections import defaultdict
from dataclasses import dataclass

from corpus.documents import Document, Page
from corpus.errors import DocumentError

# PDFium is not thread-safe: one document is read at a time.
_PDFIUM_LOCK = threading.Lock()

# ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ: fonts draw them as one glyph, readers and search type the letters.
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_SOFT_HYPHEN = "\ufffe"  # how PDFium marks a hyphen that it takes to end a line
_LINE = re.compile(r"[^\r\n]+")
# A page number standing alone: "12", "- 12 -", "[xii]", "Page 12", "Page 12 of 40", "12/40".
_BARE_PAGE_NUMBER = re.compile(
    r"(?i)(?:page|p\.)?\s*[-–—(\[]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–—)\]]?\s*(?:(?:of|/)\s*\d{1,4})?")
_EDGE_NUMBER = re.compile(r"^(\d{1,4})\s+\S|\S\s+(\d{1,4})$")  # "12 GNU Libtasn1", "Chapter 3: Utilities 6"
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
# A line that opens a list item: "• ", "- ", "1. ", "(a) ", "a) ", "(iv) ".
_ITEM_START = re.compile(r"[•◦▪▸►‣∙*–—-]\s|\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)]\s|\((?:\d{1,3}|[a-z]|[ivx]{1,4})\)\s")
_FIXED_PITCH = 1  # the PDF font descriptor flag of monospaced fonts
_EDGE_LINES = 2  # how many lines at the top and at the bottom of a page may be a running head or foot
_MAX_HEAD_CHARS = 100


@dataclass(frozen=True)
class Line:
    """One line of a page as PDFium lays it out: its text, left edge, right edge, the baselines of its
    first and last characters (two lines when PDFium mended a hyphenated word), font size and whether
    the font is fixed-pitch.

    Geometry is None where PDFium gave none (the line is then kept as a line of its own).
    """

    text: str
    left: float | None = None
    right: float | None = None
    baseline: float | None = None
    size: float | None = None
    last_baseline: float | None = None
    fixed: bool = False  # set in a fixed-pitch (code) font


def read_pdf(data: bytes, *, doc_id: str, source: str, fallback_title: str) -> Document:
    """A PDF's text, page by page, joined by blank lines, with every page's span recorded."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise DocumentError("encrypted PDF: it needs a password") from exc
            raise DocumentError(f"corrupt PDF ({str(exc).rstrip('.')})") from exc
        try:
            pages = [_page_lines(pdf[i]) for i in range(len(pdf))]
            meta_title = pdf.get_metadata_value("Title") or ""
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"corrupt PDF ({str(exc).rstrip('.')})") from exc
        finally:
            pdf.close()
    if not any(pages):
        raise DocumentError(f"PDF with no text layer ({len(pages)} pages of images?): nothing to quote")
    pages = drop_running_heads(pages)
    layout = Layout.of(pages)
    page_texts = [page_text(lines, layout) for lines in pages]
    spans, parts, offset = [], [], 0
    for number, text in enumerate(page_texts, start=1):
        if parts:
            parts.append("\n\n")
            offset += 2
        spans.append(Page(number, offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    title = " ".join(str(meta_title).split()) or fallback_title
    return Document(doc_id, source, title, "".join(parts), kind="pdf", encoding="pdf", pages=tuple(spans))


def _page_lines(page) -> list[Line]:
    """The page's lines in PDFium's reading order, each with the geometry of its first and last characters."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        aligned = len(text) == textpage.count_chars()  # one text character per PDFium character
        x, y, flags = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
        lines = []
        for match in _LINE.finditer(text):
            stripped = match.group().strip().replace("\x00", "").translate(_LIGATURES)
            if not stripped:
                continue
            if not aligned:
                lines.append(Line(stripped))
                continue
            first = match.start() + len(match.group()) - len(match.group().lstrip())
            last = match.start() + len(match.group().rstrip()) - 1
            raw.FPDFText_GetCharOrigin(textpage.raw, first, x, y)
            left, baseline = x.value, y.value
            raw.FPDFText_GetCharOrigin(textpage.raw, last, x, y)
            right = textpage.get_charbox(last)[2]
            size = raw.FPDFText_GetFontSize(textpage.raw, first)
            raw.FPDFText_GetFontInfo(textpage.raw, first, None, 0, flags)
            lines.append(Line(_mend_inline_hyphens(stripped), left, right, baseline, size or None, y.value,
                              bool(flags.value & _FIXED_PITCH)))
        return lines
    finally:
        textpage.close()
        page.close()


def _mend_inline_hyphens(line: str) -> str:
    """PDFium joins the two halves of a hyphenated word on one line, with its marker between them."""
    while (cut := line.find(_SOFT_HYPHEN, 0, len(line) - 1)) > 0:
        line = mend_hyphenation(line[:cut] + "-", line[cut + 1:]) + line[cut + 1:]
    return line


def drop_running_heads(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages without their running heads, footers and page numbers.

    Only the first and last lines of a page are looked at. A line goes when its number counts up
    with the pages ("7", "Chapter 3: Utilities 7" on the page after "6"), on at least three pages
    (two in a two-page file), or when the same line (digits aside) opens or closes at least three
    pages and two in five of them.
    """
    edges = [_edge_indexes(len(lines)) for lines in pages]
    by_offset: dict[tuple[str, int], set[tuple[int, int]]] = defaultdict(set)
    by_text: dict[tuple[str, str], set[tuple[int, int]]] = defaultdict(set)
    for p, (lines, indexes) in enumerate(zip(pages, edges)):
        for side, i in indexes:
            line = lines[i].text
            if len(line) > _MAX_HEAD_CHARS:
                continue
            number = _page_number(line)
            if number is not None:
                by_offset[side, number - p].add((p, i))
            by_text[side, re.sub(r"\d+", "#", " ".join(line.lower().split()))].add((p, i))
    drop: set[tuple[int, int]] = set()
    need_counting = min(3, len(pages))
    for found in by_offset.values():
        if len({p for p, _ in found}) >= max(2, need_counting):
            drop |= found
    need_repeats = max(3, 0.4 * len(pages))
    for found in by_text.values():
        if len({p for p, _ in found}) >= need_repeats:
            drop |= found
    return [[line for i, line in enumerate(lines) if (p, i) not in drop] for p, lines in enumerate(pages)]


def _edge_indexes(n: int) -> list[tuple[str, int]]:
    top = [("top", i) for i in range(min(_EDGE_LINES, n))]
    return top + [("bottom", i) for i in range(max(_EDGE_LINES, n - _EDGE_LINES), n)]


def _page_number(line: str) -> int | None:
    """The page number a head or foot line shows: the whole line, or a number opening or closing it."""
    bare = _BARE_PAGE_NUMBER.fullmatch(line.strip())
    if bare:
        token = bare.group(1).lower()
        return int(token) if token.isdigit() else _roman(token)
    edge = _EDGE_NUMBER.search(line)
    return int(edge.group(1) or edge.group(2)) if edge else None


def _roman(token: str) -> int | None:
    values = [_ROMAN[c] for c in token]
    total = sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))
    return total if total > 0 else None


@dataclass(frozen=True)
class Layout:
    """What is usual in a document: the font size of most of its text and the distance between the
    baselines of two lines of a paragraph."""

    body_size: float | None
    leading: float | None

    @classmethod
    def of(cls, pages: list[list[Line]]) -> "Layout":
        sizes: dict[float, int] = defaultdict(int)
        for line in (line for lines in pages for line in lines if line.size):
            sizes[round(line.size, 1)] += len(line.text)
        if not sizes:
            return cls(None, None)
        body = max(sizes, key=sizes.get)
        drops: dict[float, int] = defaultdict(int)
        for lines in pages:
            for a, b in zip(lines, lines[1:]):
                if a.size and b.size and abs(a.size - body) < 0.1 * body and abs(b.size - body) < 0.1 * body:
                    drop = _last_baseline(a) - b.baseline
                    if 0.8 * body < drop < 3 * body:
                        drops[round(drop * 2) / 2] += 1
        return cls(body, max(drops, key=drops.get) if drops else 1.2 * body)


def page_text(lines: list[Line], layout: Layout | None = None) -> str:
    """The lines of one page as text: a line that wraps joins the next with a space (or mends the
    hyphenated word), a line that ends early ends its line, a new size or a wider gap starts a paragraph."""
    if not lines:
        return ""
    layout = layout or Layout.of([lines])
    right_edges = _column_right_edges(lines)
    parts = [lines[0].text]
    for k in range(1, len(lines)):
        above, below = lines[k - 1], lines[k]
        gap = _separator(above, below, layout, right_edges[k - 1])
        if gap == " " and _ends_in_hyphen(above.text):
            parts[-1] = mend_hyphenation(parts[-1], below.text)
            parts.append(below.text)
        else:
            parts.append(gap)
            parts.append(below.text)
    text = "".join(parts).replace(_SOFT_HYPHEN, "-")
    return text.translate(_LIGATURES)


def _separator(above: Line, below: Line, layout: Layout, column_right: float | None) -> str:
    """" " when `above` wraps onto `below`, "\\n" when `above` ends early, "\\n\\n" between paragraphs."""
    body, leading = layout.body_size, layout.leading
    if None in (above.baseline, below.baseline, above.size, below.size, body, leading, column_right):
        return " " if _hyphenated(above.text, below.text) else "\n"
    if abs(above.size - below.size) > 0.06 * body:
        return "\n\n"  # a heading, a caption, a footnote
    drop = _last_baseline(above) - below.baseline
    if drop < -0.5 * below.size:  # back up the page: a new column or a box
        return "\n\n"
    if abs(drop) < 0.5 * below.size:  # the same line, cut in two
        return " "
    if drop > 1.15 * leading * below.size / body:
        return "\n\n"
    if above.fixed or below.fixed or _ITEM_START.match(below.text):
        return "\n"  # code keeps its lines; a list item starts
    if below.left > above.left + 0.8 * below.size and not _ITEM_START.match(above.text):
        return "\n"  # an indented line: a paragraph starts (but not the hanging indent of an item)
    if _hyphenated(above.text, below.text):
        return " "
    room = column_right - above.right
    first_word = below.text.split()[0]
    char_width = (above.right - above.left) / max(1, len(above.text))
    return "\n" if room > (len(first_word) + 1) * char_width else " "


def _last_baseline(line: Line) -> float:
    return line.last_baseline if line.last_baseline is not None else line.baseline


def _ends_in_hyphen(line: str) -> bool:
    return len(line) > 1 and line[-1] in "-" + _SOFT_HYPHEN and line[-2].isalpha()


def _hyphenated(above: str, below: str) -> bool:
    return _ends_in_hyphen(above) and below[:1].islower()


def mend_hyphenation(left: str, right: str) -> str:
    """`left`, which ends with a hyphen that broke a word across lines, with that hyphen removed
    unless the word is a hyphenated compound: "imple-" + "mentation" -> "imple", "command-" + "line"
    -> "command-". The hyphen goes when the joined word is common English or the second piece is not a word."""
    if not _hyphenated(left, right):
        return left
    head = re.search(r"[^\W\d_]+$", left[:-1])
    tail = re.match(r"[^\W\d_]+", right)
    if not head or not tail:
        return left
    from wordfreq import zipf_frequency

    joined = (head.group() + tail.group()).lower()
    if zipf_frequency(joined, "en") >= 2.5 or zipf_frequency(tail.group().lower(), "en") < 2.0:
        return left[:-1]
    return left[:-1] + "-"


def _column_right_edges(lines: list[Line]) -> list[float | None]:
    """For each line, how far right its column reaches: the widest of the lines that start where it
    starts (an indented block has its own margin), else of the lines that start near it."""
    placed = [line for line in lines if line.left is not None and line.right is not None and line.size]
    if not placed:
        return [None] * len(lines)
    near = 0.25 * (max(o.right for o in placed) - min(o.left for o in placed))
    edges = []
    for line in lines:
        if line.left is None or not line.size:
            edges.append(None)
            continue
        aligned = [o.right for o in placed if abs(o.left - line.left) <= 0.5 * line.size]
        if len(aligned) < 3:
            aligned = [o.right for o in placed if abs(o.left - line.left) <= near]
        edges.append(max(aligned))
    return edges
