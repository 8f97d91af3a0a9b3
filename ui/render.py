"""Escaped HTML for what the chat shows: quoted excerpts and their citations. Document text is never trusted."""

from __future__ import annotations

from html import escape
from typing import Sequence


def text_html(text: str) -> str:
    """Document text as inert HTML: escaped, line breaks kept, no blank lines (which would end an HTML block)."""
    return "<br>".join(escape(line, quote=True) for line in text.split("\n"))


def citation_html(passage, *, number: int | None = None) -> str:
    """`[n] Title — source, p. N, chars S–E` with every part escaped."""
    page = f", p. {passage.page}" if passage.page else ""
    marker = f"[{number}] " if number is not None else ""
    return (f'<span class="gq-cite">{marker}<b>{escape(passage.title)}</b> — '
            f'<code>{escape(passage.source)}</code>{page}, chars {passage.start}–{passage.end}</span>')


def passages_html(passages: Sequence, *, heading: str | None = None) -> str:
    """Each passage as a block quote followed by its citation, in one HTML block."""
    if not passages:
        return '<div class="gq-answer"><p>No passage in the indexed documents matches this question.</p></div>'
    parts = ['<div class="gq-answer">']
    if heading:
        parts.append(f'<p class="gq-heading">{escape(heading)}</p>')
    for n, p in enumerate(passages, start=1):
        parts.append(f'<blockquote class="gq-quote">{text_html(p.text)}</blockquote>')
        parts.append(f"<p>{citation_html(p, number=n)}</p>")
    parts.append("</div>")
    return "".join(parts)
