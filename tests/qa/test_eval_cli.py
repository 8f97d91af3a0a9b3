"""`groundqa eval` end to end on small data sets made here, checked against hand-computed metrics."""

import json
import math

import pytest

from ui.cli import main


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "", "text": "Apple banana apple banana orchard."},
        {"_id": "d2", "title": "", "text": "Cherry trees bloom."},
        {"_id": "d3", "title": "", "text": "An apple a day, a cherry a week."},
    ])
    write_jsonl(folder / "queries.jsonl", [
        {"_id": "q1", "text": "apple banana"}, {"_id": "q2", "text": "cherry"}, {"_id": "q3", "text": "unused"}])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t1\nq2\td3\t1\n")
    return folder


def run_eval(capsys, *args):
    code = main(["eval", *map(str, args), "--json", "--quiet"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_beir_metrics_match_hand_computation(beir, tmp_path, capsys):
    report = tmp_path / "report"
    code, result, _ = run_eval(capsys, beir, "--mode", "lexical", "--cache-dir", tmp_path / "cache",
                               "--report", report)
    assert code == 0
    # q1 finds d1 and d3 (both relevant): all metrics 1.  q2 "cherry" finds d2, then d3 (the longer text,
    # the same one term); d1 holds no query word and is not retrieved at all.  The relevant d3 is second:
    # ndcg 1/log2(3), mrr 1/2, map 1/2, recall 1.
    m = result["metrics"]
    assert result["n_queries"] == 2
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2, abs=1e-4)
    assert m["mrr@10"] == pytest.approx(0.75, abs=1e-4)
    assert m["map@100"] == pytest.approx(0.75, abs=1e-4)
    assert m["recall@10"] == 1.0 and m["recall@100"] == 1.0
    assert set(result["latency_ms"]) == {"p50", "p95", "mean"}
    rows = {r["qid"]: r for r in map(json.loads, (report / "per_query.jsonl").read_text().splitlines())}
    assert [d["doc_id"] for d in rows["q2"]["retrieved"]] == ["d2", "d3"]


def test_a_lexical_search_for_words_in_no_document_finds_nothing(tmp_path, fake_encoder):
    from corpus import Document
    from qa import KnowledgeBase

    docs = [Document("a", "a.txt", "A", "Apple banana orchard."), Document("b", "b.txt", "B", "Cherry trees bloom.")]
    kb = KnowledgeBase.from_documents(docs, index_dir=tmp_path / "idx", encoder=fake_encoder, show_progress=False)
    assert [p.doc_id for p in kb.search("cherry", mode="lexical")] == ["b"]
    assert kb.search("zebra giraffe", mode="lexical") == []
    assert kb.search_documents("zebra giraffe", mode="lexical") == []


def test_all_modes_report_and_regression_gate(beir, tmp_path, capsys):
    report = tmp_path / "report"
    code, result, _ = run_eval(capsys, beir, "--mode", "all", "--cache-dir", tmp_path / "cache", "--report", report)
    assert code == 0 and set(result["modes"]) == {"hybrid", "dense", "lexical"}
    for name in ("report.md", "metrics.json", "per_query.jsonl", "recall_curve.png", "latency.png"):
        assert (report / name).stat().st_size > 0
    rows = [json.loads(line) for line in (report / "per_query.jsonl").read_text().splitlines()]
    assert {r["mode"] for r in rows} == {"hybrid", "dense", "lexical"} and len(rows) == 6

    better = json.loads((report / "metrics.json").read_text())
    better["modes"]["lexical"]["metrics"]["ndcg@10"] += 0.2
    (tmp_path / "better.json").write_text(json.dumps(better))
    code, _, err = run_eval(capsys, beir, "--mode", "lexical", "--cache-dir", tmp_path / "cache",
                            "--baseline", tmp_path / "better.json")
    assert code == 3 and "REGRESSION" in err
    code, _, _ = run_eval(capsys, beir, "--mode", "all", "--cache-dir", tmp_path / "cache",
                          "--baseline", report / "metrics.json")
    assert code == 0


def test_squad_answer_and_paragraph_recall(tmp_path, capsys):
    squad = {"data": [
        {"title": "Honey_bees", "paragraphs": [
            {"context": "The queen bee lays up to 2,000 eggs per day in early summer.",
             "qas": [{"id": "a", "question": "How many eggs does the queen lay per day?",
                      "answers": [{"text": "2,000", "answer_start": 25}]}]},
            {"context": "Drones are male bees that do not sting. Drones mate with queens.",
             "qas": [{"id": "b", "question": "Which bees do not sting?",
                      "answers": [{"text": "Drones", "answer_start": 0}]}]}]},
        {"title": "Wax", "paragraphs": [
            {"context": "Beeswax melts at about 64 degrees Celsius.",
             "qas": [{"id": "c", "question": "At what temperature does beeswax melt?",
                      "answers": [{"text": "64 degrees", "answer_start": 20}]},
                     # lexically this question matches the queen paragraph best, its answer is here
                     {"id": "d", "question": "queen queen eggs day summer wax",
                      "answers": [{"text": "Celsius", "answer_start": 32}]}]}]}]}
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(squad))
    code, result, _ = run_eval(capsys, path, "--mode", "lexical", "--cache-dir", tmp_path / "cache")
    assert code == 0
    m = result["metrics"]
    assert result["n_queries"] == 4
    assert m["answer_recall@1"] == pytest.approx(0.75)
    assert m["answer_recall@5"] == 1.0
    assert m["recall@1"] == pytest.approx(0.75)

    code, limited, _ = run_eval(capsys, path, "--mode", "lexical", "--cache-dir", tmp_path / "cache",
                                "--articles", 1)
    assert code == 0 and limited["n_queries"] == 2


