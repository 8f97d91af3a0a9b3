"""The indexing pipeline below `KnowledgeBase`: documents → chunks (with the text each is embedded
with) → vectors (chunks, sentences, windows) → one index folder written atomically."""

from __future__ import annotations

import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from corpus import Chunk, ChunkingSettings, Document, chunk_document, scoring_text
from embeddings.backends import backend_of
from embeddings.errors import IndexDamagedError, IndexMismatchError
from embeddings.index_folder import (
    LEXICAL, VECTORS, atomic_folder, new_manifest, read_store, verify_files, write_manifest, write_store,
)
from embeddings.lexical_index import LexicalIndex
from embeddings.vector_index import VectorIndex
from embeddings.windows import load_windows, save_windows

# A title longer than this many word pieces is left out of the text a chunk is embedded with.
MAX_TITLE_TOKENS = 48
SENTENCE_VECTORS = "sentences.faiss"
SENTENCE_WINDOWS = "windows.npz"
# How an index that records no encoder (written before int8 ONNX) made its vectors.
LEGACY_ENCODING = {"backend": "torch", "sentences": "separate"}


class TextEncoder(Protocol):
    """What indexing needs of an encoder (`embeddings.onnx_encoder.OnnxEncoder`, `embeddings.Encoder`)."""

    name: str
    dimension: int
    chunk_token_limit: int

    def count_tokens(self, text: str) -> int: ...
    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray: ...
    def encode_windows(self, texts: Sequence[str], *, show_progress: bool = False
                       ) -> tuple[np.ndarray, list[np.ndarray]]: ...
    def encode_query(self, text: str) -> np.ndarray: ...


def chunk_all(documents: Sequence[Document], settings: ChunkingSettings, encoder: TextEncoder,
               show_progress: bool) -> tuple[list[Chunk], list[str]]:
    """Chunks of every document, and the text each is embedded with (title line + chunk text)."""
    chunks, texts = [], []
    for doc in tqdm(documents, desc="Chunking", unit="doc", disable=not show_progress or not documents):
        title, title_tokens = title_prefix(doc, encoder)
        limit = ChunkingSettings(max_tokens=min(settings.max_tokens, encoder.chunk_token_limit - title_tokens),
                                 overlap=settings.overlap)
        for chunk in chunk_document(doc, settings=limit, count_tokens=encoder.count_tokens,
                                    token_spans=getattr(encoder, "token_spans", None)):
            chunks.append(chunk)
            texts.append(f"{title}\n{chunk.text}" if title else chunk.text)
    return chunks, texts


def title_prefix(doc: Document, encoder: TextEncoder) -> tuple[str, int]:
    """The title line a document's chunks are embedded with, and its token cost ("" when too long)."""
    title = doc.title.strip()
    tokens = encoder.count_tokens(title) + 1 if title else 0
    return (title, tokens) if tokens <= MAX_TITLE_TOKENS else ("", 0)


def embedding_texts(documents: Sequence[Document], chunks: Sequence[Chunk], encoder: TextEncoder) -> list[str]:
    """The texts already-chunked documents were embedded with (for rebuilding BM25 on an update)."""
    prefixes = {d.doc_id: title_prefix(d, encoder)[0] for d in documents}
    return [f"{prefixes[c.doc_id]}\n{c.text}" if prefixes[c.doc_id] else c.text for c in chunks]


def sentence_mode(encoder: TextEncoder) -> str:
    """How `encode_chunks` gives this encoder's sentence vectors: "pooled" from the chunks' own
    forward pass (an encoder with `encode_spans`), or "separate" (each sentence encoded again)."""
    return "pooled" if hasattr(encoder, "encode_spans") else "separate"


