"""Escaped HTML for the chat: quoted answers, citations, abstentions. Document text is never trusted.

Chat messages are rendered as Markdown, where a blank line ends an HTML block; everything here is
therefore one line of HTML (line breaks in document text become `<br>`). Gradio's sanitizer drops
`data-*` attributes, so the things a click needs travel in link fragments (`#gq-cite=...`), which
the page's script (`ui.assets.HEAD`) intercepts.
"""

from __future__ import annotations

from html import escape
from typing import Sequence
from urllib.parse import quote as urlquote

ABSTAIN = "The indexed documents do not answer this."
CLOSEST = "closest passages (not an answer)"
PASSAGE_PREVIEW_CHARS = 320
MAX_CLOSEST = 3
# A quote scoring below this share of the best one is shown folded away, as a weaker candidate.
WEAK_SHARE = 0.35


def text_html(text: str) -> str:
    """Document text as inert HTML: escaped, line breaks kept, no blank lines (which would end an HTML block)."""
    return "<br>".join(escape(line, quote=True) for line in text.replace("\r", "").split("\n"))


def cite_target(doc_id: str, start: int, end: int, sha256: str = "") -> str:
    """`doc_id:start:end:sha` — what a citation link carries to the source panel (see `ui.source.parse_target`)."""
    return f"{doc_id}:{int(start)}:{int(end)}:{sha256[:12]}"


def _href(action: str, payload: str) -> str:
    return escape(f"#gq-{action}={urlquote(payload, safe='')}", quote=True)


def cite_link(label_html: str, doc_id: str, start: int, end: int, sha256: str = "", *,
              cls: str = "gq-cite-link") -> str:
    """A link that opens the source panel at this span; `label_html` must already be escaped."""
    return (f'<a class="{cls}" href="{_href("cite", cite_target(doc_id, start, end, sha256))}" '
            f'title="show in the source panel">{label_html}</a>')


def location(page: int | None, start: int, end: int) -> str:
    """`p. 3, chars 120–180` (no page for unpaged documents)."""
    return (f"p. {page}, " if page else "") + f"chars {start}–{end}"


def copy_texts(quote) -> tuple[str, str]:
    """The quote with its citation, as plain text and as Markdown, for the copy buttons."""
    where = f"{quote.source}, {location(quote.page, quote.start, quote.end)}"
    plain = f"\u201c{' '.join(quote.text.split())}\u201d \u2014 {quote.title} ({where})"
    body = "\n".join("> " + line for line in quote.text.strip().splitlines())
    markdown = f"{body}\n>\n> \u2014 {quote.title}, `{quote.source}`, {location(quote.page, quote.start, quote.end)}"
    return plain, markdown


def user_html(message: str) -> str:
    """The visitor's question, escaped (shown back as text, never as Markdown or HTML)."""
    return f'<div class="gq-user">{text_html(message)}</div>'


def error_html(message: str) -> str:
    return f'<div class="gq-error" role="alert">\u26a0 {escape(str(message))}</div>'


def answer_html(answer, verified: Sequence[bool], *, answer_id: str | None = None) -> str:
    """The chat message for an `Answer`: quotes with [n] markers and per-document citations, or an abstention.

    `verified[i]` says whether `answer.quotes[i]` still stands in its document (`kb.verify`); a
    quote that does not is reported as an error and never shown as an answer.
    """
    meta = [f"confidence {answer.confidence:.3f}"]
    threshold = answer.provenance.get("threshold") if isinstance(answer.provenance, dict) else None
    if isinstance(threshold, (int, float)):
        meta.append(f"threshold {threshold:.3f}")
    bad = [q for q, ok in zip(answer.quotes, verified) if not ok]
    good = [q for q, ok in zip(answer.quotes, verified) if ok]
    errors = "".join(error_html(f"a quote from {q.source} ({location(q.page, q.start, q.end)}) does not match "
                                "the document any more and was withheld; re-index it") for q in bad)
    if answer.abstained or not good:
        body = (f'<p class="gq-verdict">{escape(ABSTAIN)}</p>' + _meta_html(meta, answer_id) + errors
                + _closest_html(answer.passages))
        return f'<div class="gq-answer gq-abstained">{body}</div>'
    groups = _distinct(good)
    best = max(qs[0].score for qs in groups)
    strong = [(n, qs) for n, qs in enumerate(groups, 1) if qs[0].score >= WEAK_SHARE * best]
    weak = [(n, qs) for n, qs in enumerate(groups, 1) if qs[0].score < WEAK_SHARE * best]
    docs = list(dict.fromkeys(q.doc_id for _, qs in strong for q in qs))
    if len(docs) > 1:
        meta.append(f"corroborated by {len(docs)} documents")
    quotes = "".join(_quote_html(n, qs[0]) for n, qs in strong)
    more = ""
    if weak:
        label = f"{len(weak)} weaker candidate sentence{'s' if len(weak) > 1 else ''}"
        more = (f'<details class="gq-more"><summary>{label}</summary>'
                + "".join(_quote_html(n, qs[0]) for n, qs in weak) + _sources_html(weak) + "</details>")
    return (f'<div class="gq-answer">{quotes}{_meta_html(meta, answer_id)}{errors}'
            f'{_sources_html(strong)}{more}</div>')


