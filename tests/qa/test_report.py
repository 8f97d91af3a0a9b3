"""`compare`, the `eval --baseline` gate: a metric regresses when it moves the wrong way for its kind."""

import pytest

from qa.evaluation.report import compare

HIGHER_IS_BETTER = ["recall@10", "answer_recall@1", "ndcg@10", "mrr@10", "map@100", "quote_answer_recall@1",
                    "abstain_rate_unanswerable", "abstain_rate_article_removed"]
LOWER_IS_BETTER = ["abstain_rate_answerable", "ask_latency_p50_ms", "search latency p95 (ms)"]


def result(metrics: dict, mode: str = "hybrid") -> dict:
    return {"settings": {"mode": mode}, "metrics": metrics}


def regressed(name: str, before: float, after: float, tolerance: float = 0.01) -> bool:
    return compare(result({name: after}), result({name: before}), tolerance=tolerance)[1]


def test_a_rise_of_answerable_abstention_is_a_regression():
    lines, bad = compare(result({"abstain_rate_answerable": 0.50, "recall@10": 0.9}),
                         result({"abstain_rate_answerable": 0.04, "recall@10": 0.9}), tolerance=0.01)
    assert bad
    assert lines == ["hybrid abstain_rate_answerable: 0.0400 -> 0.5000 (+0.4600, lower is better)  REGRESSION",
                     "hybrid recall@10: 0.9000 -> 0.9000 (+0.0000)"]


@pytest.mark.parametrize("name", HIGHER_IS_BETTER)
def test_metrics_better_higher_regress_when_they_fall(name):
    assert regressed(name, 0.80, 0.70)
    assert not regressed(name, 0.70, 0.80)


@pytest.mark.parametrize("name", LOWER_IS_BETTER)
def test_metrics_better_lower_regress_when_they_rise(name):
    assert regressed(name, 0.04, 0.50)
    assert not regressed(name, 0.50, 0.04)


@pytest.mark.parametrize("name, before, after", [("recall@10", 0.80, 0.795), ("abstain_rate_answerable", 0.04, 0.045)])
def test_a_change_within_the_tolerance_is_no_regression(name, before, after):
    assert not regressed(name, before, after, tolerance=0.01)
    assert regressed(name, before, after, tolerance=0.001)


def test_modes_missing_from_the_baseline_are_named_not_compared():
    lines, bad = compare({"modes": {"dense": result({"recall@10": 0.1}, "dense")}},
                         result({"recall@10": 0.9}, "hybrid"), tolerance=0.01)
    assert lines == ["dense: not in the baseline"] and not bad
