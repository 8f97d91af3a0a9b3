"""Evaluation inputs, detected by shape: a BEIR folder, a SQuAD JSON file, or a question set for an index."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from corpus import Document
from qa.errors import EvaluationError


@dataclass(frozen=True)
class Query:
    """One evaluation question: relevant documents (BEIR), gold paragraph and answers (SQuAD, question sets)."""

    qid: str
    text: str
    qrels: dict[str, int] = field(default_factory=dict)
    answers: tuple[str, ...] = ()
    unanswerable: bool = False
    # SQuAD: the documents of the question's own article; asked without them, it has no answer
    own_documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Questions, and the documents to index for them (None: ask an existing index)."""

    name: str
    kind: str  # "beir", "squad" or "questions"
    queries: list[Query]
    documents: list[Document] | None = None


def load_dataset(path: str | Path, *, split: str = "test", limit: int | None = None,
                 articles: int | None = None) -> Dataset:
    """Detect the format of `path` and load it; a clear EvaluationError for anything else."""
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"no such file or folder: {path}")
    if path.is_dir():
        if (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file():
            return _limit(load_beir(path, split=split), limit)
        raise EvaluationError(f"{path} is not a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _limit(load_squad(path, articles=articles), limit)
    if suffix in (".jsonl", ".csv"):
        return _limit(load_question_set(path), limit)
    raise EvaluationError(
        f"cannot evaluate {path}: expected a BEIR folder, a SQuAD .json file, or a question set "
        f"(.jsonl with question/answers/unanswerable, or .csv with question,answer columns)")


def _limit(dataset: Dataset, limit: int | None) -> Dataset:
    if limit is None:
        return dataset
    if limit < 1:
        raise EvaluationError(f"--limit must be at least 1, not {limit}")
    return Dataset(dataset.name, dataset.kind, dataset.queries[:limit], dataset.documents)


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise EvaluationError(f"{path}:{n}: not JSON ({exc})") from exc
    return rows


def load_beir(folder: Path, *, split: str = "test") -> Dataset:
    """BEIR: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise EvaluationError(f"no qrels/{split}.tsv in {folder} (splits here: {', '.join(found) or 'none'})")
    documents = [Document(str(r["_id"]), f"{folder.name}/corpus.jsonl#{r['_id']}", r.get("title") or str(r["_id"]),
                          r.get("text") or "", kind="txt") for r in _read_jsonl(folder / "corpus.jsonl")]
    texts = {str(r["_id"]): r["text"] for r in _read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # header
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    missing = [q for q in qrels if q not in texts]
    if missing:
        raise EvaluationError(f"{qrels_path} names queries not in queries.jsonl, e.g. {missing[0]!r}")
    queries = [Query(qid, texts[qid], qrels=rel) for qid, rel in qrels.items()]
    return Dataset(f"{folder.name} ({split})", "beir", queries, documents)


def load_squad(path: Path, *, articles: int | None = None) -> Dataset:
    """SQuAD v1.1/v2: every paragraph becomes a document; each question's gold is its paragraph."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvaluationError(f"{path} is not SQuAD JSON (data[].paragraphs[].context/qas): {exc}") from exc
    if articles is not None:
        data = data[:articles]
    documents, queries = [], []
    for a, article in enumerate(data):
        title = str(article.get("title", f"article {a}")).replace("_", " ")
        own = tuple(f"{a:03d}-{p:03d}" for p in range(len(article["paragraphs"])))
        for p, para in enumerate(article["paragraphs"]):
            doc_id = own[p]
            documents.append(Document(doc_id, f"{path.name}#{title}/{p}", title, para["context"], kind="txt"))
            for qa in para["qas"]:
                answers = tuple(dict.fromkeys(ans["text"] for ans in qa.get("answers", [])))
                queries.append(Query(str(qa["id"]), qa["question"], qrels={doc_id: 1}, answers=answers,
                                     unanswerable=bool(qa.get("is_impossible")) or not answers,
                                     own_documents=own))
    return Dataset(path.name, "squad", queries, documents)


def load_question_set(path: Path) -> Dataset:
    """JSONL (`question`, `answers`, `unanswerable`) or CSV (`question`, `answer`) for an existing index."""
    queries = []
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "question" not in reader.fieldnames:
                raise EvaluationError(f"{path} needs a header with 'question' and 'answer' columns")
            for n, row in enumerate(reader, start=1):
                answer = (row.get("answer") or "").strip()
                queries.append(Query(str(n), row["question"], answers=(answer,) if answer else (),
                                     unanswerable=not answer))
    else:
        for n, row in enumerate(_read_jsonl(path), start=1):
            if "question" not in row:
                raise EvaluationError(f"{path}:{n}: no 'question' field")
            answers = row.get("answers", row.get("answer", []))
            answers = (answers,) if isinstance(answers, str) else tuple(answers)
            queries.append(Query(str(row.get("id", n)), row["question"], answers=answers,
                                 unanswerable=bool(row.get("unanswerable")) or not answers))
    if not queries:
        raise EvaluationError(f"{path} holds no questions")
    return Dataset(path.name, "questions", queries, None)
