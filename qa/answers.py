"""Grounded answers: the sentences of the retrieved passages that answer, as verified quotes, or an abstention."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from qa.errors import AnswerModelError
from qa.passages import Citation, Passage
from qa.retrieval import ranks

ANSWER_MODEL = Path(__file__).with_name("answer_model.json")


@dataclass(frozen=True)
class Quote(Citation):
    """A verbatim run of whole sentences: `document(doc_id).text[start:end] == text`.

    `context_start/end` is the passage it was taken from; `doc_sha256` the content hash of the
    document when quoted, so a later check can tell a stale citation; `line_start/end` are the
    1-based lines of a text or Markdown file (None for HTML and PDF, whose text is extracted).
    """

    context_start: int
    context_end: int
    doc_sha256: str
    line_start: int | None = None
    line_end: int | None = None


@dataclass(frozen=True)
class Answer:
    """Quotes that answer `question` (best first), or `abstained` with the closest passages."""

    question: str
    abstained: bool
    confidence: float
    quotes: tuple[Quote, ...]
    passages: tuple[Passage, ...]
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"question": self.question, "abstained": self.abstained, "confidence": self.confidence,
                "quotes": [q.to_dict() for q in self.quotes], "passages": [p.to_dict() for p in self.passages],
                "provenance": self.provenance}


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with what the scorer needs to know of it."""

    row: int  # sentence row in the index
    doc_id: str
    start: int
    end: int
    text: str
    context: str  # the sentence with its neighbours, for lexical coverage
    passage_rank: int
    passage_score: float
    passage_dense: float
    chunk_row: int


FEATURES = (
    "dense", "dense_gap", "lexical", "lexical_context", "passage_score", "passage_rr", "passage_dense",
    "answer_type", "novelty", "length", "neighbor_dense", "dense_rr", "lexical_rr", "dense_x_lexical",
    "matched_terms", "window_dense",
)
CONFIDENCE_FEATURES = ("top_probability", "margin", "top_dense", "top_lexical", "best_passage_dense",
                       "top_neighbor_dense", "top_lexical_context", "mean_top3_probability", "log_chunks",
                       "top_window_dense")

_NUMERIC_Q = re.compile(r"\b(how (many|much|long|old|far|big|large|tall|often|high|deep)|what (year|percent"
                        r"|percentage|number|amount|temperature|ratio|age|size)|when|how \w+ (is|are|was|were|did"
                        r"|does|do)\b.*\b(cost|weigh|last))\b", re.I)
_WHEN_Q = re.compile(r"\b(when|what (year|date|day|month|time|century|decade))\b", re.I)
_WHO_Q = re.compile(r"\b(who|whom|whose|which (person|man|woman|team|company|country|city|group))\b", re.I)
_WHERE_Q = re.compile(r"\bwhere\b", re.I)
_DIGIT = re.compile(r"\d")
_YEAR_OR_MONTH = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|January|February|March|April|May|June|July|August|"
                            r"September|October|November|December|century|spring|summer|autumn|fall|winter)\b")
_CAPITALIZED = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Network:
    """A small feed-forward classifier: standardize, then dense layers with ReLU between, sigmoid out.

    One layer is a logistic regression. Plain numpy, so nothing but the JSON weights is loaded.
    """

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def from_dict(cls, data: dict) -> "Network":
        layers = tuple((np.asarray(layer["weights"], dtype=np.float64), np.asarray(layer["bias"], dtype=np.float64))
                       for layer in data["layers"])
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64), layers)

    def to_dict(self) -> dict:
        return {"mean": self.mean.round(6).tolist(), "scale": self.scale.round(6).tolist(),
                "layers": [{"weights": w.round(6).tolist(), "bias": b.round(6).tolist()} for w, b in self.layers]}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row of `x`."""
        h = (np.atleast_2d(x) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return sigmoid(h[:, 0])


@dataclass(frozen=True)
class Ensemble:
    """Networks fit alike from different random starts; their mean probability. One fit's ranking
    of close candidates depends on its start; the mean depends on it much less."""

    members: tuple[Network, ...]

    @classmethod
    def from_dict(cls, data: dict) -> "Ensemble":
        return cls(tuple(Network.from_dict(m) for m in data["members"]))

    def to_dict(self) -> dict:
        return {"members": [m.to_dict() for m in self.members]}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Mean probability of the positive class over the members, for each row of `x`."""
        return np.mean([m.predict(x) for m in self.members], axis=0)


@dataclass(frozen=True)
class AnswerModel:
    """The sentence scorer, the confidence model and the abstention threshold, trained together."""

    scorer: Ensemble
    confidence: Ensemble
    threshold: float
    provenance: dict

    @classmethod
    def load(cls, path: Path = ANSWER_MODEL) -> "AnswerModel":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if (tuple(data.get("features", ())) != FEATURES or tuple(data.get("confidence_features", ())) != CONFIDENCE_FEATURES
                or "members" not in data.get("scorer", {})):
            raise AnswerModelError(
                f"{path} was trained for other features than this groundqa computes: retrain it with "
                f"benchmarks/train_answer_model.py or reinstall groundqa")
        return cls(Ensemble.from_dict(data["scorer"]), Ensemble.from_dict(data["confidence"]),
                   float(data["threshold"]), data.get("provenance", {}))

    def confidence_of(self, probabilities: np.ndarray, features: np.ndarray, corpus_chunks: int) -> float:
        """The confidence of an ask whose candidates have these `features` and scorer `probabilities`."""
        return float(self.confidence.predict(confidence_features(probabilities, features, corpus_chunks))[0])

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "scorer": self.scorer.to_dict(),
                "confidence_features": list(CONFIDENCE_FEATURES), "confidence": self.confidence.to_dict(),
                "threshold": self.threshold, "provenance": self.provenance}


