"""One corpus on both vector stores, with the real model and the reader: FAISS and Milvus Lite give
the same answer to every question of the sample set, and the same after an upload and a removal."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, SAMPLES, write
from qa import KnowledgeBase

pytestmark = pytest.mark.slow
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install milvus-lite)")

QUESTIONS = [json.loads(line)["question"] for name in ("sample_questions", "sample_near_misses")
             for line in open(ROOT / "tests" / "data" / f"{name}.jsonl", encoding="utf-8") if line.strip()]


def _answers(kb):
    out = []
    for question in QUESTIONS:
        answer = kb.ask(question)
        out.append((question, answer.abstained, round(answer.confidence, 3),
                    [(q.doc_id, q.start, q.end) for q in answer.quotes]))
    return out


def test_faiss_and_milvus_lite_answer_alike(tmp_path, encoder):
    faiss_kb = KnowledgeBase.build([SAMPLES], index_dir=tmp_path / "faiss", encoder=encoder, show_progress=False)
    milvus_kb = KnowledgeBase.build([SAMPLES], index_dir=tmp_path / "milvus", encoder=encoder, show_progress=False,
                                    store=f"milvus-lite:{tmp_path / 'kb.db'}")
    assert milvus_kb.store.startswith("Milvus collection")
    for ours, theirs in zip(_answers(milvus_kb), _answers(faiss_kb)):
        assert ours == theirs
    note = write(tmp_path / "up" / "swarm-calendar.md",
                 "# Swarm calendar\n\nIn Millbrook the first swarms of the year are usually caught in the second "
                 "week of May.\n")
    faiss_kb, _ = faiss_kb.add([note], prefix="uploads/")
    milvus_kb, _ = milvus_kb.add([note], prefix="uploads/")
    faiss_kb = faiss_kb.remove(["the-colony.md"])
    milvus_kb = milvus_kb.remove(["the-colony.md"])
    question = "When are the first swarms of the year usually caught in Millbrook?"
    assert milvus_kb.ask(question).quotes[0].doc_id == "uploads/swarm-calendar.md"
    for ours, theirs in zip(_answers(milvus_kb), _answers(faiss_kb)):
        assert ours == theirs