def squad2_file(path, *, with_impossible=True):
    """A SQuAD-2-shaped file: each question's words occur only in its own article (lexically)."""
    def qa(qid, question, answer=None):
        if answer is None:
            return {"id": qid, "question": question, "answers": [], "is_impossible": True,
                    "plausible_answers": [{"text": "2,000", "answer_start": 25}]}
        return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": 0}],
                "is_impossible": False}

    queen = [qa("a", "How many eggs does the queen lay per day?", "2,000")]
    wax = [qa("c", "At what temperature does beeswax melt?", "64 degrees")]
    if with_impossible:
        queen.append(qa("b", "How many eggs does the queen lay per year?"))
        wax.append(qa("d", "At what temperature does beeswax boil?"))
    path.write_text(json.dumps({"version": "v2.0", "data": [
        {"title": "Honey_bees", "paragraphs": [
            {"context": "The queen bee lays up to 2,000 eggs per day in early summer.", "qas": queen}]},
        {"title": "Wax", "paragraphs": [{"context": "Beeswax melts at about 64 degrees Celsius.", "qas": wax}]}]}))
    return path


def test_squad2_impossible_questions_are_asked_with_every_paragraph(tmp_path, capsys):
    # Lexical mode with threshold 0: an ask abstains only when no passage holds a question word,
    # i.e. exactly when the question's own article was left out.
    path = squad2_file(tmp_path / "tiny-squad2.json")
    report = tmp_path / "report"
    code, result, _ = run_eval(capsys, path, "--mode", "lexical", "--threshold", "0", "--cache-dir",
                               tmp_path / "cache", "--report", report)
    assert code == 0 and result["n_queries"] == 4
    m = result["metrics"]
    assert m["abstain_rate_answerable"] == 0.0
    assert m["abstain_rate_unanswerable"] == 0.0  # b and d, asked with their own paragraphs indexed
    assert m["abstain_rate_article_removed"] == 1.0  # a and c, asked without their articles
    rows = {r["qid"]: r for r in map(json.loads, (report / "per_query.jsonl").read_text().splitlines())}
    assert {q for q, r in rows.items() if "unanswerable_answer" in r} == {"b", "d"}
    assert {q for q, r in rows.items() if "article_removed_answer" in r} == {"a", "c"}


def test_squad1_keeps_the_article_removed_asks_as_its_unanswerable_rate(tmp_path, capsys):
    path = tmp_path / "tiny-squad1.json"
    data = json.loads(squad2_file(path, with_impossible=False).read_text())
    for article in data["data"]:
        for qa in article["paragraphs"][0]["qas"]:
            del qa["is_impossible"]
    path.write_text(json.dumps(data))
    code, result, _ = run_eval(capsys, path, "--mode", "lexical", "--threshold", "0", "--cache-dir", tmp_path / "c")
    assert code == 0 and result["n_queries"] == 2
    assert result["metrics"]["abstain_rate_unanswerable"] == 1.0
    assert "abstain_rate_article_removed" not in result["metrics"]


SQUAD_OK = {"title": "T", "paragraphs": [{"context": "Bees fly.", "qas": [
    {"id": "q", "question": "What flies?", "answers": [{"text": "Bees", "answer_start": 0}]}]}]}


def broken_squad(change):
    article = json.loads(json.dumps(SQUAD_OK))
    change(article)
    return {"data": [article]}


@pytest.mark.parametrize("data, problem", [
    (broken_squad(lambda a: a["paragraphs"][0]["qas"][0].pop("question")),
     "data[0].paragraphs[0].qas[0]: no 'question' field"),
    (broken_squad(lambda a: a["paragraphs"][0].update(context=7)),
     "data[0].paragraphs[0]: 'context' is int, not str"),
    (broken_squad(lambda a: a.pop("paragraphs")), "data[0]: no 'paragraphs' field"),
    (broken_squad(lambda a: a["paragraphs"][0]["qas"][0].update(answers=["Bees"])),
     "data[0].paragraphs[0].qas[0].answers[0]: expected a JSON object, found str"),
    (broken_squad(lambda a: a["paragraphs"][0]["qas"][0].update(is_impossible="no")),
     "data[0].paragraphs[0].qas[0]: 'is_impossible' is str, not bool"),
    ({"data": {"title": "T"}}, "'data' is dict, not list"),
], ids=["no-question", "context-int", "no-paragraphs", "answer-str", "impossible-str", "data-dict"])
def test_a_malformed_squad_file_is_one_error_line(tmp_path, capsys, data, problem):
    path = tmp_path / "bad-squad.json"
    path.write_text(json.dumps(data))
    code, _, err = run_eval(capsys, path, "--cache-dir", tmp_path / "cache")
    assert code == 1 and err.strip().splitlines() == [f"groundqa: error: {path}: {problem}"]


