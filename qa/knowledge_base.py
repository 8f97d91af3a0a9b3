"""`KnowledgeBase`: the public entry object — build or open an index folder, search it, read its documents."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from corpus import Chunk, ChunkingSettings, Document, chunk_document, load_documents
from embeddings import (
    LEXICAL, VECTORS, Encoder, IndexMismatchError, LexicalIndex, VectorIndex, atomic_folder,
    model_name, new_manifest, read_manifest, read_store, write_manifest, write_store,
)
from qa.errors import GroundQAError, QuestionError, UnknownDocumentError
from qa.passages import Passage
from qa.retrieval import MODES, RetrievalSettings, best_per_group, fuse, top_k

DEFAULT_INDEX_DIR = ".groundqa"
# A title longer than this many word pieces is left out of the text a chunk is embedded with.
MAX_TITLE_TOKENS = 48


class TextEncoder(Protocol):
    """What the knowledge base needs of an encoder (the real one is `embeddings.Encoder`)."""

    name: str
    dimension: int
    chunk_token_limit: int

    def count_tokens(self, text: str) -> int: ...
    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray: ...
    def encode_query(self, text: str) -> np.ndarray: ...


def default_index_dir() -> Path:
    """`GROUNDQA_INDEX` when set, else `./.groundqa`."""
    return Path(os.environ.get("GROUNDQA_INDEX") or DEFAULT_INDEX_DIR)


class KnowledgeBase:
    """Documents, their chunks, a FAISS index and a BM25 index, loaded from one index folder."""

    def __init__(self, index_dir: Path, manifest: dict, documents: list[Document], chunks: list[Chunk],
                 vectors: VectorIndex, lexical: LexicalIndex, encoder: TextEncoder) -> None:
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.retrieval = RetrievalSettings(**manifest["retrieval"])
        self.chunking = ChunkingSettings(**{k: manifest["chunking"][k] for k in ("max_tokens", "overlap")})
        self.encoder = encoder
        self._documents = {d.doc_id: d for d in documents}
        self._chunks = chunks
        self._vectors = vectors
        self._matrix = vectors.vectors()
        self._lexical = lexical
        order = {d.doc_id: i for i, d in enumerate(documents)}
        self._chunk_doc = np.array([order[c.doc_id] for c in chunks], dtype=np.int64)
        self._doc_ids = [d.doc_id for d in documents]

    # ----- building and opening -------------------------------------------------------------
    @classmethod
    def build(cls, paths: Iterable[str | os.PathLike], *, index_dir: str | os.PathLike | None = None,
              model: str | None = None, chunk_size: int = 200, chunk_overlap: int = 1,
              retrieval: RetrievalSettings = RetrievalSettings(), encoder: TextEncoder | None = None,
              show_progress: bool = True, warn: Callable[[str], None] | None = None) -> "KnowledgeBase":
        """Index files and folders (.txt .md .html .pdf) into `index_dir`, replacing what was there."""
        documents = load_documents(paths, warn=warn)
        return cls.from_documents(documents, index_dir=index_dir, model=model, chunk_size=chunk_size,
                                  chunk_overlap=chunk_overlap, retrieval=retrieval, encoder=encoder,
                                  show_progress=show_progress)

    @classmethod
    def from_documents(cls, documents: Sequence[Document], *, index_dir: str | os.PathLike | None = None,
                       model: str | None = None, chunk_size: int = 200, chunk_overlap: int = 1,
                       retrieval: RetrievalSettings = RetrievalSettings(),
                       encoder: TextEncoder | None = None, show_progress: bool = True) -> "KnowledgeBase":
        """Index documents already in memory (used by evaluation and by `build`)."""
        index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        if not documents:
            raise GroundQAError("nothing to index: no documents were given")
        ids = [d.doc_id for d in documents]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise GroundQAError(f"duplicate doc_id {dup!r}: every document needs its own id")
        encoder = encoder or Encoder(model)
        settings = ChunkingSettings(max_tokens=min(chunk_size, encoder.chunk_token_limit), overlap=chunk_overlap)
        chunks, texts = _chunk_all(documents, settings, encoder, show_progress)
        vectors = VectorIndex(encoder.dimension)
        vectors.add(encoder.encode(texts, show_progress=show_progress))
        lexical = LexicalIndex.build(texts)
        manifest = new_manifest(
            model=encoder.name, dimension=encoder.dimension,
            chunking={"max_tokens": settings.max_tokens, "overlap": settings.overlap,
                      "title_in_text": True, "max_title_tokens": MAX_TITLE_TOKENS},
            retrieval={**retrieval.to_dict()}, n_documents=len(documents), n_chunks=len(chunks))
        manifest["lexical"] = {"k1": lexical.k1, "b": lexical.b, "stemmer": "english", "stopwords": "en"}
        with atomic_folder(index_dir) as tmp:
            write_store(tmp, documents, chunks)
            vectors.save(tmp / VECTORS)
            lexical.save(tmp / LEXICAL)
            write_manifest(tmp, manifest)
        return cls.open(index_dir, encoder=encoder)

    @classmethod
    def open(cls, index_dir: str | os.PathLike | None = None, *, model: str | None = None,
             encoder: TextEncoder | None = None) -> "KnowledgeBase":
        """Load the index folder; refuse one written by another format version or model."""
        index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        manifest = read_manifest(index_dir)
        built_with = manifest["model"]["name"]
        if model is not None and model_name(model) != built_with:
            raise IndexMismatchError(
                f"index at {index_dir} was built with model {built_with!r}, not {model!r}: rebuild it "
                f"with `groundqa index PATH... --model {model}` or leave --model out")
        if encoder is None:
            encoder = Encoder(built_with)
        elif encoder.name != built_with:
            raise IndexMismatchError(
                f"index at {index_dir} was built with model {built_with!r} but the encoder is "
                f"{encoder.name!r}: rebuild the index with that model")
        if encoder.dimension != manifest["model"]["dimension"]:
            raise IndexMismatchError(
                f"index at {index_dir} holds {manifest['model']['dimension']}-dimensional vectors but "
                f"the model gives {encoder.dimension}: rebuild it with `groundqa index`")
        documents, chunks = read_store(index_dir)
        vectors = VectorIndex.load(index_dir / VECTORS)
        lexical = LexicalIndex.load(index_dir / LEXICAL, k1=manifest["lexical"]["k1"], b=manifest["lexical"]["b"])
        if len(vectors) != len(chunks):
            raise IndexMismatchError(f"index at {index_dir} is inconsistent ({len(vectors)} vectors, "
                                     f"{len(chunks)} chunks): rebuild it with `groundqa index`")
        return cls(index_dir, manifest, documents, chunks, vectors, lexical, encoder)

    # ----- reading ----------------------------------------------------------------------------
    @property
    def documents(self) -> list[Document]:
        """Every indexed document, in index order."""
        return list(self._documents.values())

    @property
    def chunks(self) -> list[Chunk]:
        return list(self._chunks)

    def document(self, doc_id: str) -> Document:
        """The stored document; raises UnknownDocumentError for an id not in the index."""
        try:
            return self._documents[doc_id]
        except KeyError:
            raise UnknownDocumentError(
                f"no document {doc_id!r} in the index at {self.index_dir} "
                f"({len(self._documents)} documents; list them with `groundqa show --list`)") from None

    # ----- searching --------------------------------------------------------------------------
    def search(self, question: str, k: int = 5, *, mode: str = "hybrid",
               retrieval: RetrievalSettings | None = None) -> list[Passage]:
        """The `k` best passages for `question`, best first, each with its exact citation."""
        ids, scores = self._rank_chunks(question, k, mode, retrieval)
        return [self._passage(int(i), float(s), rank) for rank, (i, s) in enumerate(zip(ids[:k], scores[:k]), 1)]

    def search_documents(self, question: str, k: int = 10, *, mode: str = "hybrid",
                         retrieval: RetrievalSettings | None = None) -> list[tuple[str, float]]:
        """The `k` best documents as (doc_id, score); a document scores as its best chunk."""
        settings = retrieval or self.retrieval
        depth = max(settings.candidates, 3 * k)
        ids, scores = self._rank_chunks(question, depth, mode, replace(settings, candidates=depth))
        best = best_per_group(self._chunk_doc[ids], scores)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [(self._doc_ids[d], s) for d, s in ranked]

    def _rank_chunks(self, question: str, k: int, mode: str,
                     retrieval: RetrievalSettings | None) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty: ask something, e.g. groundqa search \"what is X?\"")
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        if k < 1:
            raise QuestionError(f"k must be at least 1, not {k}")
        settings = retrieval or self.retrieval
        n = max(k, settings.candidates)
        if mode == "lexical":
            lex = self._lexical.scores(question)
            ids = top_k(lex, n)
            return ids, lex[ids]
        query = self.encoder.encode_query(question)
        dense_scores, dense_ids = self._vectors.search(query, n)
        if mode == "dense":
            return dense_ids, dense_scores
        lex = self._lexical.scores(question)
        lex_ids = top_k(lex, n)
        union = np.union1d(dense_ids, lex_ids[lex[lex_ids] > 0])
        fused = fuse(self._matrix[union] @ query, lex[union], settings)
        order = top_k(fused, len(union))
        return union[order], fused[order]

    def _passage(self, row: int, score: float, rank: int) -> Passage:
        chunk = self._chunks[row]
        doc = self._documents[chunk.doc_id]
        return Passage(text=chunk.text, doc_id=doc.doc_id, source=doc.source, title=doc.title,
                       start=chunk.start, end=chunk.end, page=doc.page_at(chunk.start), score=score,
                       rank=rank, chunk=chunk.index)


def _chunk_all(documents: Sequence[Document], settings: ChunkingSettings, encoder: TextEncoder,
               show_progress: bool) -> tuple[list[Chunk], list[str]]:
    """Chunks of every document, and the text each is embedded with (title line + chunk text)."""
    chunks, texts = [], []
    for doc in tqdm(documents, desc="Chunking", unit="doc", disable=not show_progress):
        title = doc.title.strip()
        title_tokens = encoder.count_tokens(title) + 1 if title else 0
        if title_tokens > MAX_TITLE_TOKENS:
            title, title_tokens = "", 0
        limit = ChunkingSettings(max_tokens=min(settings.max_tokens, encoder.chunk_token_limit - title_tokens),
                                 overlap=settings.overlap)
        for chunk in chunk_document(doc, settings=limit, count_tokens=encoder.count_tokens):
            chunks.append(chunk)
            texts.append(f"{title}\n{chunk.text}" if title else chunk.text)
    return chunks, texts
