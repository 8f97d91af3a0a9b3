#!/usr/bin/env python3
"""Build the sample PDF(s) of the bundled corpus from plain-text sources.

Each source file ``scripts/pdf_source/<name>.txt`` becomes
``corpus/samples/<name>.pdf``. The sources live outside ``corpus/samples`` so
that the same text is not indexed twice.

Source format (a small markdown-ish subset):

    # Title            document title (first line; also the PDF metadata title)
    ## Heading         section heading
    - item             bullet item (one line per item)
    ---                explicit page break
    (blank line)       paragraph separator; other lines are paragraph text

The PDF uses the core Helvetica font, so the source must be latin-1 only
(the script refuses anything else). Output is deterministic: the creation
date is fixed, so re-running the script yields byte-identical files.

Usage:
    .venv/bin/python scripts/make_sample_pdf.py            # build all sources
    .venv/bin/python scripts/make_sample_pdf.py NAME ...   # build selected ones
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "scripts" / "pdf_source"
OUTPUT_DIR = ROOT / "corpus" / "samples"

AUTHOR = "Millbrook Beekeepers' Association"
HANDBOOK = "The Backyard Beekeeping Handbook"
FIXED_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)

BODY_SIZE = 11
LINE_H = 6


class HandbookPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 10, f"{HANDBOOK} - page {self.page_no()} of {{nb}}", align="C")


def parse(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return (title, blocks); a block is (kind, text) with kind in
    {"heading", "para", "bullet", "pagebreak"}."""
    title = ""
    blocks: list[tuple[str, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("para", " ".join(para)))
            para.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            blocks.append(("heading", line[3:].strip()))
        elif line.startswith("# "):
            flush()
            if title:
                raise ValueError("only one '# ' title line is allowed")
            title = line[2:].strip()
        elif line == "---":
            flush()
            blocks.append(("pagebreak", ""))
        elif line.startswith("- "):
            flush()
            blocks.append(("bullet", line[2:].strip()))
        else:
            para.append(line)
    flush()
    if not title:
        raise ValueError("source has no '# ' title line")
    return title, blocks


def build(source: Path, output: Path) -> None:
    text = source.read_text(encoding="utf-8")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SystemExit(f"{source}: non-latin-1 character, core fonts cannot render it: {exc}")
    title, blocks = parse(text)

    pdf = HandbookPDF(format="Letter")
    pdf.set_title(title)
    pdf.set_author(AUTHOR)
    pdf.set_subject(HANDBOOK)
    pdf.set_creator("scripts/make_sample_pdf.py")
    pdf.set_lang("en")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 10, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    prev = None
    for kind, content in blocks:
        if kind == "pagebreak":
            pdf.add_page()
        elif kind == "heading":
            if prev not in (None, "pagebreak"):
                pdf.ln(3)
            pdf.set_font("Helvetica", "B", 14)
            pdf.multi_cell(0, 8, content, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
        elif kind == "bullet":
            pdf.set_font("Helvetica", "", BODY_SIZE)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, LINE_H, "- " + content, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
        else:  # paragraph
            if prev == "bullet":
                pdf.ln(2)
            pdf.set_font("Helvetica", "", BODY_SIZE)
            pdf.multi_cell(0, LINE_H, content, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(3)
        prev = kind

    output.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(output))
    print(f"wrote {output.relative_to(ROOT)} ({pdf.pages_count} pages, title {title!r})")


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in SOURCE_DIR.glob("*.txt"))
    if not names:
        print(f"no sources in {SOURCE_DIR}", file=sys.stderr)
        return 1
    for name in names:
        source = SOURCE_DIR / f"{name}.txt"
        if not source.is_file():
            print(f"missing source {source}", file=sys.stderr)
            return 1
        build(source, OUTPUT_DIR / f"{name}.pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
