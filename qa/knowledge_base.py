"""`KnowledgeBase`: the public entry object — build or open an index folder, search it, read its documents."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Collection, Iterable, Sequence

import numpy as np

from corpus import Chunk, ChunkingSettings, Document, load_documents, scoring_text
from embeddings import IndexMismatchError, TermPrior, model_name, read_manifest
from embeddings.backends import DEFAULT_BACKEND, QUERY_BACKENDS, check_encoder, load_encoder
from embeddings.indexer import TextEncoder, build_index, update_index
from embeddings.document_shelf import DocumentRecord
from embeddings.index_folder import damaged
from embeddings.index_view import IndexView, open_view
from embeddings.dense_search import open_dense_search
from embeddings.vector_store import describe, location, store_record
from embeddings.lock import writer_lock
from qa.answers import (
    FEATURES, Answer, AnswerModel, Candidate, Quote, default_answer_model, distinct_best,
    sentence_features,
)
from qa.citations import passages_of, quote_of, verify
from qa.errors import AnswerModelError, GroundQAError, QuestionError, UnknownDocumentError
from qa.passages import Passage
from qa.reader import Reader, default_reader, reader_text, reread
from qa.retrieval import MODES, RetrievalSettings, best_per_group, rank_chunks
from qa.sentence_table import Sentences
from qa.side_thread import SideThread

DEFAULT_INDEX_DIR = ".groundqa"


def default_index_dir() -> Path:
    """`GROUNDQA_INDEX` when set, else `./.groundqa`."""
    return Path(os.environ.get("GROUNDQA_INDEX") or DEFAULT_INDEX_DIR)


class KnowledgeBase:
    """Documents, their chunks, a FAISS index and a BM25 index, loaded from one index folder."""

    def __init__(self, index_dir: Path, manifest: dict, view: IndexView,
                 encoder: TextEncoder | Callable[[], TextEncoder]) -> None:
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.retrieval = RetrievalSettings(**manifest["retrieval"])
        self.chunking = ChunkingSettings(**{k: manifest["chunking"][k] for k in ("max_tokens", "overlap")})
        # An encoder, or a function making one on first use: listing and showing never load a model.
        self._encoder = encoder if hasattr(encoder, "encode_query") else None
        self._make_encoder = None if self._encoder is not None else encoder
        self._documents = view.documents
        self._table = view.table
        self._matrix, self._vectors = open_dense_search(self.index_dir, manifest, view)
        self._lexical = view.lexical(k1=manifest["lexical"]["k1"], b=manifest["lexical"]["b"])
        self._chunk_doc = view.table.chunk_doc
        self.sentences = Sentences(self._documents, view.table, self._matrix, view.sentence_vectors,
                                   (view.windows, view.window_offsets))
        self._chunk_words = TermPrior.of_lengths(view.table.chunk_end - view.table.chunk_start).chunk_words
        self._side = SideThread()  # the dense half of a hybrid search runs there while BM25 scores

    @property
    def store(self) -> str:
        """Where this index's chunk vectors are searched (`embeddings.vector_store.describe`)."""
        return describe(self.manifest.get("store", {}))

    @property
    def encoder(self) -> TextEncoder:
        """The encoder of this index's model, loaded when first needed."""
        if self._encoder is None:
            encoder = self._make_encoder()
            check_encoder(self.index_dir, self.manifest, encoder)
            self._encoder = encoder
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: TextEncoder) -> None:
        self._encoder = encoder

    # ----- building and opening -------------------------------------------------------------
    @classmethod
    def build(cls, paths: Iterable[str | os.PathLike], *, index_dir: str | os.PathLike | None = None,
              model: str | None = None, chunk_size: int = 200, chunk_overlap: int = 1,
              retrieval: RetrievalSettings = RetrievalSettings(), encoder: TextEncoder | None = None,
              backend: str = DEFAULT_BACKEND, show_progress: bool = True,
              warn: Callable[[str], None] | None = None, store: str | None = None) -> "KnowledgeBase":
        """Index files and folders (.txt .md .html .pdf) into `index_dir`, replacing what was there.

        `store` is where chunk vectors are searched: "faiss" (default, in the process),
        "milvus-lite:PATH" or "milvus://HOST:PORT/COLLECTION".
        """
        documents = load_documents(paths, warn=warn)
        return cls.from_documents(documents, index_dir=index_dir, model=model, chunk_size=chunk_size,
                                  chunk_overlap=chunk_overlap, retrieval=retrieval, encoder=encoder,
                                  backend=backend, show_progress=show_progress, store=store)

    @classmethod
    def from_documents(cls, documents: Sequence[Document], *, index_dir: str | os.PathLike | None = None,
                       model: str | None = None, chunk_size: int = 200, chunk_overlap: int = 1,
                       retrieval: RetrievalSettings = RetrievalSettings(),
                       encoder: TextEncoder | None = None, backend: str = DEFAULT_BACKEND,
                       show_progress: bool = True, files: dict[str, dict] | None = None,
                       store: str | None = None) -> "KnowledgeBase":
        """Index documents already in memory (used by evaluation and by `build`), replacing the index.

        `backend` ("onnx" or "torch") runs the model when no `encoder` is given; `files` records
        where documents came from (doc_id -> path, size, mtime_ns), so a later update knows them.
        """
        index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        if not documents:
            raise GroundQAError("nothing to index: no documents were given")
        ids = [d.doc_id for d in documents]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise GroundQAError(f"duplicate doc_id {dup!r}: every document needs its own id")
        record = store_record(store, index_dir)
        encoder = encoder or load_encoder(model, backend=backend)
        with writer_lock(index_dir):
            build_index(index_dir, documents, encoder=encoder, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                        retrieval=retrieval.to_dict(), files=files, show_progress=show_progress, store=record)
        return cls.open(index_dir, encoder=encoder)

    def add(self, paths: Iterable[str | os.PathLike], *, show_progress: bool = False,
            warn: Callable[[str], None] | None = None, prefix: str | None = None,
            skip_unreadable: bool = False) -> tuple["KnowledgeBase", list[Document]]:
        """Index more files into the same folder, as a new segment: only they are encoded and written.

        A file whose doc_id is already indexed replaces the old one when its content changed and
        is skipped when it did not. `prefix` names documents "<prefix><file name>" (e.g. uploads
        as "uploads/notes.md", apart from indexed files); `skip_unreadable` skips a broken file with
        a warning instead of failing the batch. Returns (the updated knowledge base, the documents
        added); this object stays as it was, so questions already running finish on a consistent index.
        """
        incoming = [d for d in load_documents(paths, warn=warn, prefix=prefix, skip_unreadable=skip_unreadable)
                    if d.doc_id not in self._documents or self._documents.record(d.doc_id).sha256 != d.sha256]
        return self._updated(incoming, set(), show_progress), incoming

    def remove(self, doc_ids: Iterable[str]) -> "KnowledgeBase":
        """The knowledge base without these documents (deleted from their segments, in the same folder)."""
        gone = set(doc_ids)
        for doc_id in gone:
            self.document(doc_id)  # unknown ids are an error, not a silent no-op
        if gone >= set(self._documents.ids):
            raise GroundQAError("cannot remove every document: an index needs at least one")
        return self._updated([], gone, False)

    def _updated(self, new_documents: Sequence[Document], dropped: set[str], show_progress: bool) -> "KnowledgeBase":
        """Commit `new_documents` as a segment and `dropped` as deletions, then open the result."""
        if not new_documents and not dropped:
            return self
        with writer_lock(self.index_dir):
            manifest = read_manifest(self.index_dir)
            update_index(self.index_dir, manifest, new_documents, dropped, manifest.get("files", {}),
                         encoder=lambda: self.encoder, show_progress=show_progress)
        return type(self).open(self.index_dir, encoder=self.encoder)

    @classmethod
    def open(cls, index_dir: str | os.PathLike | None = None, *, model: str | None = None,
             encoder: TextEncoder | None = None, backend: str | None = None,
             store: str | None = None) -> "KnowledgeBase":
        """Load the index folder's live segments; refuse one written by another format version or model.

        Without `encoder`, the index's model is loaded when a question first needs it, on `backend`
        or (default) the one that reads queries for the backend the index was built with. Dense
        search uses the store the index was built with; `store`, when given, must be that one.
        """
        index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        manifest = read_manifest(index_dir)
        if store is not None and store_record(store, index_dir) != location(manifest.get("store")):
            raise IndexMismatchError(
                f"index at {index_dir} searches its vectors in {describe(manifest.get('store', {}))}, not {store!r}: "
                f"rebuild it with `groundqa index PATH... --store {store}`")
        built_with = manifest["model"]["name"]
        if model is not None and model_name(model) != built_with:
            raise IndexMismatchError(
                f"index at {index_dir} was built with model {built_with!r}, not {model!r}: rebuild it "
                f"with `groundqa index PATH... --model {model}` or leave --model out")
        if encoder is None:
            built_by = manifest["encoder"]["backend"]
            query_backend = backend or QUERY_BACKENDS.get(built_by, built_by)
            encoder = lambda: load_encoder(built_with, backend=query_backend)  # noqa: E731
        else:
            check_encoder(index_dir, manifest, encoder)
        for attempt in range(3):
            view, manifest = open_view(index_dir, manifest)
            try:
                return cls(index_dir, manifest, view, encoder)
            except (OSError, RuntimeError) as exc:  # e.g. its approximate index replaced by a commit since
                newer = read_manifest(index_dir)
                if attempt == 2 or newer["index_id"] == manifest["index_id"]:
                    raise damaged(index_dir, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                  ) from exc
                manifest = newer
        raise AssertionError("unreachable")

    @property
    def default_threshold(self) -> float:
        """The calibrated abstention threshold `ask` uses when none is given (the reader's, when shipped)."""
        head = default_reader().head
        return head.threshold if head is not None else default_answer_model().threshold

    # ----- reading ----------------------------------------------------------------------------
    @property
    def documents(self) -> list[Document]:
        """Every indexed document, in index order, text and all (read from disk: on a large index,
        `records` is what lists them)."""
        return [self._documents.get(d) for d in self._documents.ids]

    @property
    def records(self) -> list[DocumentRecord]:
        """Every indexed document's record (id, source, title, length, ...: all but its text), in index order."""
        return list(self._documents.records)

    def chunk_counts(self) -> dict[str, int]:
        """How many chunks each document has, by doc_id."""
        counts = np.bincount(self._table.chunk_doc, minlength=len(self._documents)).tolist()
        return dict(zip(self._documents.ids, counts))

    @property
    def chunks(self) -> list[Chunk]:
        """Every chunk, in row order (built on request: an index keeps them as arrays)."""
        return [self.chunk(row) for row in range(self._table.chunks)]

    def chunk(self, row: int) -> Chunk:
        """The chunk at `row` (its vector's row)."""
        t = self._table
        doc = self._documents.get(self._documents.ids[t.chunk_doc[row]])
        sentences = tuple((int(t.sentence_start[r]), int(t.sentence_end[r])) for r in t.sentences_of(row))
        return Chunk(doc.doc_id, int(t.chunk_index[row]), int(t.chunk_start[row]), int(t.chunk_end[row]), doc.text,
                     sentences)

    def document(self, doc_id: str) -> Document:
        """The stored document; raises UnknownDocumentError for an id not in the index."""
        try:
            return self._documents.get(doc_id)
        except KeyError:
            raise UnknownDocumentError(
                f"no document {doc_id!r} in the index at {self.index_dir} "
                f"({len(self._documents)} documents; list them with `groundqa show --list`)") from None

    # ----- searching --------------------------------------------------------------------------
    def search(self, question: str, k: int = 5, *, mode: str = "hybrid",
               retrieval: RetrievalSettings | None = None, exclude: Collection[str] | None = None) -> list[Passage]:
        """The `k` best passages for `question`, best first, each with its exact citation.

        `exclude` leaves out the documents with these ids, as if they were not indexed.
        """
        ids, scores, _ = self._rank_chunks(question, k, mode, retrieval, exclude)
        return self._passages(ids[:k], scores[:k])

    def search_by_vector(self, vector: np.ndarray, k: int = 5) -> list[Passage]:
        """The `k` chunks nearest to `vector` (a unit vector of the index's model), best first:
        dense search alone, through the index's FAISS or Milvus search."""
        if k < 1:
            raise QuestionError(f"k must be at least 1, not {k}")
        scores, ids = self._vectors.search(np.asarray(vector, dtype=np.float32).reshape(-1), k)
        return self._passages(ids, scores)

    def search_documents(self, question: str, k: int = 10, *, mode: str = "hybrid",
                         retrieval: RetrievalSettings | None = None,
                         exclude: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The `k` best documents as (doc_id, score); a document scores as its best chunk."""
        settings = retrieval or self.retrieval
        depth = max(settings.candidates, 3 * k)
        ids, scores, _ = self._rank_chunks(question, depth, mode, replace(settings, candidates=depth), exclude)
        best = best_per_group(self._chunk_doc[ids], scores)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [(self._documents.ids[d], s) for d, s in ranked]

    def ask(self, question: str, k: int = 8, *, max_quotes: int = 3, mode: str = "hybrid",
            threshold: float | None = None, retrieval: RetrievalSettings | None = None,
            exclude: Collection[str] | None = None, answer_model: AnswerModel | None = None,
            reader: Reader | None | bool = True) -> Answer:
        """The sentences of the `k` best passages that answer `question`, as verified quotes.

        `abstained` is true when no sentence is a credible answer (confidence below `threshold`,
        default the calibrated one); the closest passages are returned either way. The bi-encoder
        scorer picks candidates; the reader (`qa.reader`, a cross-encoder) rereads the best of them
        with the question and decides; `reader=False` answers with the scorer alone.
        """
        if max_quotes < 1:
            raise QuestionError(f"max_quotes must be at least 1, not {max_quotes}")
        model = answer_model or default_answer_model()
        if reader is True:
            reader = default_reader()
        head = reader.head if reader else None
        if reader and head is None:
            raise AnswerModelError("the reader has no calibrated head: rerun scripts/calibrate_reader.py")
        if threshold is None:
            threshold = head.threshold if head is not None else model.threshold
        if not 0.0 <= threshold <= 1.0:
            raise QuestionError(f"threshold {threshold} must be between 0 and 1")
        passages, candidates, features = self.sentence_candidates(question, k, mode=mode, retrieval=retrieval,
                                                                  exclude=exclude)
        provenance = {"model": self.manifest["model"]["name"], "index_id": self.manifest["index_id"],
                      "index_dir": str(self.index_dir), "mode": mode, "k": k,
                      "retrieval": (retrieval or self.retrieval).to_dict(), "threshold": threshold,
                      "answer_model": model.provenance.get("name", "default"),
                      "reader": reader.info.name if reader else None}
        if not candidates:
            return Answer(question, True, 0.0, (), passages, provenance)
        probabilities = model.scorer.predict(features)
        confidence = model.confidence_of(probabilities, features, self._table.chunks)
        if reader:
            probabilities, confidence = self._reread(question, candidates, features, probabilities, confidence, reader)
        quotes: list[Quote] = []
        for i in distinct_best(candidates, probabilities):
            quote = self._quote(candidates[i], max(0.0, float(probabilities[i])))
            if any(q.doc_id == quote.doc_id and q.start <= quote.start and quote.end <= q.end for q in quotes):
                continue  # already shown inside an earlier quote (a list item quoted with its lead-in)
            quotes.append(quote)
            if len(quotes) == max_quotes:
                break
        return Answer(question, confidence < threshold, round(confidence, 4), tuple(quotes), passages, provenance)

    def sentence_candidates(self, question: str, k: int = 8, *, mode: str = "hybrid",
                            retrieval: RetrievalSettings | None = None, exclude: Collection[str] | None = None
                            ) -> tuple[tuple[Passage, ...], list[Candidate], np.ndarray]:
        """The `k` best passages, their sentences, and each sentence's scorer features (`answers.FEATURES`).

        The layer under `ask`, public so the answer model can be trained and inspected.
        """
        ids, scores, query = self._rank_chunks(question, k, mode, retrieval, exclude)
        ids, scores = ids[:k], scores[:k]
        passages = tuple(self._passages(ids, scores))
        if not len(ids):
            return passages, [], np.zeros((0, len(FEATURES)))
        if query is None:
            query = self.encoder.encode_query(question)
        candidates = self.sentences.candidates(ids, scores, query)
        neighbors = [self.sentences.neighbors(c.row) for c in candidates]
        rows = sorted({c.row for c in candidates} | {r for pair in neighbors for r in pair})
        cosine = dict(zip(rows, (self.sentences.vectors(rows) @ query).tolist()))
        dense = np.array([cosine[c.row] for c in candidates])
        window_dense = self.sentences.window_dense([c.row for c in candidates], query, dense)
        neighbor_dense = np.array([max((cosine[r] for r in pair), default=0.0) for pair in neighbors])
        n = len(candidates)
        scored = [scoring_text(*self._around(c)) for c in candidates]
        terms = self._lexical.terms(scored + [c.context for c in candidates])
        question_idf = self._lexical.query_idf(question, self._term_prior(retrieval or self.retrieval))
        features = sentence_features(question, question_idf, dense, candidates,
                                     [set(t) for t in terms[:n]], [set(t) for t in terms[n:]],
                                     neighbor_dense, window_dense)
        return passages, candidates, features

    def reader_text(self, candidate: Candidate) -> str:
        """What the reader reads of a candidate: its document's title line, then the sentence."""
        return reader_text(self._documents.record(candidate.doc_id).title, *self._around(candidate))

    def _around(self, c: Candidate) -> tuple[str, int, int]:
        """(text, start, end): the candidate's sentence with the text before it that may bear on its reading."""
        text, shift = self._documents.around(c.doc_id, c.start, c.end)
        return text, c.start - shift, c.end - shift

    def reader_context(self, candidate: Candidate) -> str:
        """The text a question's specifics (its numbers) are looked up in: the title and the sentence's neighbourhood."""
        return f"{self._documents.record(candidate.doc_id).title}\n{candidate.context}"

    def _reread(self, question: str, candidates: Sequence[Candidate], features: np.ndarray,
                probabilities: np.ndarray, scorer_confidence: float, reader: Reader) -> tuple[np.ndarray, float]:
        """`qa.reader.reread` over these candidates, read as `reader_text` and `reader_context` give them."""
        return reread(question, probabilities, features[:, FEATURES.index("lexical_context")], scorer_confidence,
                      reader, self._table.chunks, lambda i: self.reader_text(candidates[i]),
                      lambda i: self.reader_context(candidates[i]))

    def verify(self, quote: Quote) -> bool:
        """Whether `quote` still stands, word for word, at its place in the indexed document."""
        return verify(self._documents, quote)

    def _quote(self, c: Candidate, score: float) -> Quote:
        return quote_of(self._documents, self._table, c, self.sentences.quote_end(c.row), score)

    def _rank_chunks(self, question: str, k: int, mode: str, retrieval: RetrievalSettings | None,
                     exclude: Collection[str] | None = None):
        """Chunk rows and scores, best first, and the query vector (None in lexical mode)."""
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty: ask something, e.g. groundqa search \"what is X?\"")
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        if k < 1:
            raise QuestionError(f"k must be at least 1, not {k}")
        settings = retrieval or self.retrieval
        return rank_chunks(question, max(k, settings.candidates), mode, settings, vectors=self._vectors,
                           matrix=self._matrix, lexical=self._lexical, prior=self._term_prior(settings),
                           allowed=self._allowed_chunks(exclude), encode_query=lambda: self.encoder.encode_query(question),
                           start=self._side.start)

    def _term_prior(self, settings: RetrievalSettings) -> TermPrior:
        return TermPrior(chunk_words=self._chunk_words, weight=settings.term_prior)

    def _allowed_chunks(self, exclude: Collection[str] | None) -> np.ndarray | None:
        """A mask of the chunks whose documents are not in `exclude` (None when nothing is excluded)."""
        if not exclude:
            return None
        rows = [self._documents.position(d) for d in exclude if d in self._documents]
        return ~np.isin(self._chunk_doc, rows)

    def _passages(self, rows: np.ndarray, scores: np.ndarray) -> list[Passage]:
        return passages_of(self._documents, self._table, rows, scores)
