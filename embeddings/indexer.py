"""The indexing pipeline below `KnowledgeBase`: documents → chunks (with the text each is embedded
with) → vectors (chunks, sentences, windows) and term counts → segments, in batches of bounded
size, so that memory stays flat however large the folder; then one commit (`embeddings.segments`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, Protocol, Sequence

import numpy as np

from corpus import Chunk, ChunkingSettings, Document, chunk_document, scoring_text
from corpus.errors import DocumentError
from embeddings.backends import backend_of
from embeddings.errors import IndexMismatchError
from embeddings.index_folder import SEGMENTS, atomic_folder, new_manifest
from embeddings.lexical_index import B, K1, TermCounts
from embeddings.segments import (
    SegmentData, commit, index_store, merge_committed, merge_written, pack_windows, remove_unlisted, sentence_table,
    with_deletions, write_segment,
)
from embeddings.ann_index import refresh_vector_index
from embeddings.vector_store import FAISS

# A title longer than this many word pieces is left out of the text a chunk is embedded with.
MAX_TITLE_TOKENS = 48
# Documents are read, chunked, encoded and written as a segment this many characters at a time.
BATCH_CHARS = 4_000_000


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


def chunk_all(documents: Sequence[Document], settings: ChunkingSettings,
              encoder: TextEncoder) -> tuple[list[Chunk], list[str]]:
    """Chunks of every document, and the text each is embedded with (title line + chunk text)."""
    chunks, texts = [], []
    for doc in documents:
        title, title_tokens = title_prefix(doc, encoder)
        limit = ChunkingSettings(max_tokens=min(settings.max_tokens, encoder.chunk_token_limit - title_tokens),
                                 overlap=settings.overlap)
        for chunk in chunk_document(doc, settings=limit, count_tokens=encoder.count_tokens,
                                    token_spans=getattr(encoder, "token_spans", None),
                                    count_many=getattr(encoder, "count_tokens_many", None)):
            chunks.append(chunk)
            texts.append(f"{title}\n{chunk.text}" if title else chunk.text)
    return chunks, texts


def title_prefix(doc: Document, encoder: TextEncoder) -> tuple[str, int]:
    """The title line a document's chunks are embedded with, and its token cost ("" when too long)."""
    title = doc.title.strip()
    tokens = encoder.count_tokens(title) + 1 if title else 0
    return (title, tokens) if tokens <= MAX_TITLE_TOKENS else ("", 0)


def embedding_texts(documents: Sequence[Document], chunks: Sequence[Chunk], encoder: TextEncoder) -> list[str]:
    """The texts already-chunked documents were embedded with (title line + chunk text)."""
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


def encode_segment(documents: Sequence[Document], settings: ChunkingSettings, encoder: TextEncoder,
                   mode: str | None = None, show_progress: bool = False) -> SegmentData:
    """One segment's rows: the documents chunked, encoded (`encode_chunks`) and their terms counted."""
    chunks, texts = chunk_all(documents, settings, encoder)
    chunk_vectors, sentence_vectors, windows = encode_chunks(documents, chunks, texts, encoder, show_progress, mode)
    rows, offsets = pack_windows(windows, encoder.dimension)
    return SegmentData(list(documents), chunks, chunk_vectors.astype(np.float32),
                       sentence_vectors.astype(np.float32), rows, offsets, TermCounts.of_texts(texts))


def batches(documents: Iterable[Document], limit: int = BATCH_CHARS) -> Iterator[list[Document]]:
    """`documents` in lists of about `limit` characters (a longer document makes a batch alone)."""
    batch, size = [], 0
    for doc in documents:
        if batch and size + len(doc.text) > limit:
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += len(doc.text)
    if batch:
        yield batch


def write_segments(segments_dir: Path, documents: Iterable[Document], settings: ChunkingSettings,
                   encoder: Callable[[], TextEncoder], mode: str | None = None, show_progress: bool = False,
                   batch_chars: int = BATCH_CHARS) -> list[dict]:
    """Encode `documents` batch by batch, each batch written as a segment (adjacent ones merged
    tier by tier, `merge_written`); their manifest records.

    `encoder` is called (to load the model) only when there is something to encode.
    """
    records, enc = [], None
    for batch in batches(documents, batch_chars):
        enc = enc or encoder()
        records.append(write_segment(segments_dir, encode_segment(batch, settings, enc, mode, show_progress)))
        records = merge_written(segments_dir, records, enc.dimension)
    return records


