"""The reader: a cross-encoder that reads a question and a candidate sentence together and scores
whether the sentence answers it. Trained here from all-MiniLM-L6-v2 (scripts/train_reader.py),
shipped as int8 ONNX with its tokenizer; see qa/models/READER.md for data, split and figures."""

from __future__ import annotations

import json
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from corpus import scoring_text
from qa.answers import Network
from qa.errors import AnswerModelError

READER_DIR = Path(__file__).with_name("models")
READER_FILE = "reader-int8.onnx"
TOKENIZER_FILE = "reader-tokenizer.json"
CARD_FILE = "reader.json"
MAX_TOKENS = 128
SCORING = "pair-by-pair"  # how `Reader.score` runs pairs; the head is calibrated on logits scored so
_DIGITS = re.compile(r"\d+")
# What the head combines for each of the scorer's top candidates, and reads for an ask's confidence.
HEAD_FEATURES = ("reader_logit", "scorer_logit", "lexical_context", "missing_numbers")
HEAD_CONFIDENCE_FEATURES = ("top_answer", "top_reader_logit", "reader_margin", "scorer_confidence", "log_chunks")


def reader_text(title: str, text: str, start: int, end: int) -> str:
    """The reader's second segment: the document's title line, then the sentence as the scorer reads it."""
    title = " ".join(title.split())[:120]
    sentence = scoring_text(text, start, end)
    return f"{title}\n{sentence}" if title else sentence


