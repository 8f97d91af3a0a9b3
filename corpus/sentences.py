"""Sentence spans of a text: blocks (paragraphs, headings, list items), then sentence ends inside them."""

from __future__ import annotations

import re

# Words that end with a period without ending a sentence (lower-cased, without the final period).
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx apprx ca no nos vol vols fig figs
eq eqs ed eds inc ltd co corp dept est gen gov jan feb mar apr jun jul aug sep sept oct nov dec
mon tue tues wed thu thur thurs fri sat sun rev sgt capt col lt cmdr adm pp p para sec min max
u.s u.k u.n e.u a.m p.m ph.d b.a m.a b.sc m.sc d.c a.d b.c no op ref refs tel approx viz incl
""".split())

# A line that starts a block of its own: a Markdown heading, a list item ("- ", "1. ", "(a) "), a
# quote, a table row.
_BLOCK_START = re.compile(r"[ \t]*(?:#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|\((?:\d{1,3}|[a-zA-Z]|[ivxlc]{1,5})\)\s|>|\|)")
# A line that starts a block when the line above closed a clause: an item labelled by a letter or a
# roman numeral ("a) ", "b. ", "iv) "), a field of an API reference ("Returns:", "name: ...",
# "name (int): ...", "der len: ...", "name – ...").
_ITEM_AFTER_CLAUSE = re.compile(r"""[ \t]*(?:
    (?:[a-zA-Z]|[ivxlc]{2,5})[.)]\s
    | [\w*.\[\]-]+(?:[ ][\w*.\[\]-]+){0,2}(?:[ ]\([^)\n]*\))?:(?:\s|$)
    | [\w*.\[\]]+(?:[ ]\([^)\n]*\))?[ ](?:–|—|--?)[ ])""", re.X)
# The end of a line that closes a clause: ". : ; ! ?" (before closing quotes), or "; and", ", or".
_CLAUSE_END = re.compile(r"""(?:[.:;!?]|[;,][ \t]*(?:and|or))["'”’)\]]*[ \t]*$""")
# The label opening a list item or a numbered heading, whose period ends no sentence: "2.", "b.", "iv.", "3.1.1.".
_ITEM_LABEL = re.compile(r"[ \t]*(?:\d{1,3}(?:\.\d{1,3})*|[a-zA-Z]|[ivxlcIVXLC]{1,5})\.(?=[ \t]+\S)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A candidate sentence end: terminal punctuation, optional closing quotes/brackets, then space.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)""")
_NEXT_STARTS_SENTENCE = re.compile(r"""\s+["'“‘(\[]*[A-Z0-9À-Ý]""")
_TABLE_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
# A news dateline opening a paragraph: an optional stamp ("date 2023-07-25"), the place in capitals
# with an optional date ("LONDON, July 25"), the source in brackets, then the story: after a dash,
# or, when the brackets hold a date ("(Sputnik - 25th July, 2023)"), right away.
_DATELINE = re.compile(r"""
    (?P<stamp>(?:[A-Za-z]+:?[ ])?\d[\d/.-]*[ ]+)?
    (?P<place>[A-Z][A-Z'.-]+(?:[ ][A-Z][A-Z'.-]+){0,3}(?:,[ ][A-Z][\w.]*(?:[ ][\w.]+){0,2})?)
    [ ]?\((?P<source>[^()\n]{2,80})\)
    (?P<dash>[ ]*[-–—:]+)?
    (?=[ ]+["“]?[A-Z]|$)""", re.X)
