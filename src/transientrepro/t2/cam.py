"""Class activation maps of t2 (§3.5, eq. 11; §5.3).

With ``f_k(l)`` the output of the last transformer block at position ``l = 1..L'`` (``L' = L + R``
with the additional features concatenated along L) and ``w_k^c``, ``b_c`` the weights and bias of
the final dense layer::

    M_c(l) = sum_k w_k^c f_k(l)                                  (eq. 11)

The GAP layer *averages* (``F_k = (1/L') sum_l f_k(l)``), so the pre-softmax score passed to the
softmax is exactly::

    logit_c = sum_k w_k^c F_k + b_c = (1/L') sum_l M_c(l) + b_c

i.e. the paper's ``S_c = sum_l M_c(l)`` equals ``L' (logit_c - b_c)`` (the paper writes F_k as a
sum; Keras' GlobalAveragePooling1D takes the mean). Dropout after the GAP is the identity at
inference. :func:`class_scores_check` verifies this identity.

For display and the Fig. 12 statistic, each map is min-max scaled to [0, 1] and then divided by its
sum so that ``sum_l M_c(l) = 1`` (§5.3); the share of the redshift features is the sum of the
normalised map over positions ``L .. L+R-1`` (0-based), reported in percent by the paper
(mean ~1.92%).
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .model import last_block


def cam_model(model: keras.Model) -> keras.Model:
    """A model with the same inputs returning ``(f, logits)``: last-block features (B, L', d) and
    pre-softmax scores (B, C)."""
    return keras.Model(
        inputs=model.inputs,
        outputs=[last_block(model).output, model.get_layer("logits").output],
        name=f"{model.name}_cam",
    )


def dense_weights(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """``(W (d, C), b (C,))`` of the final dense layer."""
    w, b = model.get_layer("logits").get_weights()
    return np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)


def raw_cams(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Eq. (11) for every class: ``(B, L', d) x (d, C) -> (B, L', C)``."""
    return np.einsum("bld,dc->blc", np.asarray(features, dtype=np.float64), weights)


def class_scores_check(features: np.ndarray, logits: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> float:
    """Max |(1/L') sum_l M_c(l) + b_c - logit_c| over objects and classes (should be ~1e-6)."""
    cams = raw_cams(features, weights)
    recon = cams.mean(axis=1) + bias[None, :]
    return float(np.max(np.abs(recon - np.asarray(logits, dtype=np.float64))))


def normalise_cams(cams: np.ndarray) -> np.ndarray:
    """Min-max scale each map (last axis = positions) to [0, 1], then divide by its sum (§5.3).

    A constant map (max == min) becomes uniform, 1/L'.
    """
    cams = np.asarray(cams, dtype=np.float64)
    lo = cams.min(axis=-1, keepdims=True)
    hi = cams.max(axis=-1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, (cams - lo) / np.where(span > 0, span, 1.0), 1.0)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def compute_cams(
    model: keras.Model,
    inputs: Any,
    y_true_idx: np.ndarray,
    L: int,
    n_aux: int,
    concat: str = "L",
    batch_size: int = 512,
) -> dict[str, np.ndarray | float]:
    """CAMs of every object for its predicted and its true class, plus the redshift shares.

    Returns ``cams`` (N, L') normalised maps for the predicted class, ``cams_true`` for the true
    class, ``cam_class`` / ``cam_class_true`` (class indices), ``redshift_share`` /
    ``redshift_share_true`` (N,) = normalised activation on the R additional-feature positions
    (NaN without them or with concat along M), ``feature_share`` (N, R) per feature (predicted
    class), ``redshift_share_all_classes`` (N,) = mean over all C class maps (the authors'
    Fig. 12 computation), and ``max_score_error`` = :func:`class_scores_check` (max over batches).
    """
    w, b = dense_weights(model)
    sub = cam_model(model)
    n = len(y_true_idx)
    has_positions = n_aux > 0 and concat == "L"
    out_pred, out_true, pred_idx = [], [], []
    share_all = np.full(n, np.nan)
    feat_share = np.full((n, max(n_aux, 1)), np.nan)
    max_err = 0.0
    from tqdm import tqdm

    for start in tqdm(range(0, n, batch_size), desc="CAMs", unit="batch", mininterval=5.0, disable=n <= 10 * batch_size):
        sl = slice(start, min(n, start + batch_size))
        batch = {k: v[sl] for k, v in inputs.items()} if isinstance(inputs, dict) else inputs[sl]
        f, logits = sub.predict_on_batch(batch)
        f = np.asarray(f)
        logits = np.asarray(logits)
        max_err = max(max_err, class_scores_check(f, logits, w, b))
        cams = raw_cams(f, w)  # (B, L', C)
        p = logits.argmax(axis=1)
        t = np.asarray(y_true_idx[sl])
        rows = np.arange(len(p))
        norm_all = normalise_cams(np.transpose(cams, (0, 2, 1)))  # (B, C, L')
        out_pred.append(norm_all[rows, p].astype(np.float32))
        out_true.append(norm_all[rows, t].astype(np.float32))
        pred_idx.append(p)
        if has_positions:
            share_all[sl] = norm_all[:, :, L:L + n_aux].sum(axis=2).mean(axis=1)
            feat_share[sl] = norm_all[rows, p][:, L:L + n_aux]
    cams_pred = np.concatenate(out_pred) if out_pred else np.zeros((0, 0), np.float32)
    cams_true = np.concatenate(out_true) if out_true else np.zeros((0, 0), np.float32)
    if has_positions:
        share = cams_pred[:, L:L + n_aux].sum(axis=1).astype(np.float64)
        share_true = cams_true[:, L:L + n_aux].sum(axis=1).astype(np.float64)
    else:
        share = np.full(n, np.nan)
        share_true = np.full(n, np.nan)
    return {
        "cams": cams_pred,
        "cams_true": cams_true,
        "cam_class": np.concatenate(pred_idx).astype(np.int64) if pred_idx else np.zeros(0, np.int64),
        "cam_class_true": np.asarray(y_true_idx, dtype=np.int64),
        "redshift_share": share,
        "redshift_share_true": share_true,
        "redshift_share_all_classes": share_all,
        "feature_share": feat_share,
        "max_score_error": max_err,
    }
