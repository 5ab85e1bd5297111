"""The shared metrics: eq. 13 on hand-computed cases, sklearn agreement, fold summaries."""
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss

from transientrepro.metrics import classification_metrics, flat_weighted_log_loss, summarise_folds


def test_eq13_hand_computed():
    # class 0: two objects with p_true 0.5 and 0.25; class 1: one object with p_true 0.8
    y = np.array([0, 0, 1])
    p = np.array([[0.5, 0.5], [0.25, 0.75], [0.2, 0.8]])
    expected = -((math.log(0.5) + math.log(0.25)) / 2 + math.log(0.8)) / 2
    assert flat_weighted_log_loss(y, p) == pytest.approx(expected, rel=1e-12)


def test_eq13_weights_and_absent_classes():
    y = np.array([0, 1, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.6, 0.3], [0.2, 0.4, 0.4]])
    c0, c1 = -math.log(0.9), -(math.log(0.6) + math.log(0.4)) / 2
    assert flat_weighted_log_loss(y, p) == pytest.approx((c0 + c1) / 2)
    assert flat_weighted_log_loss(y, p, weights=[2, 1, 5]) == pytest.approx((2 * c0 + c1) / 3)


def test_eq13_equals_sklearn_with_inverse_frequency_weights():
    rng = np.random.default_rng(3)
    y = rng.choice(5, size=300, p=[0.6, 0.2, 0.1, 0.07, 0.03])
    p = rng.dirichlet(np.ones(5), size=300)
    w = 1.0 / np.bincount(y, minlength=5)[y]
    assert flat_weighted_log_loss(y, p) == pytest.approx(log_loss(y, p, sample_weight=w, labels=range(5)))


def test_eq13_perfect_and_uniform():
    y = np.array([0, 1, 2, 2])
    assert flat_weighted_log_loss(y, np.eye(3)[y]) == pytest.approx(0.0, abs=1e-12)
    assert flat_weighted_log_loss(y, np.full((4, 3), 1 / 3)) == pytest.approx(math.log(3))


@pytest.mark.parametrize(
    "y, p, msg",
    [
        (np.array([0, 3]), np.full((2, 3), 1 / 3), "outside"),
        (np.array([0.0, 1.0]), np.full((2, 3), 1 / 3), "integer"),
        (np.array([0, 1]), np.array([[np.nan, 1, 0], [0, 1, 0]]), "non-finite"),
        (np.array([0, 1, 1]), np.full((2, 3), 1 / 3), "len"),
    ],
)
def test_bad_inputs_are_named(y, p, msg):
    with pytest.raises(ValueError, match=msg):
        flat_weighted_log_loss(y, p)


def test_classification_metrics_and_fold_summary():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = np.eye(3)[y] * 2 + rng.normal(size=(200, 3))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert 0.5 < m["accuracy"] < 1.0
    assert 0.5 < m["roc_auc_micro"] <= 1 and 0.5 < m["roc_auc_macro"] <= 1
    cm = np.array(m["confusion_matrix_normalised"])
    assert np.allclose(cm.sum(axis=1), 1)
    assert np.array(m["confusion_matrix"]).sum() == 200
    m2 = classification_metrics(y[:100], p[:100], ["a", "b", "c"])
    s = summarise_folds([m, m2])
    assert s["accuracy"] == pytest.approx((m["accuracy"] + m2["accuracy"]) / 2)
    assert s["accuracy_std"] == pytest.approx(abs(m["accuracy"] - m2["accuracy"]) / 2)
    assert np.allclose(np.array(s["confusion_matrix_normalised"]), (cm + np.array(m2["confusion_matrix_normalised"])) / 2)
    assert set(s["recall_per_class_std"]) == {"a", "b", "c"}
    assert s["class_names"] == ["a", "b", "c"]
