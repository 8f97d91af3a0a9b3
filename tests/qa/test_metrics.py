import random

import pytest

from qa.evaluation.metrics import (
    first_hit_rank, latency_summary, map_at_k, mrr_at_k, ndcg_at_k, recall_at_k, recall_curve,
)


def test_hand_computed_values():
    ranking = ["a", "b", "c", "d"]
    qrels = {"b": 1, "d": 2, "z": 1}
    # DCG = 1/log2(3) + 2/log2(5); ideal = 2/log2(2) + 1/log2(3) + 1/log2(4)
    import math
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    idcg = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(dcg / idcg)
    assert recall_at_k(ranking, qrels, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, qrels, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(ranking, qrels, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(ranking, qrels, 1) == 0.0
    assert map_at_k(ranking, qrels, 100) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_agrees_with_trec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(60)]
    qrels, run = {}, {}
    for q in range(25):
        qrels[f"q{q}"] = {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))}
        scores = rng.sample(range(1000), len(docs))
        run[f"q{q}"] = {d: float(s) for d, s in zip(docs, scores)}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100", "map_cut.100", "recip_rank"})
    ref = evaluator.evaluate(run)
    for q in qrels:
        ranking = sorted(run[q], key=lambda d: -run[q][d])
        assert ndcg_at_k(ranking, qrels[q], 10) == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-6)
        assert recall_at_k(ranking, qrels[q], 10) == pytest.approx(ref[q]["recall_10"], abs=1e-6)
        assert recall_at_k(ranking, qrels[q], 100) == pytest.approx(ref[q]["recall_100"], abs=1e-6)
        assert map_at_k(ranking, qrels[q], 100) == pytest.approx(ref[q]["map_cut_100"], abs=1e-6)
        assert mrr_at_k(ranking, qrels[q], 1000) == pytest.approx(ref[q]["recip_rank"], abs=1e-6)


def test_answer_hits_curve_and_latency():
    assert first_hit_rank(["no", "The Queen bee", "queen"], ["queen"]) == 2
    assert first_hit_rank(["no"], ["queen"]) is None
    assert recall_curve([1, 3, None], 3).tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    summary = latency_summary([0.010, 0.020, 0.030])
    assert summary["p50"] == 20.0 and summary["mean"] == 20.0
