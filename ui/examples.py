"""Example questions offered as chips: given by the caller, or known ones for the bundled sample corpus."""

from __future__ import annotations

SAMPLE_FILES = frozenset({
    "club-rules-and-contacts.html", "feeding-bees.txt", "glossary.md", "hive-anatomy-and-equipment.md",
    "honey-harvest-and-extraction.pdf", "inspections-and-safety.txt", "overwintering.txt",
    "seasonal-calendar.md", "swarming-and-swarm-prevention.html", "the-colony.md", "varroa-mites.md",
})
SAMPLE_QUESTIONS = (
    "How long should Apivar strips stay in the brood nest?",
    "When is the average last spring frost in Millbrook?",
    "What is the maximum moisture content for extracted honey?",
    "What number should I call to report a swarm?",
)


def examples_for(kb) -> list[str]:
    """The sample questions when `kb` holds (most of) the bundled sample corpus, else none."""
    ids = {d.doc_id.rsplit("/", 1)[-1] for d in kb.records}
    return list(SAMPLE_QUESTIONS) if len(ids & SAMPLE_FILES) * 2 > len(SAMPLE_FILES) else []
