"""Cross-validation folds and inner validation splits of ConvEntion's protocol (§4.1), torch-free so
that every framework shares them: ConvEntion and the baselines (PyTorch, :mod:`.convention.protocol`)
and t2 on the SDSS light curves (TensorFlow, :mod:`.t2.sdss`) cut the same objects into the same folds."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold


def make_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold id (0..n_folds-1) per row, stratified by class (classes rarer than n_folds spread as possible)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if len(labels) < n_folds:
        raise ValueError(f"convention.train.n_folds={n_folds} exceeds the {len(labels)} spectroscopic objects")
    fold = np.empty(len(labels), dtype=np.int64)
    if counts[counts > 0].min() >= n_folds:
        skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for f, (_, te) in enumerate(skf.split(np.zeros(len(labels)), labels)):
            fold[te] = f
    else:  # round-robin per class after shuffling (StratifiedKFold refuses such classes)
        rng = np.random.default_rng(seed)
        start = 0
        for c in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == c))
            fold[rows] = (np.arange(len(rows)) + start) % n_folds
            start += len(rows)
    return fold


def inner_split(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows): a stratified ``fraction`` of ``rows`` held out for model
    selection, per class ``round(fraction * n)`` objects (none from a class with a single object).
    Depends only on ``rows``, their ``labels`` and ``seed``."""
    rows, labels = np.asarray(rows), np.asarray(labels)
    if len(rows) != len(labels):
        raise ValueError(f"inner_split: {len(rows)} rows but {len(labels)} labels")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    val = np.zeros(len(rows), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fraction * len(idx))) if len(idx) > 1 else 0
        val[idx[:min(n_val, len(idx) - 1)]] = True
    return rows[~val], rows[val]


#: Headline scalar metrics summarised (mean and std) over folds and over ensemble members.
HEADLINE = ("accuracy", "f1_macro", "balanced_accuracy", "log_loss")
SELECTION_NAMES = {"best_val": "best_val", "test_fold": "best_test_fold", "last": "last"}


def _summary(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and std over folds (or members) of the headline scalar metrics."""
    out: dict[str, Any] = {"n": len(per_fold)}
    for k in HEADLINE:
        v = np.asarray([m[k] for m in per_fold], dtype=np.float64)
        out[k], out[f"{k}_std"] = float(np.nanmean(v)), float(np.nanstd(v))
    return out


def _mean_dict(ds: Sequence[Mapping[str, float]], keys, fn=np.nanmean) -> dict[str, float]:
    """Per-key mean (or ``fn``) over folds; a class absent from a fold's test set is skipped there."""
    out = {}
    for k in keys:
        v = np.asarray([d.get(str(k), np.nan) for d in ds], dtype=np.float64)
        out[str(k)] = float(fn(v)) if np.isfinite(v).any() else float("nan")
    return out


def summarise_cv(ens: Mapping[str, Sequence[Mapping[str, Any]]], members: Mapping[str, Sequence[Mapping[str, Any]]],
                 names: Sequence[str], n_folds: int, n_ensembles: int, selection: str,
                 selection_metric: str | None) -> dict[str, Any]:
    """The metrics.json fields of a k-fold x ensemble cross-validation, shared by every model of the
    protocol (ConvEntion, the baselines, t2 on SDSS) so that their files compare field for field.

    ``ens[which]`` / ``members[which]`` (``which`` in ``last``, ``selected``): per fold (per fold and
    member) the :func:`transientrepro.metrics.classification_metrics` of the ensemble (of each member)
    at the last and at the selected epoch. The headline fields are the ensemble's at the selected epoch.
    """
    from .metrics import summarise_folds

    names = list(names)
    fold_metrics = list(ens["selected"])
    summary = summarise_folds(fold_metrics)
    sel_name = SELECTION_NAMES[selection]
    by_epoch = {which_name: {"ensemble": _summary(ens[which]), "members": _summary(members[which])}
                for which, which_name in (("last", "last"), ("selected", sel_name))}
    return {
        "class_names": names,
        "n_folds": int(n_folds),
        "n_ensembles": int(n_ensembles),
        "selection": selection,
        "selection_metric": selection_metric if selection != "last" else None,
        "selection_note": ("OPTIMISTIC: epochs chosen on the test fold itself (the authors' protocol)"
                           if selection == "test_fold" else None),
        "summary": summary,
        "accuracy": summary.get("accuracy"),
        "accuracy_std": summary.get("accuracy_std"),
        "f1_macro": summary.get("f1_macro"),
        "f1_macro_std": summary.get("f1_macro_std"),
        "balanced_accuracy": summary.get("balanced_accuracy"),
        "balanced_accuracy_std": summary.get("balanced_accuracy_std"),
        "members": _summary(members["selected"]),
        "by_epoch": by_epoch,
        "recall_per_class": _mean_dict([m["recall_per_class"] for m in fold_metrics], names),
        "recall_per_class_std": _mean_dict([m["recall_per_class"] for m in fold_metrics], names, np.nanstd),
        "confusion_matrix_normalised": summary.get("confusion_matrix_normalised"),
        "confusion_matrix_normalised_std": summary.get("confusion_matrix_normalised_std"),
        "confusion_matrix": summary.get("confusion_matrix"),
        "confusion_matrix_std": summary.get("confusion_matrix_std"),
        "folds": fold_metrics,
    }