def encode_chunks(documents: Sequence[Document], chunks: Sequence[Chunk], texts: Sequence[str],
                  encoder: TextEncoder, show_progress: bool, mode: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Chunk vectors, and each sentence's (`sentence_table` rows) vector and window vectors.

    With an encoder that has `encode_spans`, every token is encoded once: a sentence's vectors are
    pooled from its tokens in the first chunk holding it (but for the few sentences `scoring_text`
    reads otherwise, encoded as read). Otherwise each sentence is encoded again alone, as
    `scoring_text` reads it. `mode` ("pooled" or "separate") keeps an index's own way.
    Identical inputs (repeated boilerplate, duplicate files, a line repeating one word) are encoded once.
    """
    spans, per_chunk = sentence_table(chunks)
    mode = mode or sentence_mode(encoder)
    if mode == "pooled" and sentence_mode(encoder) != "pooled":
        raise IndexMismatchError("this index pools sentence vectors from its chunks, which this encoder cannot do: "
                                 "rebuild it with `groundqa index PATH... --rebuild`")
    if mode == "separate":
        first, inverse = _distinct(texts)
        chunk_vectors = encoder.encode([texts[i] for i in first], show_progress=show_progress)[inverse]
        sentence_vectors, windows = encode_sentences(documents, spans, encoder, show_progress)
        return chunk_vectors, sentence_vectors, windows
    home: dict[int, tuple[int, int]] = {}  # sentence row -> (chunk, position among the chunk's spans)
    chunk_spans: list[list[tuple[int, int]]] = []
    for c, (chunk, rows) in enumerate(zip(chunks, per_chunk)):
        shift = len(texts[c]) - len(chunk.text) - chunk.start  # the title line before the chunk's text
        mine = []
        for row in rows:
            if row not in home:
                home[row] = (c, len(mine))
                _, start, end = spans[row]
                mine.append((start + shift, end + shift))
        chunk_spans.append(mine)
    first, inverse = _distinct([(t, tuple(s)) for t, s in zip(texts, chunk_spans)])
    vectors, pooled, pooled_windows = encoder.encode_spans([texts[i] for i in first], [chunk_spans[i] for i in first],
                                                           show_progress=show_progress)
    sentence_vectors = np.zeros((len(spans), encoder.dimension), dtype=np.float32)
    windows: list[np.ndarray] = []
    for row in range(len(spans)):
        c, j = home[row]
        sentence_vectors[row] = pooled[inverse[c]][j]
        windows.append(pooled_windows[inverse[c]][j])
    # A sentence whose convention `scoring_text` spells out (a table row under its header, a
    # dateline, an enumerated point) is read that way, as its own text: the few such are encoded again.
    by_id = {d.doc_id: d.text for d in documents}
    readings = {row: scoring_text(by_id[d], a, b) for row, (d, a, b) in enumerate(spans)}
    spelled = [row for row, reading in readings.items() if reading != by_id[spans[row][0]][spans[row][1]:spans[row][2]]]
    if spelled:
        again, again_windows = encoder.encode_windows([readings[row] for row in spelled])
        for row, vector, rows_windows in zip(spelled, again, again_windows):
            sentence_vectors[row], windows[row] = vector, rows_windows
    return vectors[inverse], sentence_vectors, windows


def _distinct(keys: Sequence) -> tuple[list[int], np.ndarray]:
    """Where each distinct key first occurs, and for every key the index of its distinct one."""
    seen: dict = {}
    inverse = np.array([seen.setdefault(key, len(seen)) for key in keys], dtype=np.int64)
    first = [0] * len(seen)
    for i, u in reversed(list(enumerate(inverse.tolist()))):
        first[u] = i
    return first, inverse


def encode_sentences(documents: Sequence[Document], spans, encoder: TextEncoder,
                      show_progress: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each sentence's vector and its window vectors (`embeddings.window_vectors`), encoded alone."""
    texts = {d.doc_id: d.text for d in documents}
    readings = [scoring_text(texts[d], a, b) for d, a, b in spans]
    first, inverse = _distinct(readings)
    vectors, windows = encoder.encode_windows([readings[i] for i in first], show_progress=show_progress)
    return vectors[inverse], [windows[u] for u in inverse.tolist()]


def write_index(index_dir: Path, documents: Sequence[Document], chunks: Sequence[Chunk], texts: Sequence[str],
                chunk_vectors: np.ndarray, sentence_vectors: np.ndarray, sentence_windows: Sequence[np.ndarray],
                settings: ChunkingSettings, retrieval: dict, encoder: TextEncoder,
                files: dict[str, dict] | None = None, encoding: dict | None = None) -> None:
    """Write a complete index folder atomically (the caller holds the writer lock).

    `files` records where documents came from; `encoding` how the vectors were made (default: by
    `encoder`, now)."""
    vectors = VectorIndex(encoder.dimension)
    vectors.add(chunk_vectors)
    sentences = VectorIndex(encoder.dimension)
    sentences.add(sentence_vectors)
    lexical = LexicalIndex.build(texts)
    manifest = new_manifest(
        model=encoder.name, dimension=encoder.dimension,
        chunking={"max_tokens": settings.max_tokens, "overlap": settings.overlap,
                  "title_in_text": True, "max_title_tokens": MAX_TITLE_TOKENS},
        retrieval=dict(retrieval), n_documents=len(documents), n_chunks=len(chunks))
    manifest["counts"]["sentences"] = len(sentences)
    manifest["counts"]["sentence_windows"] = sum(len(w) for w in sentence_windows)
    manifest["lexical"] = {"k1": lexical.k1, "b": lexical.b, "stemmer": "english", "stopwords": "en"}
    manifest["encoder"] = encoding or {"backend": backend_of(encoder), "sentences": sentence_mode(encoder)}
    present = {d.doc_id for d in documents}
    manifest["files"] = {doc_id: f for doc_id, f in sorted((files or {}).items())
                         if doc_id in present or "skipped" in f}  # skipped: why, so it is not read again
    with atomic_folder(index_dir) as tmp:
        write_store(tmp, documents, chunks)
        vectors.save(tmp / VECTORS)
        sentences.save(tmp / SENTENCE_VECTORS)
        save_windows(tmp / SENTENCE_WINDOWS, sentence_windows, encoder.dimension)
        lexical.save(tmp / LEXICAL)
        write_manifest(tmp, manifest)


def sentence_table(chunks: Sequence[Chunk]) -> tuple[list[tuple[str, int, int]], list[list[int]]]:
    """Unique sentence spans (doc_id, start, end) in chunk order, and each chunk's rows in that list.

    Overlapping chunks share sentences; each sentence gets one row (and one vector).
    """
    rows: dict[tuple[str, int, int], int] = {}
    per_chunk = []
    for chunk in chunks:
        mine = []
        for start, end in chunk.sentences:
            key = (chunk.doc_id, start, end)
            if key not in rows:
                rows[key] = len(rows)
            mine.append(rows[key])
        per_chunk.append(mine)
    return list(rows), per_chunk


@dataclass(frozen=True)
class IndexParts:
    """What `load_index` reads of an index folder."""

    documents: list[Document]
    chunks: list[Chunk]
    vectors: VectorIndex
    lexical: LexicalIndex
    sentence_vectors: VectorIndex | None
    windows: tuple[np.ndarray, np.ndarray] | None


def load_index(index_dir: Path, manifest: dict) -> IndexParts:
    """The parts of the index at `index_dir` (whose manifest was read): files checked against their
    checksums, then loaded; IndexDamagedError names the fix when any is missing, cut or garbled."""
    verify_files(index_dir, manifest)
    try:
        documents, chunks = read_store(index_dir)
        vectors = VectorIndex.load(index_dir / VECTORS)
        lexical = LexicalIndex.load(index_dir / LEXICAL, k1=manifest["lexical"]["k1"], b=manifest["lexical"]["b"])
        sentence_path = index_dir / SENTENCE_VECTORS
        sentence_vectors = VectorIndex.load(sentence_path) if sentence_path.is_file() else None
        windows_path = index_dir / SENTENCE_WINDOWS
        windows = load_windows(windows_path) if windows_path.is_file() else None
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, sqlite3.Error, zipfile.BadZipFile) as exc:
        raise IndexDamagedError(f"the index at {index_dir} is damaged ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}): rebuild it with "
                                f"`groundqa index PATH... --rebuild --index {index_dir}`") from exc
    sentences = manifest["counts"].get("sentences")
    if (len(vectors) != len(chunks) or (sentence_vectors is not None and len(sentence_vectors) != sentences)
            or (windows is not None and len(windows[1]) != sentences + 1)):
        raise IndexDamagedError(f"the index at {index_dir} is inconsistent ({len(vectors)} vectors, "
                                f"{len(chunks)} chunks): rebuild it with `groundqa index PATH... --rebuild`")
    return IndexParts(documents, chunks, vectors, lexical, sentence_vectors, windows)