def _distinct(quotes) -> list[list]:
    """Quotes grouped by sentence text: identical sentences from duplicate files are shown once."""
    groups: dict[str, list] = {}
    for q in quotes:
        groups.setdefault(" ".join(q.text.split()).lower(), []).append(q)
    return list(groups.values())


def _quote_html(n: int, q) -> str:
    marker = cite_link(f"[{n}]", q.doc_id, q.start, q.end, q.doc_sha256, cls="gq-marker")
    return f'<blockquote class="gq-quote"><span class="gq-qtext">{text_html(q.text)}</span> {marker}</blockquote>'


def _meta_html(parts: list[str], answer_id: str | None) -> str:
    items = [escape(p) for p in parts]
    if answer_id:
        items.append(f'<a class="gq-json" href="{_href("json", answer_id)}" title="provenance of this answer">'
                     "download JSON</a>")
    return f'<p class="gq-meta">{" · ".join(items)}</p>'


def _sources_html(numbered: list[tuple[int, list]]) -> str:
    """Citations grouped per document (corroboration), in the order the documents first support the answer."""
    out = ['<div class="gq-sources">']
    for doc_id in dict.fromkeys(q.doc_id for _, qs in numbered for q in qs):
        cites = [(n, q) for n, qs in numbered for q in qs if q.doc_id == doc_id]
        first = cites[0][1]
        out.append(f'<div class="gq-doc"><div class="gq-doc-head"><span class="gq-title">{escape(first.title)}</span> '
                   f'<code class="gq-file">{escape(first.source)}</code></div>')
        out.extend(_citation_html(n, q) for n, q in cites)
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def _citation_html(n: int, q) -> str:
    plain, markdown = copy_texts(q)
    label = escape(f"[{n}] {location(q.page, q.start, q.end)}")
    return (f'<div class="gq-cite">{cite_link(label, q.doc_id, q.start, q.end, q.doc_sha256)}'
            f' · <span class="gq-verified" title="the quote is, character for character, the document\'s text">'
            f'\u2713 verified</span> · <span class="gq-score">score {q.score:.2f}</span>'
            f' · <a class="gq-copy" href="{_href("copy", plain)}" title="copy the quote with its citation">copy</a>'
            f' · <a class="gq-copy" href="{_href("copy", markdown)}" title="copy as Markdown">copy Markdown</a></div>')


def _closest_html(passages: Sequence) -> str:
    if not passages:
        return '<p class="gq-meta">No passage in the indexed documents is close to this question.</p>'
    out = [f'<p class="gq-heading">{escape(CLOSEST)}</p>']
    for n, p in enumerate(passages[:MAX_CLOSEST], 1):
        text = " ".join(p.text.split())
        if len(text) > PASSAGE_PREVIEW_CHARS:
            text = text[:PASSAGE_PREVIEW_CHARS].rsplit(" ", 1)[0] + " \u2026"
        out.append(f'<div class="gq-passage"><div class="gq-ptext">{escape(text)}</div>'
                   f'<div class="gq-cite">{_passage_link(p, n)}</div></div>')
    return "".join(out)


def _passage_link(p, number: int | None) -> str:
    marker = f"[{number}] " if number is not None else ""
    label = (f"{marker}<b>{escape(p.title)}</b> \u2014 <code>{escape(p.source)}</code>, "
             f"{escape(location(p.page, p.start, p.end))}")
    return cite_link(label, p.doc_id, p.start, p.end)


def citation_html(passage, *, number: int | None = None) -> str:
    """`[n] Title — source, p. N, chars S–E` with every part escaped, linked to the source panel."""
    return f'<span class="gq-cite">{_passage_link(passage, number)}</span>'


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


def documents_html(documents: Sequence[dict]) -> str:
    """The indexed documents as an escaped table: title, source file, chunks."""
    rows = "".join(f'<tr><td>{escape(d["title"])}</td><td><code>{escape(d["source"])}</code></td>'
                   f'<td class="gq-num">{int(d["chunks"])}</td></tr>' for d in documents)
    return ('<table class="gq-doclist"><thead><tr><th>title</th><th>source</th><th>chunks</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def status_html(ok: bool, status: str, notes: Sequence[str] = ()) -> str:
    """One status line (escaped) with the notes under it, e.g. skipped files."""
    cls = "gq-status-ok" if ok else "gq-error"
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f'<div class="{cls}">{escape(status)}</div>' + (f'<ul class="gq-status-notes">{items}</ul>' if items else "")
