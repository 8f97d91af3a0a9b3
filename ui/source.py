"""The source panel: a document around a cited span, with exactly `text[start:end]` inside `<mark>`."""

from __future__ import annotations

from html import escape

from ui.render import location

CONTEXT_CHARS = 700
EMPTY = ('<div class="gq-src gq-src-empty">Click a citation such as <b>[1]</b> to see the quoted sentence '
         "in its document.</div>")


def parse_target(target: str) -> tuple[str, int, int, str]:
    """`doc_id:start:end:sha` (sha may be empty) → its parts; ValueError when malformed."""
    doc_id, start, end, sha = str(target).rsplit(":", 3)
    start_i, end_i = int(start), int(end)
    if not doc_id or start_i < 0 or end_i < start_i:
        raise ValueError(f"bad citation target {target!r}")
    return doc_id, start_i, end_i, sha


def source_html(doc, start: int, end: int, *, whole: bool = False, sha: str = "",
                context: int = CONTEXT_CHARS) -> str:
    """The document around text[start:end] (or all of it), the span highlighted, everything escaped."""
    text = doc.text
    if end > len(text):
        return _error(f"chars {start}–{end} are past the end of {doc.source} ({len(text)} characters): "
                      "the document changed since this answer; ask again")
    a, b = (0, len(text)) if whole else _window(text, start, end, context)
    head = (f'<div class="gq-src-head"><span class="gq-title">{escape(doc.title)}</span> '
            f'<code class="gq-file">{escape(doc.source)}</code>'
            f'<span class="gq-src-loc">{escape(location(doc.page_at(start), start, end))}</span></div>')
    notes = []
    if sha and not doc.sha256.startswith(sha):
        notes.append("This document was replaced after the answer was given: the highlighted span may "
                     "no longer be the quoted text.")
    if not whole and (a > 0 or b < len(text)):
        notes.append(f"Showing characters {a}–{b} of {len(text)}; "
                     "tick \u201cshow whole document\u201d for all of it.")
    note = "".join(f'<p class="gq-src-note">{escape(n)}</p>' for n in notes)
    body = (("\u2026" if a > 0 else "") + _pages(doc, text, a, start) + '<mark id="gq-highlight">'
            + escape(text[start:end]) + "</mark>" + _pages(doc, text, end, b) + ("\u2026" if b < len(text) else ""))
    return f'<div class="gq-src">{head}{note}<div class="gq-src-text" id="gq-src-text">{body}</div></div>'


def _window(text: str, start: int, end: int, context: int) -> tuple[int, int]:
    """About `context` characters either side of the span, widened to whole words."""
    a, b = max(0, start - context), min(len(text), end + context)
    if a > 0:
        cut = text.find(" ", a, start)
        a = cut + 1 if cut != -1 else a
    if b < len(text):
        cut = text.rfind(" ", end, b)
        b = cut if cut != -1 else b
    return a, b


def _pages(doc, text: str, a: int, b: int) -> str:
    """text[a:b] escaped, with a page label where each PDF page in that range begins."""
    starts = [(p.start, p.number) for p in getattr(doc, "pages", ()) if a < p.start < b]
    out, pos = [], a
    for at, number in starts:
        out.append(escape(text[pos:at]))
        out.append(f'<span class="gq-page" data-page="{number}" role="separator" aria-label="page {number}"></span>')
        pos = at
    out.append(escape(text[pos:b]))
    return "".join(out)


def _error(message: str) -> str:
    return f'<div class="gq-src"><div class="gq-error" role="alert">\u26a0 {escape(message)}</div></div>'


def error_panel(message: str) -> str:
    return _error(message)
