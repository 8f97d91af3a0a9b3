"""Shared fixtures: a tiny fake encoder for fast unit tests, the real packaged model for end-to-end ones."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "corpus" / "samples"


class FakeEncoder:
    """Bag of hashed words: deterministic, instant, and good enough to rank exact word matches."""

    name = "fake-encoder"
    dimension = 64
    chunk_token_limit = 40

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

    def encode(self, texts, *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def encode_windows(self, texts, *, show_progress: bool = False):
        """Vectors, and for a text of more than 8 words, those of its 8-word windows (4-word steps)."""
        windows = []
        for text in texts:
            words = text.split()
            spans = [" ".join(words[i:i + 8]) for i in range(0, max(len(words) - 4, 1), 4)] if len(words) > 8 else []
            windows.append(self.encode(spans) if spans else np.zeros((0, self.dimension), dtype=np.float32))
        return self.encode(texts), windows

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


class CountingEncoder(FakeEncoder):
    """The fake encoder, counting the texts it was asked to encode."""

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts, *, show_progress: bool = False):
        self.encoded += len(texts)
        return super().encode(texts)


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real packaged all-MiniLM-L6-v2 on the default backend (int8 ONNX), loaded once per test session."""
    from embeddings.backends import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it sits beside the project only in CI/dev)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory, encoder):
    """The bundled sample corpus indexed with the real model."""
    from qa import KnowledgeBase

    return KnowledgeBase.build([SAMPLES], index_dir=tmp_path_factory.mktemp("samples") / "index",
                               encoder=encoder, show_progress=False)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