def build_index(index_dir: Path, documents: Iterable[Document], *, encoder: TextEncoder, chunk_size: int,
                chunk_overlap: int, retrieval: dict, files: dict[str, dict] | None = None,
                show_progress: bool = False, batch_chars: int = BATCH_CHARS, store: dict | None = None,
                index_type: str = "auto") -> dict:
    """Write a new index folder from `documents` (an iterable read as it goes) and swap it in
    whole; its manifest. The caller holds the writer lock.

    `files` records where documents came from (doc_id -> path, size, mtime_ns); it may be filled
    while `documents` is consumed; `store` is the record of where chunk vectors are searched
    (`vector_store.store_record`; FAISS when None), started afresh. Raises DocumentError when
    there is no document at all. `index_type` is how chunk vectors are searched (`ann_index.INDEX_TYPES`).
    """
    settings = ChunkingSettings(max_tokens=min(chunk_size, encoder.chunk_token_limit), overlap=chunk_overlap)
    with atomic_folder(index_dir) as tmp:
        records = write_segments(tmp / SEGMENTS, documents, settings, lambda: encoder, None, show_progress,
                                 batch_chars)
        if not records:
            raise DocumentError("nothing to index: no usable document was given")
        manifest = new_manifest(
            model=encoder.name, dimension=encoder.dimension,
            chunking={"max_tokens": settings.max_tokens, "overlap": settings.overlap, "requested_max_tokens": chunk_size,
                      "title_in_text": True, "max_title_tokens": MAX_TITLE_TOKENS},
            retrieval=dict(retrieval), n_documents=0, n_chunks=0)
        manifest["lexical"] = {"k1": K1, "b": B, "stemmer": "english", "stopwords": "en"}
        manifest["encoder"] = {"backend": backend_of(encoder), "sentences": sentence_mode(encoder)}
        manifest["store"] = dict(store or {"kind": FAISS})
        if manifest["store"]["kind"] != FAISS:
            manifest["store"]["index_type"] = index_type
        external = index_store(manifest, create=True)
        if external is not None:  # a rebuild starts the collection's rows over; a collection made by hand stays
            external.clear()
        manifest = refresh_vector_index(tmp, commit(tmp, manifest, records, dict(files or {})), index_type)
    return manifest


def update_index(index_dir: Path, manifest: dict, documents: Iterable[Document], dropped: Collection[str],
                 files: dict[str, dict], *, encoder: Callable[[], TextEncoder], show_progress: bool = False,
                 batch_chars: int = BATCH_CHARS) -> dict:
    """Commit `documents` as new segments and delete `dropped` (and the old versions of documents
    added again) from the old ones: nothing else is read or rewritten. `documents` and `dropped`
    may be filled as `documents` is consumed. The caller holds the writer lock; returns the manifest.
    """
    index_dir = Path(index_dir)
    chunking = manifest["chunking"]
    settings = ChunkingSettings(max_tokens=chunking["max_tokens"], overlap=chunking["overlap"])
    added: list[str] = []

    def noting(docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            added.append(doc.doc_id)
            yield doc

    try:
        records = write_segments(index_dir / SEGMENTS, noting(documents), settings, encoder,
                                 manifest["encoder"]["sentences"], show_progress, batch_chars)
    except BaseException:
        remove_unlisted(index_dir, manifest)
        raise
    gone = set(dropped) | set(added)
    segments = with_deletions(manifest["segments"], gone) + records
    if segments == manifest["segments"] and files == manifest.get("files", {}):
        return manifest
    if not segments:  # (`with_deletions` drops a segment left with no live document)
        remove_unlisted(index_dir, manifest)
        raise DocumentError("no usable documents would remain in the index: nothing was changed "
                            "(use --rebuild to start over)")
    return refresh_vector_index(index_dir, merge_committed(index_dir, commit(index_dir, manifest, segments, files)))
