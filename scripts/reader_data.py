"""Training pairs for the reader (the cross-encoder): (question, sentence, label) from SQuAD, split by article.

Positives are the sentence that holds a question's answer; negatives are the hardest other
sentences (same paragraph, then same article by bi-encoder cosine) and, for SQuAD 2.0's
unanswerable questions, the sentence holding the plausible-but-wrong answer. Articles are split
three ways and never mixed: `train` fits the reader, `calibrate` fits the answer combiner and the
threshold, everything else is held out for reporting.

    python scripts/reader_data.py --out ~/.cache/groundqa/reader/pairs
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from corpus import split_sentences
from qa.reader import reader_text

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SQUAD1 = SHARED / "squad" / "dev-v1.1.json"
SQUAD2 = SHARED / "squad2" / "dev-v2.0-shared-half.json"

# SQuAD v1.1 dev articles by index; the issue allows training on 0-11 and on the SQuAD 2.0 half.
# The 2.0 half shares its paragraphs (and answerable questions) with v1.1 articles of the same title.
TRAIN_V1 = (0, 1, 2, 3, 4, 5, 6, 7, 10)          # Super_Bowl_50 ... Southern_California, Huguenot
CALIBRATE_V1 = (8, 9, 11)                         # Sky_(United_Kingdom), Victoria_(Australia), Steam_engine
TRAIN_V2 = ("Warsaw", "Normans", "Computational_complexity_theory", "Huguenot")
CALIBRATE_V2 = ("Steam_engine",)
# Held out entirely: v1.1 articles 12-47 and the 2.0 half's 1973_oil_crisis, European_Union_law, Packet_switching.


def article_split(title: str, v1_index: int | None) -> str:
    """'train', 'calibrate' or 'test' for an article, the same for its v1.1 and 2.0 questions."""
    if title in TRAIN_V2 or v1_index in TRAIN_V1:
        return "train"
    if title in CALIBRATE_V2 or v1_index in CALIBRATE_V1:
        return "calibrate"
    return "test"


def _sentences(context: str) -> list[tuple[int, int]]:
    return split_sentences(context)


def _containing(spans: list[tuple[int, int]], offset: int) -> int | None:
    return next((i for i, (a, b) in enumerate(spans) if a <= offset < b), None)


def article_pairs(article: dict, encode, rng: random.Random, *, same_paragraph: int = 3,
                  other_paragraphs: int = 2) -> list[dict]:
    """The pairs of one article: per question a positive (if answerable) and its hard negatives."""
    title = article["title"].replace("_", " ")
    sentences = []  # (paragraph, start, end, text)
    for p, para in enumerate(article["paragraphs"]):
        for a, b in _sentences(para["context"]):
            sentences.append((p, a, b, reader_text(title, para["context"], a, b)))
    vectors = encode([s[3] for s in sentences])
    questions = [(p, qa) for p, para in enumerate(article["paragraphs"]) for qa in para["qas"]]
    qvectors = encode([qa["question"] for _, qa in questions])
    pairs = []
    for (p, qa), qv in zip(questions, qvectors):
        context = article["paragraphs"][p]["context"]
        impossible = bool(qa.get("is_impossible"))
        gold = qa.get("plausible_answers" if impossible else "answers") or []
        texts = [g["text"].lower() for g in gold if g["text"].strip()]
        if not texts:
            continue
        rows = [i for i, s in enumerate(sentences) if s[0] == p]
        spans = [(sentences[i][1], sentences[i][2]) for i in rows]
        hit = _containing(spans, gold[0]["answer_start"])
        if hit is None:
            continue
        target = rows[hit]
        cosine = vectors @ qv
        kind = "plausible" if impossible else "answer"
        pairs.append({"question": qa["question"], "sentence": sentences[target][3], "label": 0 if impossible else 1,
                      "kind": kind, "qid": qa["id"]})
        # Sentences that also hold an answer string are ambiguous: neither positive nor negative.
        clean = [i for i in rows if i != target and not any(t in sentences[i][3].lower() for t in texts)]
        clean.sort(key=lambda i: -cosine[i])
        chosen = clean[:1] + rng.sample(clean[1:], min(len(clean) - 1, same_paragraph - 1)) if clean else []
        others = [i for i in np.argsort(-cosine).tolist() if sentences[i][0] != p
                  and not any(t in sentences[i][3].lower() for t in texts)][:other_paragraphs]
        for i in chosen:
            pairs.append({"question": qa["question"], "sentence": sentences[i][3], "label": 0,
                          "kind": "same_paragraph", "qid": qa["id"]})
        for i in others:
            pairs.append({"question": qa["question"], "sentence": sentences[i][3], "label": 0,
                          "kind": "other_paragraph", "qid": qa["id"]})
    return pairs


def build(out: Path, *, seed: int = 13) -> dict[str, int]:
    """Write train.jsonl and calibrate.jsonl pairs under `out`; return their counts."""
    from sentence_transformers import SentenceTransformer

    from embeddings.encoder import resolve_model_path

    model = SentenceTransformer(str(resolve_model_path()), device="cpu")

    def encode(texts):
        return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    rng = random.Random(seed)
    v1 = json.loads(SQUAD1.read_text(encoding="utf-8"))["data"]
    v2 = json.loads(SQUAD2.read_text(encoding="utf-8"))["data"]
    splits: dict[str, list[dict]] = {"train": [], "calibrate": []}
    for i, article in enumerate(v1):
        split = article_split(article["title"], i)
        if split in splits:
            splits[split] += article_pairs(article, encode, rng)
    for article in v2:
        split = article_split(article["title"], None)
        if split in splits:  # only the unanswerable questions: the answerable ones are v1.1's
            only = {**article, "paragraphs": [{**p, "qas": [q for q in p["qas"] if q.get("is_impossible")]}
                                              for p in article["paragraphs"]]}
            splits[split] += article_pairs(only, encode, rng)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in splits.items():
        rng.shuffle(rows)
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[name] = len(rows)
        counts[f"{name}_positive"] = sum(r["label"] for r in rows)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "groundqa" / "reader" / "pairs")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(json.dumps(build(args.out, seed=args.seed)))


if __name__ == "__main__":
    main()