@pytest.mark.parametrize("name, row, problem", [
    ("corpus.jsonl", {"title": "", "text": "No id here."}, "no '_id' field"),
    ("corpus.jsonl", ["d9", "a list, not an object"], "expected a JSON object, found list"),
    ("corpus.jsonl", {"_id": "d9", "text": ["not", "a", "string"]}, "'text' is list, not str"),
    ("queries.jsonl", {"_id": "q9"}, "no 'text' field"),
    ("queries.jsonl", {"_id": True, "text": "x"}, "'_id' is bool, not str or int"),
], ids=["corpus-no-id", "corpus-list", "corpus-text-list", "query-no-text", "query-id-bool"])
def test_a_malformed_beir_row_is_one_error_line_with_file_and_line(beir, tmp_path, capsys, name, row, problem):
    with (beir / name).open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    line = len((beir / name).read_text().splitlines())
    code, _, err = run_eval(capsys, beir, "--cache-dir", tmp_path / "cache")
    assert code == 1 and err.strip().splitlines() == [f"groundqa: error: {beir / name}:{line}: {problem}"]


@pytest.fixture
def question_set(tmp_path):
    """A one-document index, and a CSV of one answerable and one off-topic question about it."""
    from qa import KnowledgeBase

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The extractor is loaned for 48 hours. Members pay 35 dollars a year.")
    KnowledgeBase.build([tmp_path / "docs"], index_dir=tmp_path / "idx", show_progress=False)
    qs = tmp_path / "qs.csv"
    qs.write_text("question,answer\nHow long is the extractor loaned?,48 hours\nWhat is the moon made of?,\n")
    return qs, tmp_path / "idx"


def test_question_set_against_an_index_and_bad_inputs(question_set, tmp_path, capsys):
    qs, index = question_set
    code, result, _ = run_eval(capsys, qs, "--index", index, "--mode", "lexical")
    m = result["metrics"]
    assert code == 0 and m["answer_recall@1"] == 1.0 and result["n_queries"] == 2
    # `ask` quotes the answer first and abstains on the question the document does not cover
    assert m["quote_answer_recall@1"] == 1.0
    assert m["abstain_rate_answerable"] == 0.0 and m["abstain_rate_unanswerable"] == 1.0

    code, _, err = run_eval(capsys, qs, "--index", index, "--term-prior", "-1")
    assert code == 1 and "term_prior" in err.strip().splitlines()[-1]
    code, result, _ = run_eval(capsys, qs, "--index", index, "--mode", "lexical", "--term-prior", "0")
    assert code == 0 and result["metrics"]["answer_recall@1"] == 1.0

    for bad, message in [(tmp_path / "nope.json", "no such file"), (tmp_path / "docs", "not a BEIR folder"),
                         (tmp_path / "docs" / "a.txt", "cannot evaluate")]:
        code, _, err = run_eval(capsys, bad)
        assert code == 1 and message in err.strip().splitlines()[-1]


def test_the_baseline_gate_knows_more_answerable_abstention_is_worse(question_set, tmp_path, capsys):
    qs, index = question_set
    args = (qs, "--index", index, "--mode", "lexical")
    code, always, _ = run_eval(capsys, *args, "--threshold", "1.0")  # every ask abstains
    assert code == 0 and always["metrics"]["abstain_rate_answerable"] == 1.0
    always["metrics"]["abstain_rate_answerable"] = 0.04  # the baseline differs in this metric only
    (tmp_path / "low.json").write_text(json.dumps(always))
    code, _, err = run_eval(capsys, *args, "--threshold", "1.0", "--baseline", tmp_path / "low.json")
    assert code == 3
    assert [line for line in err.splitlines() if "REGRESSION" in line] == [
        "lexical abstain_rate_answerable: 0.0400 -> 1.0000 (+0.9600, lower is better)  REGRESSION"]

    code, usual, _ = run_eval(capsys, *args)
    assert code == 0 and usual["metrics"]["abstain_rate_answerable"] == 0.0
    usual["metrics"]["abstain_rate_answerable"] = 0.5  # now abstaining less than the baseline: better
    (tmp_path / "high.json").write_text(json.dumps(usual))
    code, _, err = run_eval(capsys, *args, "--baseline", tmp_path / "high.json")
    assert code == 0 and "REGRESSION" not in err
