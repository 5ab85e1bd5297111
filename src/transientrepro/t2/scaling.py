"""Input scaling of t2 (config ``t2.scaling``), fitted on training objects and re-applied at evaluation.

``none`` (default) -- the GP stage already divides each object's GP mean by its maximum |flux|
(``gp.npz`` attribute ``attr_normalisation = max_abs``); ``dataset_band`` is the authors'
preprocessing for unnormalised GP flux -- a robust scaler per passband (median, inter-quartile
range) fitted on all training-set GP samples and applied to every object; ``object`` scales each
object by the median/IQR of its own L x M grid. The fitted centre/scale are stored with the model
(train_info.json).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .data import T2DataError


def fit_scaling(X: np.ndarray, method: str) -> dict[str, Any]:
    """Fit the input scaling on training light curves (see module docstring)."""
    if method == "dataset_band":
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        center = np.median(flat, axis=0)
        q75, q25 = np.percentile(flat, [75, 25], axis=0)
        scale = q75 - q25
        scale = np.where(scale > 0, scale, 1.0)
        return {"method": method, "center": center.tolist(), "scale": scale.tolist()}
    if method in ("object", "none"):
        return {"method": method}
    raise ValueError(f"t2.scaling: unknown method {method!r}")


def apply_scaling(X: np.ndarray, scaling: Mapping[str, Any]) -> np.ndarray:
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
    if method == "none":
        return np.asarray(X, dtype=np.float32)
    raise ValueError(f"t2.scaling: unknown method {method!r}")
