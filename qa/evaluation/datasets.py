"""Evaluation inputs, detected by shape: a BEIR folder, a SQuAD JSON file, or a question set for an index."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
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
    # SQuAD 2.0 `is_impossible`: written to look answerable from its paragraph, so asked with all indexed
    impossible: bool = False


@dataclass(frozen=True)
class Dataset:
    """Questions, and the documents to index for them (None: ask an existing index)."""

    name: str
    kind: str  # "beir", "squad" or "questions"
    queries: list[Query]
    documents: list[Document] | None = None
    squad2: bool = False  # a SQuAD 2.0 file (its questions carry `is_impossible`)


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
    return replace(dataset, queries=dataset.queries[:limit])


def _read_jsonl(path: Path) -> list[dict]:
    """The JSON value of each non-blank line."""
    return [row for _, row in _numbered_jsonl(path)]


def _numbered_jsonl(path: Path) -> list[tuple[str, object]]:
    """The JSON value of each non-blank line, with "path:line" to name it in errors."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append((f"{path}:{n}", json.loads(line)))
                except ValueError as exc:
                    raise EvaluationError(f"{path}:{n}: not JSON ({exc})") from exc
    return rows


_REQUIRED = object()


def _field(row, key: str, kind, where: str, default=_REQUIRED):
    """`row[key]` if it is of type `kind` (`default` when absent); else an EvaluationError naming `where`."""
    if not isinstance(row, dict):
        raise EvaluationError(f"{where}: expected a JSON object, found {type(row).__name__}")
    value = row.get(key)
    if value is None:
        if default is _REQUIRED:
            raise EvaluationError(f"{where}: no {key!r} field")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # JSON true is no id
        wanted = " or ".join(k.__name__ for k in kinds)
        raise EvaluationError(f"{where}: {key!r} is {type(value).__name__}, not {wanted}")
    return value


def load_beir(folder: Path, *, split: str = "test") -> Dataset:
    """BEIR: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/<split>.tsv."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise EvaluationError(f"no qrels/{split}.tsv in {folder} (splits here: {', '.join(found) or 'none'})")
    documents = [_beir_document(folder, where, r) for where, r in _numbered_jsonl(folder / "corpus.jsonl")]
    texts = {str(_field(r, "_id", (str, int), where)): _field(r, "text", str, where)
             for where, r in _numbered_jsonl(folder / "queries.jsonl")}
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


def _beir_document(folder: Path, where: str, row) -> Document:
    """A BEIR corpus row (_id, title, text) as a document."""
    doc_id = str(_field(row, "_id", (str, int), where))
    title = _field(row, "title", str, where, default="")
    text = _field(row, "text", str, where, default="")
    return Document(doc_id, f"{folder.name}/corpus.jsonl#{doc_id}", title or doc_id, text, kind="txt")


def load_squad(path: Path, *, articles: int | None = None) -> Dataset:
    """SQuAD v1.1/v2: every paragraph becomes a document; each question's gold is its paragraph."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EvaluationError(f"{path} is not SQuAD JSON (data[].paragraphs[].context/qas): {exc}") from exc
    data = _field(data, "data", list, f"{path}")
    if articles is not None:
        data = data[:articles]
    documents, queries, squad2 = [], [], False
    for a, article in enumerate(data):
        where = f"{path}: data[{a}]"
        title = str(_field(article, "title", (str, int), where, default=f"article {a}")).replace("_", " ")
        paragraphs = _field(article, "paragraphs", list, where)
        own = tuple(f"{a:03d}-{p:03d}" for p in range(len(paragraphs)))
        for p, para in enumerate(paragraphs):
            doc_id, at = own[p], f"{where}.paragraphs[{p}]"
            documents.append(Document(doc_id, f"{path.name}#{title}/{p}", title, _field(para, "context", str, at),
                                      kind="txt"))
            for q, qa in enumerate(_field(para, "qas", list, at)):
                squad2 |= isinstance(qa, dict) and "is_impossible" in qa
                queries.append(_squad_query(qa, f"{at}.qas[{q}]", doc_id, own))
    return Dataset(path.name, "squad", queries, documents, squad2=squad2)


def _squad_query(qa, where: str, doc_id: str, own: tuple[str, ...]) -> Query:
    """One SQuAD question; `where` names it in errors."""
    answers = _field(qa, "answers", list, where, default=[])
    texts = tuple(dict.fromkeys(_field(ans, "text", str, f"{where}.answers[{i}]") for i, ans in enumerate(answers)))
    impossible = _field(qa, "is_impossible", bool, where, default=False)
    return Query(str(_field(qa, "id", (str, int), where)), _field(qa, "question", str, where), qrels={doc_id: 1},
                 answers=texts, unanswerable=impossible or not texts, own_documents=own, impossible=impossible)


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
