"""qa.answers on its own: the scorer networks, the answer-type and coverage features, line spans,
the confidence features and the model file check, each against values worked out by hand."""

import json
import math

import numpy as np
import pytest

from qa.answers import (
    ANSWER_MODEL, CONFIDENCE_FEATURES, FEATURES, AnswerModel, Ensemble, Network, answer_type_match,
    confidence_features, coverage, line_span,
)
from qa.errors import AnswerModelError


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def one_layer(weights, bias, mean=(0.0, 0.0), scale=(1.0, 1.0)) -> Network:
    return Network(np.array(mean), np.array(scale), ((np.array(weights, dtype=float), np.array(bias, dtype=float)),))


def test_a_one_layer_network_is_a_logistic_regression_on_standardized_inputs():
    net = one_layer([[0.5], [-1.0]], [0.25], mean=(1.0, 0.0), scale=(2.0, 1.0))
    # row (1, 2) standardizes to (0, 2): 0 * 0.5 + 2 * -1 + 0.25 = -1.75; row (3, -1) to (1, -1): 1.75
    np.testing.assert_allclose(net.predict(np.array([[1.0, 2.0], [3.0, -1.0]])),
                               [logistic(-1.75), logistic(1.75)], rtol=1e-12)
    assert net.predict(np.array([1.0, 2.0])) == pytest.approx([logistic(-1.75)])  # one row as a vector


def test_hidden_layers_apply_relu_and_the_last_layer_does_not():
    hidden = (np.eye(2), np.array([0.0, -5.0]))
    out = (np.array([[1.0], [1.0]]), np.array([-1.0]))
    net = Network(np.zeros(2), np.ones(2), (hidden, out))
    # (0, 2): hidden (0, -3) -> ReLU (0, 0) -> -1.  (4, 7): hidden (4, 2) -> 6 - 1 = 5
    np.testing.assert_allclose(net.predict(np.array([[0.0, 2.0], [4.0, 7.0]])), [logistic(-1.0), logistic(5.0)])
    assert Network.from_dict(net.to_dict()).predict(np.array([[4.0, 7.0]])) == pytest.approx([logistic(5.0)])


def test_an_ensemble_averages_its_members_probabilities():
    a = one_layer([[0.0], [0.0]], [0.0])  # always 0.5
    b = one_layer([[0.0], [0.0]], [math.log(3.0)])  # always 0.75
    x = np.zeros((2, 2))
    np.testing.assert_allclose(Ensemble((a, b)).predict(x), [0.625, 0.625])  # not logistic(mean logit) 0.634
    np.testing.assert_allclose(Ensemble((a,)).predict(x), [0.5, 0.5])


def words(question: str) -> set[str]:
    return {w.lower() for w in question.replace("?", "").split()}


@pytest.mark.parametrize("question, sentence, expected", [
    ("When did the mine open?", "The mine opened in 1911.", 1.0),
    ("When did the mine open?", "The mine opened after a dry summer.", 1.0),
    ("When did the mine open?", "The mine opened long ago.", 0.0),
    ("How many eggs does the queen lay?", "She lays up to 2,000 eggs.", 1.0),
    ("How many eggs does the queen lay?", "She lays a great many eggs.", 0.0),
    ("Who is the secretary?", "The secretary is Jane Miller.", 1.0),
    ("Who is the secretary?", "The secretary is elected every year.", 0.0),
    ("Who is Jane?", "Everyone knows Jane.", 0.0),  # the only name is the question's own
    ("Where does the club meet?", "The club meets in Millbrook.", 1.0),
    ("Why do bees swarm?", "Bees swarm when the hive is crowded.", 0.5),  # no expected type
])
def test_answer_type_match(question, sentence, expected):
    assert answer_type_match(question, sentence, words(question)) == expected


def test_coverage_is_the_idf_weighted_share_of_question_terms():
    assert coverage({"queen": 1.0, "egg": 3.0}, {"egg", "day"}) == pytest.approx(0.75)
    assert coverage({"queen": 1.0, "egg": 3.0}, {"queen", "egg"}) == pytest.approx(1.0)
    assert coverage({"queen": 1.0}, set()) == 0.0
    assert coverage({}, {"queen"}) == 0.0


def test_confidence_features_follow_their_names_from_the_top_candidate():
    features = np.arange(3 * len(FEATURES), dtype=float).reshape(3, len(FEATURES))  # every cell distinct
    col = {name: features[1, i] for i, name in enumerate(FEATURES)}  # candidate 1 is the most probable
    out = confidence_features(np.array([0.2, 0.9, 0.5]), features, corpus_chunks=50)
    assert out.shape == (len(CONFIDENCE_FEATURES),)
    expected = {"top_probability": 0.9, "margin": 0.4, "top_dense": col["dense"], "top_lexical": col["lexical"],
                "best_passage_dense": features[2, FEATURES.index("passage_dense")],
                "top_neighbor_dense": col["neighbor_dense"], "top_lexical_context": col["lexical_context"],
                "mean_top3_probability": (0.9 + 0.5 + 0.2) / 3, "log_chunks": math.log(50),
                "top_window_dense": col["window_dense"]}
    assert set(expected) == set(CONFIDENCE_FEATURES)
    np.testing.assert_allclose(out, [expected[name] for name in CONFIDENCE_FEATURES])


def test_confidence_features_of_one_candidate_margin_to_nothing():
    out = confidence_features(np.array([0.7]), np.ones((1, len(FEATURES))), corpus_chunks=0)
    assert out[CONFIDENCE_FEATURES.index("margin")] == pytest.approx(0.7)
    assert out[CONFIDENCE_FEATURES.index("log_chunks")] == 0.0  # an empty index counts as one chunk


@pytest.mark.parametrize("start, end, lines", [
    (0, 1, (1, 1)),   # "a"
    (2, 4, (2, 2)),   # "bb"
    (2, 8, (2, 3)),   # "bb\nccc"
    (2, 5, (2, 2)),   # "bb\n": the newline ending the quote opens no new line
    (5, 5, (3, 3)),   # empty, at the start of line 3
])
def test_line_span(start, end, lines):
    assert line_span("a\nbb\nccc\n", start, end) == lines


def test_the_packaged_model_loads():
    model = AnswerModel.load()
    assert 0.0 <= model.threshold <= 1.0 and model.scorer.members and model.confidence.members


@pytest.mark.parametrize("change", [
    lambda d: d.update(features=d["features"][:-1]),
    lambda d: d.update(features=[*d["features"], "reader_score"]),
    lambda d: d.update(confidence_features=list(reversed(d["confidence_features"]))),
    lambda d: d.update(scorer=d["scorer"]["members"][0]),  # one network, the format before ensembles
], ids=["feature-missing", "feature-extra", "confidence-reordered", "single-network"])
def test_a_model_file_for_other_features_is_refused(tmp_path, change):
    data = json.loads(ANSWER_MODEL.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "answer_model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AnswerModelError, match="trained for other features"):
        AnswerModel.load(path)
