"""Input scaling of t2 (config ``t2.scaling``), fitted on training objects and re-applied at evaluation.

``none`` (default) -- the GP stage already divides each object's GP mean by its maximum |flux|
(``gp.npz`` attribute ``attr_normalisation = max_abs``); ``dataset_band`` is the authors'
preprocessing for unnormalised GP flux -- a robust scaler per passband (median, inter-quartile
range) fitted on all training-set GP samples and applied to every object; ``object`` scales each
object by the median/IQR of its own L x M grid; ``max_abs`` divides each object by its own max
|flux| (the paper's text; the same as ``gp.normalisation: max_abs``). The fitted centre/scale are stored with the model
(train_info.json).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .data import T2DataError


def fit_scaling(X: np.ndarray, method: str, max_objects: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Fit the input scaling on training light curves (see module docstring).

    A streamed training set (:class:`~.data.StreamedX`, too large for memory) is fitted on a seeded
    random ``max_objects`` of its objects (all of them when there are fewer); the number used is
    recorded as ``fit_objects``. In-memory sets are always fitted on every object.
    """
    from .data import StreamedX

    if method == "dataset_band" and isinstance(X, StreamedX):
        n = len(X)
        k = n if not max_objects or max_objects >= n else int(max_objects)
        idx = np.arange(n) if k == n else np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        out = fit_scaling(np.asarray(X.rows[idx], dtype=np.float32), method)
        out["fit_objects"] = int(k)
        return out
    if method == "dataset_band":
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        center = np.median(flat, axis=0)
        q75, q25 = np.percentile(flat, [75, 25], axis=0)
        scale = q75 - q25
        scale = np.where(scale > 0, scale, 1.0)
        return {"method": method, "center": center.tolist(), "scale": scale.tolist()}
    if method in ("object", "none", "max_abs"):
        return {"method": method}
    raise ValueError(f"t2.scaling: unknown method {method!r}")


def apply_scaling(X: np.ndarray, scaling: Mapping[str, Any]) -> np.ndarray:
    from .data import StreamedX

    if isinstance(X, StreamedX):  # applied lazily, to every batch read from the file
        return X.with_scaling(scaling)
    method = scaling["method"]
    if method == "dataset_band":
        c = np.asarray(scaling["center"], dtype=np.float64)
        s = np.asarray(scaling["scale"], dtype=np.float64)
        if c.shape != (X.shape[-1],):
            raise T2DataError(f"scaling has {c.shape[0]} passbands but X has {X.shape[-1]}")
        return ((X - c) / s).astype(np.float32)
    if method == "object":
        flat = X.reshape(len(X), -1).astype(np.float64)
        c = np.median(flat, axis=1)
        q75, q25 = np.percentile(flat, [75, 25], axis=1)
        s = q75 - q25
        s = np.where(s > 0, s, np.where(np.abs(flat).max(axis=1) > 0, np.abs(flat).max(axis=1), 1.0))
        return ((X - c[:, None, None]) / s[:, None, None]).astype(np.float32)
    if method == "max_abs":  # the paper's text: each object divided by its own max |flux| (= gp.normalisation max_abs)
        m = np.abs(X.reshape(len(X), -1)).max(axis=1).astype(np.float64)
        m = np.where(np.isfinite(m) & (m > 0), m, 1.0)
        return (X / m[:, None, None]).astype(np.float32)
    if method == "none":
        return np.asarray(X, dtype=np.float32)
    raise ValueError(f"t2.scaling: unknown method {method!r}")


def fit_aux_scaling(aux: np.ndarray, method: str) -> dict[str, Any]:
    """Scaling of the additional features (z, z_err), config ``t2.aux_scaling``: ``robust`` =
    median / inter-quartile range per feature fitted on the training objects (the authors'
    ``robust_scale(df, ['hostgal_photoz', 'hostgal_photoz_err'])``, astronet ``utils.py``);
    ``none`` = raw values."""
    if method == "none" or aux.shape[1] == 0:
        return {"method": "none"}
    if method != "robust":
        raise ValueError(f"t2.aux_scaling: unknown method {method!r}")
    a = aux.astype(np.float64)
    center = np.median(a, axis=0)
    q75, q25 = np.percentile(a, [75, 25], axis=0)
    scale = np.where(q75 - q25 > 0, q75 - q25, 1.0)
    return {"method": method, "center": center.tolist(), "scale": scale.tolist()}


def apply_aux_scaling(aux: np.ndarray, scaling: Mapping[str, Any] | None) -> np.ndarray:
    if not scaling or scaling["method"] == "none" or aux.shape[1] == 0:
        return np.asarray(aux, dtype=np.float32)
    c = np.asarray(scaling["center"], dtype=np.float64)
    s = np.asarray(scaling["scale"], dtype=np.float64)
    if c.shape != (aux.shape[1],):
        raise T2DataError(f"aux scaling has {c.shape[0]} features but the data has {aux.shape[1]}")
    return ((aux - c) / s).astype(np.float32)


def fit_and_apply(train, s: Mapping[str, Any]) -> dict[str, Any]:
    """Fit both scalings of the settings ``s`` on the training :class:`T2Data` ``train``, scale it in
    place, and return ``{"scaling": ..., "aux_scaling": ...}`` (stored in train_info.json)."""
    sc = fit_scaling(train.X, s["scaling"], max_objects=s.get("scaling_fit_max_objects"))
    asc = fit_aux_scaling(train.aux, s["aux_scaling"])
    train.X = apply_scaling(train.X, sc)
    train.aux = apply_aux_scaling(train.aux, asc)
    return {"scaling": sc, "aux_scaling": asc}


def apply_fitted(data, fitted: Mapping[str, Any]) -> None:
    """Apply the scalings stored by :func:`fit_and_apply` to another split (in place)."""
    data.X = apply_scaling(data.X, fitted["scaling"])
    data.aux = apply_aux_scaling(data.aux, fitted.get("aux_scaling"))
