"""Answer-model training data from small corpora cut out of SQuAD dev (one article; a few paragraphs).

A person often indexes one report or a handful of files, not 2,000 Wikipedia paragraphs. The best
match in a small corpus is judged against fewer rivals, so the same scores mean more there; the
confidence model learns that from these asks, with the corpus size as one of its inputs:

- answerable: a question asked against a corpus that holds its paragraph;
- unanswerable, same topic: asked against its own article (or a few of its paragraphs) without
  any paragraph that contains one of its answers;
- unanswerable, off topic: another article's question asked against the corpus.

Chunk and sentence vectors are taken from the full SQuAD index, so nothing is encoded twice.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from qa import KnowledgeBase
from qa.evaluation.metrics import first_hit_rank
from corpus import scoring_text
from embeddings.indexer import embedding_texts


class CachedEncoder:
    """An encoder that answers from vectors already computed and encodes only the texts it has not seen."""

    def __init__(self, encoder, texts, vectors) -> None:
        self._encoder = encoder
        self._vectors = dict(zip(texts, np.asarray(vectors, dtype=np.float32)))

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def encode(self, texts, *, show_progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._encoder.encode(missing)))
        if not texts:
            return np.zeros((0, self._encoder.dimension), dtype=np.float32)
        return np.vstack([self._vectors[t] for t in texts])


def cached_encoder(kb: KnowledgeBase) -> CachedEncoder:
    """The full index's encoder, primed with every chunk and sentence vector the index holds."""
    texts = embedding_texts(kb.documents, kb.chunks, kb.encoder)
    vectors = [kb._matrix]
    docs = {d.doc_id: d.text for d in kb.documents}
    spans = [kb.sentences.span(r) for r in range(len(kb.sentences))]
    texts = texts + [scoring_text(docs[d], a, b) for d, a, b in spans]
    vectors.append(np.asarray(kb.sentences.matrix, dtype=np.float32))
    return CachedEncoder(kb.encoder, texts, np.vstack(vectors))


def _holds_answer(text: str, answers) -> bool:
    return first_hit_rank([text], answers) is not None


def collect_small(kb: KnowledgeBase, queries, articles, *, k: int, seed: int, group_size: int = 5,
                  desc: str = "small corpora", record=None) -> list[dict]:
    """Asks against each article alone and against groups of `group_size` of its paragraphs.

    Each record: `features`, `labels` (sentence holds an answer), `answerable`, `chunks` (the
    index's size in chunks) and `regime` ("article" or "group"). `record(small_kb, query,
    answerable, exclude)`, when given, makes each ask's record instead (regime and chunks are added).
    """
    rng = np.random.default_rng(seed)
    encoder = cached_encoder(kb)
    by_article: dict[int, list] = defaultdict(list)
    for q in queries:
        by_article[int(q.own_documents[0].split("-")[0])].append(q)
    docs_of = defaultdict(list)
    for d in kb.documents:
        docs_of[int(d.doc_id.split("-")[0])].append(d)
    others_pool = [q for a in articles for q in by_article[a]]
    records: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="groundqa-small-"))
    try:
        corpora = []
        for a in articles:
            corpora.append(("article", a, docs_of[a]))
            order = rng.permutation(len(docs_of[a]))
            for j in range(0, len(order), group_size):
                corpora.append(("group", a, [docs_of[a][i] for i in order[j:j + group_size]]))
        for regime, a, docs in tqdm(corpora, desc=desc, unit="corpus"):
            small = KnowledgeBase.from_documents(docs, index_dir=work / "kb", encoder=encoder, show_progress=False)
            ids = {d.doc_id for d in docs}
            own = [q for q in by_article[a] if next(iter(q.qrels)) in ids]
            if not own:
                continue
            n_chunks = len(small.chunks)  # the index's size, also when a few documents are excluded

            def ask(q, answerable, exclude=()):
                if record is not None:
                    records.append({**record(small, q, answerable, list(exclude) or None), "regime": regime,
                                    "chunks": n_chunks})
                    return
                _, cands, feats = small.sentence_candidates(q.text, k, exclude=list(exclude) or None)
                labels = np.array([answerable and _holds_answer(c.text, q.answers) for c in cands], dtype=bool)
                records.append({"features": feats, "labels": labels, "answerable": answerable, "regime": regime,
                                "chunks": n_chunks})

            for q in own:
                ask(q, True)
            if regime == "article":
                for q in own:
                    holding = [d.doc_id for d in docs if _holds_answer(d.text, q.answers)]
                    if len(holding) < len(docs):
                        ask(q, False, holding)
            else:
                near = [q for q in by_article[a] if next(iter(q.qrels)) not in ids
                        and not any(_holds_answer(d.text, q.answers) for d in docs)]
                for i in rng.permutation(len(near))[:len(own)]:
                    ask(near[i], False)
            off = [q for q in others_pool if not q.own_documents[0].startswith(f"{a:03d}-")]
            for i in rng.choice(len(off), size=min(len(own), len(off)), replace=False):
                if not any(_holds_answer(d.text, off[i].answers) for d in docs):
                    ask(off[i], False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return records


def save_records(path: Path, records: list[dict]) -> None:
    np.savez(path, features=np.vstack([r["features"] for r in records]),
             labels=np.concatenate([r["labels"] for r in records]),
             sizes=np.array([len(r["features"]) for r in records]),
             answerable=np.array([r["answerable"] for r in records]),
             chunks=np.array([r["chunks"] for r in records]),
             regime=np.array([r["regime"] for r in records]))


def load_records(path: Path) -> list[dict]:
    data = np.load(path, allow_pickle=False)
    cut = np.cumsum(data["sizes"])[:-1]
    feats, labels = np.split(data["features"], cut), np.split(data["labels"], cut)
    return [{"features": f, "labels": l, "answerable": bool(a), "chunks": int(c), "regime": str(r)}
            for f, l, a, c, r in zip(feats, labels, data["answerable"], data["chunks"], data["regime"])]