# An enumerated point: "Firstly," ... "Tenthly,", "First," ... "Tenth,", "Finally,", "Lastly,".
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_ENUMERATION = re.compile(r"(?P<ordinal>%s)(?:ly)?,[ ]|(?P<last>Finally|Lastly),[ ]"
                          % "|".join(o.capitalize() for o in _ORDINALS))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentences of `text`, in order, whitespace trimmed.

    Every non-whitespace character of `text` lies in exactly one span.
    """
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text):
        spans.extend(_sentences_in_block(text, block_start, block_end))
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraphs, and inside them each line that starts a heading, list item or quote."""
    blocks: list[tuple[int, int]] = []
    pos = 0
    for brk in list(_PARAGRAPH_BREAK.finditer(text)) + [None]:
        end = brk.start() if brk else len(text)
        blocks.extend(_split_lines(text, pos, end))
        pos = brk.end() if brk else len(text)
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in blocks) if s < e]


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces, piece_start = [], start
    line_start = start
    heading_line = False
    clause_closed = False
    while line_start < end:
        nl = text.find("\n", line_start, end)
        line_end = end if nl == -1 else nl
        line = text[line_start:line_end]
        starts_block = bool(_BLOCK_START.match(line)) or (clause_closed and bool(_ITEM_AFTER_CLAUSE.match(line)))
        if line_start > piece_start and (starts_block or heading_line):
            pieces.append((piece_start, line_start))
            piece_start = line_start
        heading_line = line.lstrip().startswith("#")
        clause_closed = bool(_CLAUSE_END.search(line))
        line_start = line_end + 1
    pieces.append((piece_start, end))
    return pieces


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences_in_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, sent_start = [], start
    opening = dateline(text, start)
    if opening and opening[1] < end:  # the dateline is a sentence of its own, not the story's first words
        spans.append(opening)
        sent_start = opening[1]
    block = text[start:end]
    label = _ITEM_LABEL.match(text, start, end)
    for match in _SENTENCE_END.finditer(block):
        cut = start + match.end()
        if label and cut == label.end():
            continue  # "2. You may modify ...": the item's label, not a sentence
        if not _NEXT_STARTS_SENTENCE.match(text, cut, end):
            continue
        if match.group().startswith(".") and _is_abbreviation(text, sent_start, start + match.start()):
            continue
        s, e = _trim(text, sent_start, cut)
        if s < e:
            spans.append((s, e))
        sent_start = cut
    s, e = _trim(text, sent_start, end)
    if s < e:
        spans.append((s, e))
    return spans


def _is_abbreviation(text: str, sent_start: int, dot: int) -> bool:
    """Whether the word before the period at `dot` is an abbreviation or an initial."""
    word_start = dot
    while word_start > sent_start and not text[word_start - 1].isspace() and text[word_start - 1] not in "([\"'“":
        word_start -= 1
    word = text[word_start:dot]
    if not word:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "J. Smith"
    return word.lower() in ABBREVIATIONS


def dateline(text: str, start: int) -> tuple[int, int] | None:
    """The span of the news dateline ("BEIJING (Reuters) -") that opens the text at `start`, else None."""
    match = _dateline_match(text, start)
    return (start, match.end()) if match else None


def dateline_reading(sentence: str) -> str | None:
    """What a dateline says, in words a question uses: "BEIJING (Reuters) -" reads "This news story
    was reported from BEIJING by Reuters." None when `sentence` is not a dateline."""
    match = _dateline_match(sentence, 0)
    if not match or match.end() != len(sentence):
        return None
    said = f"This news story was reported from {match.group('place')} by {match.group('source').strip()}"
    return f"{said} ({match.group('stamp').strip()})." if match.group("stamp") else f"{said}."


def _dateline_match(text: str, start: int) -> re.Match | None:
    match = _DATELINE.match(text, start)
    if not match or not (match.group("dash") or re.search(r"\d", match.group("source"))):
        return None  # "NATO (North Atlantic Treaty Organization) Summit": brackets, but no dateline
    return match


def enumeration_reading(sentence: str) -> str | None:
    """An enumerated point with its place spelled out: "Fourthly, ..." reads "The fourth point: Fourthly,
    ...", so a question about "the fourth point" finds it. None when `sentence` is not one."""
    match = _ENUMERATION.match(sentence)
    if not match:
        return None
    place = match.group("ordinal").lower() if match.group("ordinal") else "last"
    return f"The {place} point: {sentence}"


def table_header(text: str, start: int) -> tuple[int, int] | None:
    """The span of the header row of the Markdown table whose body row starts at `start`, else None.

    A body row such as `| Queen | day 3 | day 16 |` means little without its column names, so the
    answer scorer reads it with the header; the quote stays the row itself.
    """
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip() or not text.startswith("|", start):
        return None
    first = line_start
    while first > 0:  # walk up to the table's first line
        above = text.rfind("\n", 0, first - 1) + 1
        if not text[above:first - 1].lstrip().startswith("|"):
            break
        first = above
    header_end = text.find("\n", first)
    if header_end == -1 or header_end + 1 >= line_start:
        return None  # `start` is the header or the separator row
    separator_end = text.find("\n", header_end + 1)
    separator = text[header_end + 1:len(text) if separator_end == -1 else separator_end]
    if not _TABLE_SEPARATOR.match(separator):
        return None
    return _trim(text, first, header_end)


def scoring_text(text: str, start: int, end: int) -> str:
    """What the answer scorer reads for the sentence `text[start:end]`; the quote itself stays the sentence.

    Mostly the sentence; what a convention leaves implicit is spelled out: a table row is read
    under its header row, a news dateline as who reported it from where, an enumerated point
    ("Fourthly, ...") with its place in the list.
    """
    sentence = text[start:end]
    header = table_header(text, start)
    if header:
        return f"{text[header[0]:header[1]]}\n{sentence}"
    return dateline_reading(sentence) or enumeration_reading(sentence) or sentence