@lru_cache(maxsize=4)
def default_answer_model(path: str = str(ANSWER_MODEL)) -> AnswerModel:
    return AnswerModel.load(Path(path))


def answer_type_match(question: str, sentence: str, question_words: set[str]) -> float:
    """1 when the sentence holds the kind of thing the question asks for (a number, a date, a name...)."""
    if _WHEN_Q.search(question):
        return 1.0 if _YEAR_OR_MONTH.search(sentence) or _DIGIT.search(sentence) else 0.0
    if _NUMERIC_Q.search(question):
        return 1.0 if _DIGIT.search(sentence) else 0.0
    if _WHO_Q.search(question) or _WHERE_Q.search(question):
        names = {m.group().lower() for m in _CAPITALIZED.finditer(sentence)}
        return 1.0 if names - question_words else 0.0
    return 0.5


def coverage(question_terms: dict[str, float], terms: set[str]) -> float:
    """IDF-weighted share of the question's terms that `terms` contains."""
    total = sum(question_terms.values())
    return sum(w for t, w in question_terms.items() if t in terms) / total if total else 0.0


def sentence_features(question: str, question_terms: dict[str, float], dense: np.ndarray,
                      candidates: Sequence[Candidate], sentence_terms: Sequence[set[str]],
                      context_terms: Sequence[set[str]], neighbor_dense: np.ndarray,
                      window_dense: np.ndarray) -> np.ndarray:
    """One row of FEATURES per candidate sentence.

    `dense` is each sentence's cosine with the question, `neighbor_dense` the best cosine of the
    sentences just before and after it (an answer often sits beside the sentence that echoes the question),
    `window_dense` the best cosine over the sentence and its windows (the clause a question is about).
    """
    q_words = {w.lower() for w in _WORD.findall(question)}
    best_dense = float(dense.max()) if len(dense) else 0.0
    top_passage = max((c.passage_score for c in candidates), default=0.0)
    lexical = np.array([coverage(question_terms, t) for t in sentence_terms])
    dense_rr = 1.0 / ranks(dense)
    lexical_rr = 1.0 / ranks(lexical)
    rows = []
    for i, (c, d, terms, ctx) in enumerate(zip(candidates, dense, sentence_terms, context_terms)):
        words = [w.lower() for w in _WORD.findall(c.text)]
        novel = sum(1 for w in words if w not in q_words) / len(words) if words else 0.0
        rows.append((
            float(d), float(d) - best_dense, lexical[i], coverage(question_terms, ctx),
            c.passage_score / top_passage if top_passage > 0 else 1.0,  # no positive best (one passage, ties): all best
            1.0 / c.passage_rank, c.passage_dense,
            answer_type_match(question, c.text, q_words), novel, math.log1p(len(words)),
            float(neighbor_dense[i]), dense_rr[i], lexical_rr[i], float(d) * lexical[i],
            math.log1p(sum(1 for t in question_terms if t in terms)), float(window_dense[i]),
        ))
    return np.asarray(rows, dtype=np.float64).reshape(len(candidates), len(FEATURES))



def confidence_features(probabilities: np.ndarray, features: np.ndarray, corpus_chunks: int) -> np.ndarray:
    """The query-level signals that tell an answer from a near miss (CONFIDENCE_FEATURES).

    `corpus_chunks` is the index's size: the best of many passages scores high by chance more often
    than the best of a few, so the same scores mean less in a large corpus than in a small one.
    """
    order = np.argsort(-probabilities)
    top = order[0]
    second = probabilities[order[1]] if len(order) > 1 else 0.0
    col = {name: i for i, name in enumerate(FEATURES)}
    return np.array([
        probabilities[top], probabilities[top] - second, features[top, col["dense"]],
        features[top, col["lexical"]], features[:, col["passage_dense"]].max(), features[top, col["neighbor_dense"]],
        features[top, col["lexical_context"]], float(probabilities[order[:3]].mean()),
        math.log(max(corpus_chunks, 1)), features[top, col["window_dense"]],
    ])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def line_span(text: str, start: int, end: int) -> tuple[int, int]:
    """1-based first and last line of text[start:end]."""
    first = text.count("\n", 0, start) + 1
    return first, first + text.count("\n", start, max(start, end - 1))


def distinct_best(candidates: Sequence[Candidate], probabilities: np.ndarray) -> Iterator[int]:
    """Indices of the candidates, most probable first, each sentence text once (duplicate files)."""
    texts = set()
    for i in np.argsort(-probabilities, kind="stable").tolist():
        key = " ".join(candidates[i].text.split()).lower()
        if key not in texts:
            texts.add(key)
            yield i
