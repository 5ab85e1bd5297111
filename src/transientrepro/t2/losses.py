"""Training losses of t2 (config ``t2.loss``).

``batch_flat`` -- the authors' per-batch flat-weighted log-loss (astronet ``metrics.py``,
``WeightedLogLoss``, the loss behind 0.507/0.873): within a batch of B objects, with ``B_c`` of class
c and predictions clipped to [1e-15, 1 - 1e-15],

    loss = -(1/C) * sum_{c present in the batch} (1/B_c) * sum_{i in c} log p_ic

i.e. ``-mean_c [mean_i(y_ic log p_ic) / (B_c / B)]`` over all C classes, where a class absent from
the batch contributes 0 (``divide_no_nan``) but still counts in the 1/C. Every class present in the
batch weighs 1/C whatever its frequency: eq. (13) of t2 estimated per batch.

``class_weighted`` -- categorical cross-entropy with global per-sample weights N / (C_present N_c)
(the training-set estimate of eq. 13); ``unweighted`` -- plain categorical cross-entropy.
"""
from __future__ import annotations

import keras
from keras import ops

PACKAGE = "transientrepro.t2"
EPS = 1e-15


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchFlatLogLoss(keras.losses.Loss):
    """The authors' ``WeightedLogLoss`` (see module docstring); y_true one-hot (B, C)."""

    def __init__(self, name: str = "batch_flat_log_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        p = ops.clip(ops.cast(y_pred, "float32"), EPS, 1.0 - EPS)
        per_class_sum = ops.sum(y_true * ops.log(p), axis=0)  # (C,)
        counts = ops.sum(y_true, axis=0)  # B_c
        per_class_mean = ops.where(counts > 0, per_class_sum / ops.maximum(counts, 1.0), 0.0)
        loss = -ops.mean(per_class_mean)
        # Keras reduces a per-sample vector; a constant vector of the batch loss reduces to it.
        return ops.ones_like(y_true[:, 0]) * loss


def make_loss(name: str):
    """The Keras loss object of ``t2.loss``."""
    if name == "batch_flat":
        return BatchFlatLogLoss()
    if name in ("class_weighted", "unweighted"):
        return keras.losses.CategoricalCrossentropy()
    raise ValueError(f"t2.loss must be batch_flat, class_weighted or unweighted, got {name!r}")
