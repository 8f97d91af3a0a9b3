"""`groundqa eval` end to end on small data sets made here, checked against hand-computed metrics."""

import json

import pytest

from qa.cli import main


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "", "text": "Apple banana apple banana orchard."},
        {"_id": "d2", "title": "", "text": "Cherry trees bloom."},
        {"_id": "d3", "title": "", "text": "An apple a day."},
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
    code, result, _ = run_eval(capsys, beir, "--mode", "lexical", "--cache-dir", tmp_path / "cache")
    assert code == 0
    # q1 ranks d1, d3 (both relevant): all metrics 1.  q2 ranks d2 (score), then d1, d3 (score 0, index
    # order): the relevant d3 is third -> ndcg 1/log2(4) = 0.5, mrr 1/3, map 1/3, recall 1.
    m = result["metrics"]
    assert result["n_queries"] == 2
    assert m["ndcg@10"] == pytest.approx(0.75, abs=1e-4)
    assert m["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["map@100"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["recall@10"] == 1.0 and m["recall@100"] == 1.0
    assert set(result["latency_ms"]) == {"p50", "p95", "mean"}


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


def test_question_set_against_an_index_and_bad_inputs(tmp_path, capsys, fake_encoder):
    from qa import KnowledgeBase

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The extractor is loaned for 48 hours. Members pay 35 dollars a year.")
    KnowledgeBase.build([tmp_path / "docs"], index_dir=tmp_path / "idx", show_progress=False)
    qs = tmp_path / "qs.csv"
    qs.write_text("question,answer\nHow long is the extractor loaned?,48 hours\nWhat is the moon made of?,\n")
    code, result, _ = run_eval(capsys, qs, "--index", tmp_path / "idx", "--mode", "lexical")
    assert code == 0 and result["metrics"]["answer_recall@1"] == 1.0 and result["n_queries"] == 2

    code, _, err = run_eval(capsys, qs, "--index", tmp_path / "idx", "--term-prior", "-1")
    assert code == 1 and "term_prior" in err.strip().splitlines()[-1]
    code, result, _ = run_eval(capsys, qs, "--index", tmp_path / "idx", "--mode", "lexical", "--term-prior", "0")
    assert code == 0 and result["metrics"]["answer_recall@1"] == 1.0

    for bad, message in [(tmp_path / "nope.json", "no such file"), (tmp_path / "docs", "not a BEIR folder"),
                         (tmp_path / "docs" / "a.txt", "cannot evaluate")]:
        code, _, err = run_eval(capsys, bad)
        assert code == 1 and message in err.strip().splitlines()[-1]