@dataclass(frozen=True)
class ReaderHead:
    """How the reader's logits become answers: rerank the scorer's `top_n` candidates by `combine`
    (reader and scorer together), and abstain when `confidence` falls below `threshold`.
    Fit on calibration articles the reader never saw (scripts/calibrate_reader.py)."""

    top_n: int
    combine: Network
    confidence: Network
    threshold: float

    @classmethod
    def from_dict(cls, data: dict) -> "ReaderHead":
        if (tuple(data.get("features", ())) != HEAD_FEATURES
                or tuple(data.get("confidence_features", ())) != HEAD_CONFIDENCE_FEATURES):
            raise AnswerModelError("the reader's head was fit for other features: rerun scripts/calibrate_reader.py")
        return cls(int(data["top_n"]), Network.from_dict(data["combine"]), Network.from_dict(data["confidence"]),
                   float(data["threshold"]))

    def to_dict(self) -> dict:
        return {"top_n": self.top_n, "features": list(HEAD_FEATURES), "combine": self.combine.to_dict(),
                "confidence_features": list(HEAD_CONFIDENCE_FEATURES), "confidence": self.confidence.to_dict(),
                "threshold": self.threshold}

    def answer_probabilities(self, logits: np.ndarray, scorer_probabilities: np.ndarray,
                             lexical_context: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Probability that each candidate answers (HEAD_FEATURES)."""
        return self.combine.predict(head_features(logits, scorer_probabilities, lexical_context, missing))

    def confidence_of(self, answers: np.ndarray, logits: np.ndarray, scorer_confidence: float,
                      corpus_chunks: int) -> float:
        """Confidence that the best-scored candidate answers the question."""
        return float(self.confidence.predict(head_confidence_features(answers, logits, scorer_confidence,
                                                                      corpus_chunks))[0])


def head_features(logits: np.ndarray, scorer_probabilities: np.ndarray, lexical_context: np.ndarray,
                  missing: np.ndarray) -> np.ndarray:
    """HEAD_FEATURES per candidate: the reader's logit, the scorer's log-odds, the share of the
    question's terms around the sentence, and how many of the question's numbers it lacks."""
    p = np.clip(np.asarray(scorer_probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.column_stack([np.asarray(logits, dtype=np.float64), np.log(p / (1 - p)),
                            np.asarray(lexical_context, dtype=np.float64), np.asarray(missing, dtype=np.float64)])


def missing_numbers(question: str, context: str) -> int:
    """How many of the question's numbers (years, amounts, versions) `context` does not hold.

    A sentence about the 2023-2024 winter reads much like one about 2021-2022 to a small model;
    the digits tell them apart. Compared as digit runs, so "2021-22" and "2021–2022" share "2021".
    """
    have = set(_DIGITS.findall(context))
    return sum(1 for n in set(_DIGITS.findall(question)) if n not in have)


def head_confidence_features(answers: np.ndarray, logits: np.ndarray, scorer_confidence: float,
                             corpus_chunks: int) -> np.ndarray:
    """HEAD_CONFIDENCE_FEATURES of one ask: the best answer probability, the reader's best logit and
    its lead over the runner-up, the bi-encoder scorer's own confidence, and the corpus size."""
    ordered = np.sort(np.asarray(logits, dtype=np.float64))[::-1]
    margin = ordered[0] - ordered[1] if len(ordered) > 1 else ordered[0] + 10.0
    return np.array([[float(np.max(answers)), ordered[0], margin, scorer_confidence,
                      math.log(max(corpus_chunks, 1))]])


@dataclass(frozen=True)
class ReaderInfo:
    """What the shipped reader was trained on and how (qa/models/reader.json)."""

    name: str
    max_tokens: int
    provenance: dict


class Reader:
    """Scores (question, sentence) pairs with the int8 ONNX cross-encoder; a logit per pair.

    One ONNX Runtime session, thread-safe for concurrent `score` calls. Pairs run one core each,
    `workers` at a time (default: up to 2, the cores of the machines we measure on): ten
    55-token pairs take ~29 ms on 2 workers against ~55 ms on one, where 2 intra-op threads
    per pair gave ~48 ms. The workers are shared by every call, so a chat serving several
    people at once still uses `workers` cores for reading, not one per person.
    """

    def __init__(self, folder: str | os.PathLike = READER_DIR, *, workers: int | None = None) -> None:
        folder = Path(folder)
        model, tokenizer_path, card = folder / READER_FILE, folder / TOKENIZER_FILE, folder / CARD_FILE
        for path in (model, tokenizer_path, card):
            if not path.is_file():
                raise AnswerModelError(f"the reader model is missing ({path}): reinstall groundqa")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise AnswerModelError(f"the reader needs package {exc.name}: pip install {exc.name}") from exc
        data = json.loads(card.read_text(encoding="utf-8"))
        self.info = ReaderInfo(data.get("name", "reader"), int(data.get("max_tokens", MAX_TOKENS)), data)
        self.head = ReaderHead.from_dict(data["head"]) if "head" in data else None
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(self.info.max_tokens, strategy="only_second")
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()
        self.workers = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="groundqa-reader") if self.workers > 1 else None

    def _logit(self, encoding) -> float:
        feed = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask, "token_type_ids": encoding.type_ids}
        out = self._session.run(None, {k: np.array([v], dtype=np.int64) for k, v in feed.items() if k in self._inputs})[0]
        return float(np.asarray(out).reshape(-1)[0])

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's logit for each sentence answering `question` (higher: more likely).

        Each pair runs alone: dynamic int8 quantization scales activations over the whole input,
        so in a padded batch a pair's logit would depend on its neighbours (by up to 0.8 here),
        and unpadded runs are also faster (~25% for 10 pairs on one core).
        """
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        with self._lock:  # the tokenizer's truncation state is shared
            encodings = self._tokenizer.encode_batch([(question, s) for s in sentences])
        if not self._pool or len(encodings) < 2:
            return np.fromiter(map(self._logit, encodings), dtype=np.float32, count=len(encodings))
        # Longest first: the workers then finish together, not one of them on a long pair alone.
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        logits = np.empty(len(encodings), dtype=np.float32)
        logits[order] = list(self._pool.map(self._logit, [encodings[i] for i in order]))
        return logits


def reread(question: str, probabilities: np.ndarray, lexical_context: np.ndarray, scorer_confidence: float,
           reader: Reader, corpus_chunks: int, text_of: Callable[[int], str],
           context_of: Callable[[int], str]) -> tuple[np.ndarray, float]:
    """Candidate scores after the reader rereads the scorer's `head.top_n` best, and the ask's confidence.

    `text_of(i)` / `context_of(i)` give candidate i's reader text and the text its numbers are
    looked up in. Candidates the reader did not read keep the scorer's order, below every one it read.
    """
    head = reader.head
    top = np.argsort(-probabilities, kind="stable")[:head.top_n]
    logits = reader.score(question, [text_of(int(i)) for i in top])
    missing = np.array([missing_numbers(question, context_of(int(i))) for i in top])
    answers = head.answer_probabilities(logits, probabilities[top], lexical_context[top], missing)
    scores = probabilities - 1.0
    scores[top] = answers
    return scores, head.confidence_of(answers, logits, scorer_confidence, corpus_chunks)


@lru_cache(maxsize=2)
def default_reader(folder: str = str(READER_DIR)) -> Reader:
    """The shipped reader, loaded once per process."""
    return Reader(folder)
