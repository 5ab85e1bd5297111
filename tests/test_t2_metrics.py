"""t2 eq. (13), the flat-weighted multi-class log-loss (transientrepro.metrics), on hand-computed
cases and against scikit-learn's log_loss with per-class sample weights w = 1/N_class."""
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss

from transientrepro.metrics import flat_weighted_log_loss


def test_eq13_hand_computed_two_classes():
    # class 0: two objects with p_true 0.5 and 0.25; class 1: one object with p_true 0.8
    y = np.array([0, 0, 1])
    p = np.array([[0.5, 0.5], [0.25, 0.75], [0.2, 0.8]])
    class0 = -(math.log(0.5) + math.log(0.25)) / 2
    class1 = -math.log(0.8)
    assert flat_weighted_log_loss(y, p) == pytest.approx((class0 + class1) / 2, rel=1e-12)


def test_eq13_flat_weights_differ_from_plain_mean():
    y = np.array([0, 0, 0, 1])
    p = np.array([[0.9, 0.1]] * 3 + [[0.6, 0.4]])
    plain = -np.mean(np.log([0.9, 0.9, 0.9, 0.4]))
    flat = (-math.log(0.9) - math.log(0.4)) / 2
    assert flat_weighted_log_loss(y, p) == pytest.approx(flat)
    assert flat_weighted_log_loss(y, p) != pytest.approx(plain)


def test_eq13_perfect_and_uniform():
    y = np.array([0, 1, 2, 2])
    assert flat_weighted_log_loss(y, np.eye(3)[y]) == pytest.approx(0.0, abs=1e-12)
    assert flat_weighted_log_loss(y, np.full((4, 3), 1 / 3)) == pytest.approx(math.log(3))


def test_eq13_non_flat_weights():
    y = np.array([0, 1])
    p = np.array([[0.5, 0.5], [0.1, 0.9]])
    w = [2.0, 1.0]
    expected = -(2 * math.log(0.5) + 1 * math.log(0.9)) / 3
    assert flat_weighted_log_loss(y, p, weights=w) == pytest.approx(expected)


def test_eq13_absent_class_is_skipped():
    y = np.array([0, 0, 2])  # class 1 absent
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    expected = (-(math.log(0.7) + math.log(0.5)) / 2 - math.log(0.8)) / 2
    assert flat_weighted_log_loss(y, p, n_classes=3) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eq13_equals_sklearn_with_inverse_class_frequency_weights(seed):
    rng = np.random.default_rng(seed)
    c = 14
    y = rng.integers(0, c, 300)
    y[:c] = np.arange(c)  # every class present
    logits = rng.normal(size=(300, c))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    counts = np.bincount(y, minlength=c)
    sw = 1.0 / counts[y]
    ref = log_loss(y, p, sample_weight=sw, labels=np.arange(c))
    assert flat_weighted_log_loss(y, p, n_classes=c) == pytest.approx(ref, rel=1e-10)
