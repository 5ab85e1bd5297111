"""Classification metrics shared by every model.

- ``flat_weighted_log_loss``: t2 eq. (13) with w_i = 1 (Boone 2019; Malz et al. 2019)::

      L = - ( sum_i w_i sum_{j in class i} (1/N_i) ln p_ij ) / sum_i w_i

  i.e. the mean over classes (present in ``y_true``) of each class's mean negative log-probability
  assigned to the true class. Probabilities are clipped to [eps, 1] and renormalised per row, as in
  the PLAsTiCC/Kaggle scorer.
- ``classification_metrics``: the numbers t2 and ConvEntion report (log-loss, accuracy, macro F1,
  ROC AUC micro/macro, PR AUC micro/per class, per-class recall, confusion matrices), plus the
  balanced accuracy (mean recall over the classes present in ``y_true``).
- ``summarise_folds``: mean and standard deviation over cross-validation folds.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    recall_score,
    roc_auc_score,
)


def _check(y_true: Any, proba: Any, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"proba must be 2-D (N, C), got shape {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise ValueError(f"y_true must be 1-D with len(proba)={len(p)} entries, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices 0..C-1, got dtype {y.dtype}")
    c = p.shape[1] if n_classes is None else n_classes
    if p.shape[1] != c:
        raise ValueError(f"proba has {p.shape[1]} columns, expected n_classes={c}")
    if len(y) and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"y_true has class indices outside 0..{c - 1}: min {y.min()}, max {y.max()}")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba contains non-finite values")
    return y.astype(np.int64), p


def flat_weighted_log_loss(
    y_true: Any,
    proba: Any,
    n_classes: int | None = None,
    weights: Sequence[float] | None = None,
    eps: float = 1e-15,
) -> float:
    """t2 eq. (13). ``weights`` per class (default all 1 = flat); classes absent from y_true are skipped."""
    y, p = _check(y_true, proba, n_classes)
    c = p.shape[1]
    w = np.ones(c) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (c,):
        raise ValueError(f"weights must have one entry per class ({c}), got shape {w.shape}")
    p = np.clip(p, eps, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    logp = np.log(p[np.arange(len(y)), y])
    num, den = 0.0, 0.0
    for i in range(c):
        mask = y == i
        n_i = mask.sum()
        if n_i == 0:
            continue
        num += w[i] * logp[mask].sum() / n_i
        den += w[i]
    if den == 0:
        raise ValueError("flat_weighted_log_loss: no class present in y_true")
    return float(-num / den)


def classification_metrics(y_true: Any, proba: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Every scalar and matrix metric the papers report, for one set of predictions."""
    y, p = _check(y_true, proba, len(class_names))
    c = len(class_names)
    labels = np.arange(c)
    y_pred = p.argmax(axis=1)
    onehot = np.eye(c)[y]
    present = onehot.sum(axis=0) > 0
    cm = confusion_matrix(y, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        cm_norm = cm / cm.sum(axis=1, keepdims=True)
    cm_norm = np.nan_to_num(cm_norm)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "log_loss": flat_weighted_log_loss(y, p, c),
        "accuracy": float(accuracy_score(y, y_pred)),
        "f1_macro": float(f1_score(y, y_pred, labels=labels[present], average="macro", zero_division=0)),
        "balanced_accuracy": float(np.mean([np.mean(y_pred[y == c] == c) for c in labels[present]])) if len(y) else float("nan"),
    }
    # Rank metrics need >= 2 classes present; macro AUC is over the classes present in y_true.
    if present.sum() >= 2:
        out["roc_auc_micro"] = float(roc_auc_score(onehot, p, average="micro"))
        out["roc_auc_macro"] = float(roc_auc_score(onehot[:, present], p[:, present], average="macro"))
        out["pr_auc_micro"] = float(average_precision_score(onehot, p, average="micro"))
        per_class = average_precision_score(onehot[:, present], p[:, present], average=None)
        out["pr_auc_per_class"] = {str(class_names[i]): float(v) for i, v in zip(labels[present], np.atleast_1d(per_class))}
    else:
        out.update(roc_auc_micro=float("nan"), roc_auc_macro=float("nan"), pr_auc_micro=float("nan"), pr_auc_per_class={})
    rec = recall_score(y, y_pred, labels=labels, average=None, zero_division=0)
    out["recall_per_class"] = {str(class_names[i]): float(rec[i]) for i in labels if present[i]}
    out["class_names"] = [str(n) for n in class_names]
    out["confusion_matrix"] = cm.tolist()
    out["confusion_matrix_normalised"] = cm_norm.tolist()
    return out


def summarise_folds(folds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation (ddof=0) over folds.

    Scalars -> ``name`` (mean) and ``name_std``; per-class dicts -> dicts of means and ``name_std``;
    matrices (lists of lists, e.g. confusion matrices) -> element-wise mean and ``name_std``.
    Keys that are not numeric (e.g. ``class_names``) are copied from the first fold.
    """
    if not folds:
        raise ValueError("summarise_folds: no folds")
    out: dict[str, Any] = {"n_folds": len(folds)}
    for key, first in folds[0].items():
        values = [f[key] for f in folds]
        if isinstance(first, bool) or isinstance(first, str):
            out[key] = first
        elif isinstance(first, (int, float, np.integer, np.floating)):
            arr = np.asarray(values, dtype=np.float64)
            out[key] = float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
            out[f"{key}_std"] = float(np.nanstd(arr)) if np.isfinite(arr).any() else float("nan")
        elif isinstance(first, Mapping):
            names = list(first.keys())
            arr = np.asarray([[f[key].get(n, np.nan) for n in names] for f in folds], dtype=np.float64)
            out[key] = {n: float(np.nanmean(arr[:, i])) for i, n in enumerate(names)}
            out[f"{key}_std"] = {n: float(np.nanstd(arr[:, i])) for i, n in enumerate(names)}
        elif isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)):
            arr = np.asarray(values, dtype=np.float64)
            out[key] = arr.mean(axis=0).tolist()
            out[f"{key}_std"] = arr.std(axis=0).tolist()
        else:
            out[key] = first
    return out
