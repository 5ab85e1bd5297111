"""t2's data: the GP arrays and split table read and checked, per-split arrays, stratified subsets.

Inputs (contract with the GP stage): ``gp.h5`` (or a ``.npz`` with the same arrays) with ``X``
float32 (N, L, M), ``z``, ``z_err`` float32 (N,), ``target`` int (N,) PLAsTiCC codes, ``object_id``
int64 (N,); ``split.parquet`` with ``object_id`` and ``split`` in {train, test}.

Memory: from ``gp.h5`` only the rows of a split are read. A split whose light curves exceed
``t2.stream_above_mb`` is not read at all: its ``X`` is a :class:`StreamedX`, read (and scaled) batch
by batch from the file while training and predicting (:mod:`.stream`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..gp_store import LazyRows, open_gp_arrays
from .params import AUX_FEATURES, class_codes_and_names, variant_uses_redshift

log = logging.getLogger(__name__)


class T2DataError(ValueError):
    """The GP arrays or the split table handed to t2 are inconsistent."""


class StreamedX:
    """Light curves of one split, read from the GP store only when indexed, with the fitted input
    scaling (:mod:`.scaling`) applied to every read. Behaves like the (N, L, M) float32 array it
    stands for as far as t2 uses it (``shape``, ``len``, indexing by rows)."""

    def __init__(self, rows: LazyRows, scaling: Mapping | None = None):
        self.rows = rows
        self.scaling = scaling

    shape = property(lambda self: self.rows.shape)
    ndim = property(lambda self: self.rows.ndim)
    dtype = property(lambda self: np.dtype(np.float32))
    nbytes = property(lambda self: self.rows.nbytes)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> np.ndarray:
        from .scaling import apply_scaling

        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        a = np.asarray(self.rows[key], dtype=np.float32)
        return apply_scaling(a, self.scaling) if self.scaling else a

    def with_scaling(self, scaling: Mapping) -> "StreamedX":
        return StreamedX(self.rows, scaling)

    def subset(self, idx) -> "StreamedX":
        return StreamedX(self.rows.subset(idx), self.scaling)

    def __array__(self, dtype=None, copy=None):
        a = self[np.arange(len(self))]
        return a if dtype is None else a.astype(dtype)


@dataclass
class T2Data:
    """Arrays of one split: light curves, aux features, class indices, ids."""

    X: np.ndarray  # (N, L, M) float32, or a StreamedX read from the GP store
    aux: np.ndarray  # (N, R) float32 (R = 0 for t2_noz)
    y: np.ndarray  # (N,) int64 class indices into codes
    object_id: np.ndarray  # (N,) int64
    codes: list[int] = field(default_factory=list)

    def inputs(self, idx: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        sl = slice(None) if idx is None else idx
        d = {"lightcurve": self.X[sl]}
        if self.aux.shape[1] > 0:
            d["aux"] = self.aux[sl]
        return d

    def __len__(self) -> int:
        return len(self.y)

    @property
    def streamed(self) -> bool:
        return isinstance(self.X, StreamedX)

    def take(self, idx) -> "T2Data":
        """The objects ``idx`` (positions or a mask); a streamed split stays streamed."""
        X = self.X.subset(idx) if self.streamed else self.X[idx]
        return T2Data(X, self.aux[idx], self.y[idx], self.object_id[idx], self.codes)


def load_gp(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Open and check the GP arrays (``gp.h5`` lazily, or a ``.npz``); raise :class:`T2DataError`
    naming the file and the problem. ``X`` of an ``.h5`` is not read here (its values were checked when
    the store was written)."""
    path = Path(path)
    if not path.exists():
        raise T2DataError(f"{path}: GP file not found")
    try:
        gp = open_gp_arrays(path)
    except (OSError, ValueError) as e:
        raise T2DataError(str(e)) from None
    for key in ("X", "z", "z_err", "target", "object_id"):
        if key not in gp:
            raise T2DataError(f"{path}: missing array {key!r} (has {sorted(gp)})")
    X = gp["X"]
    if X.ndim != 3:
        raise T2DataError(f"{path}: X must be (N, L, M), got shape {X.shape}")
    n = X.shape[0]
    for key in ("z", "z_err", "target", "object_id"):
        if gp[key].shape != (n,):
            raise T2DataError(f"{path}: {key} must have shape ({n},), got {gp[key].shape}")
    for key in ("X", "z", "z_err"):
        if isinstance(gp[key], LazyRows):
            continue  # a gp.h5 is checked finite when written (gp_store.write_store): no second pass over X
        bad = ~np.isfinite(gp[key].reshape(n, -1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise T2DataError(f"{path}: non-finite {key} for {bad.sum()} object(s), first object_id {int(gp['object_id'][i])} (row {i})")
    if len(np.unique(gp["object_id"])) != n:
        raise T2DataError(f"{path}: duplicate object_id values")
    return gp


def load_split(path: str | os.PathLike):
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise T2DataError(f"{path}: split file not found")
    df = pd.read_parquet(path)
    for col in ("object_id", "split"):
        if col not in df.columns:
            raise T2DataError(f"{path}: missing column {col!r} (has {list(df.columns)})")
    bad = ~df["split"].isin(["train", "test"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise T2DataError(f"{path}: split must be 'train' or 'test'; row {i} (object_id {df['object_id'].iloc[i]}) has {df['split'].iloc[i]!r}")
    if df["object_id"].duplicated().any():
        raise T2DataError(f"{path}: duplicate object_id {int(df['object_id'][df['object_id'].duplicated()].iloc[0])}")
    return df


def split_data(gp: Mapping[str, np.ndarray], split_df, variant: str, gp_path: str = "gp.h5",
               stream_above_mb: float | None = None) -> dict[str, T2Data]:
    """Train and test :class:`T2Data` of ``variant`` (t2: aux = (z, z_err); t2_noz: no aux).

    From a ``gp.h5`` only each split's rows are read; a split whose ``X`` exceeds ``stream_above_mb``
    (None: never) is left on disk as a :class:`StreamedX`.

    Objects of the split that have no GP row (GP failures) are dropped with a warning; GP objects
    missing from the split are an error. Unknown class codes are an error naming the object.
    """
    codes, _ = class_codes_and_names()
    code_to_idx = {c: i for i, c in enumerate(codes)}
    target = np.asarray(gp["target"]).astype(np.int64)
    unknown = ~np.isin(target, codes)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise T2DataError(
            f"{gp_path}: target code {int(target[i])} of object_id {int(gp['object_id'][i])} (row {i}) is not one of the classes {codes}"
        )
    import pandas as pd

    ids = np.asarray(gp["object_id"]).astype(np.int64)
    pos = pd.Index(split_df["object_id"].astype(np.int64).to_numpy()).get_indexer(ids)
    missing = ids[pos < 0]
    if len(missing):
        raise T2DataError(f"{gp_path}: {len(missing)} GP object(s) not in the split table, first object_id {int(missing[0])}")
    dropped = len(split_df) - len(ids)
    if dropped > 0:
        log.warning("%d object(s) of the split have no GP row (GP failures?) and are skipped", dropped)
    use_z = variant_uses_redshift(variant)
    aux = np.stack([gp[k] for k in AUX_FEATURES], axis=1).astype(np.float32) if use_z else np.zeros((len(ids), 0), np.float32)
    uniq, inverse = np.unique(target, return_inverse=True)
    y = np.array([code_to_idx[int(c)] for c in uniq], dtype=np.int64)[inverse.reshape(-1)]
    split = split_df["split"].to_numpy()[pos]
    out = {}
    for name in ("train", "test"):
        m = split == name
        if not m.any():
            raise T2DataError(f"{gp_path}: no objects in the {name!r} split")
        X = gp["X"]
        if isinstance(X, LazyRows):
            rows = X.subset(np.flatnonzero(m))
            if stream_above_mb is not None and rows.nbytes > float(stream_above_mb) * 2**20:
                log.info("%s split: %d objects, %.0f MB of light curves > t2.stream_above_mb %s: streamed from %s",
                         name, len(rows), rows.nbytes / 2**20, stream_above_mb, gp_path)
                X = StreamedX(rows)
            else:
                X = np.asarray(rows[:], dtype=np.float32)
        else:
            X = np.asarray(X[m], dtype=np.float32)
        out[name] = T2Data(X, aux[m], y[m], ids[m], codes)
    return out


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: ``(rest_idx, subset_idx)`` with ~``fraction`` of every class in the
    subset (at least one object of each class with >= 2 members, never the whole class)."""
    rng = np.random.default_rng(seed)
    sub, rest = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        elif fraction < 1.0:
            k = 0
        sub.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(sub))


def make_synthetic_gp(n: int = 280, L: int = 100, M: int = 6, seed: int = 0, test_fraction: float = 0.3):
    """Small learnable stand-in for ``gp.npz`` + ``split.parquet`` (tests and benchmarks only).

    Each of the 14 classes gets a Gaussian bump with class-dependent peak time, width, colour and
    amplitude plus noise; z depends on the class. Returns ``(gp_dict, split_dataframe)``.
    """
    import pandas as pd

    codes, _ = class_codes_and_names()
    rng = np.random.default_rng(seed)
    C = len(codes)
    cls = np.arange(n) % C
    rng.shuffle(cls)
    t = np.linspace(0.0, 1.0, L)[None, :, None]
    band = np.arange(M)[None, None, :]
    t0 = (0.2 + 0.6 * (cls % 7) / 6)[:, None, None] + rng.normal(0, 0.03, (n, 1, 1))
    width = (0.03 + 0.05 * (cls // 7))[:, None, None]
    colour = 1.0 + 0.15 * ((cls % 3) - 1)[:, None, None] * (band - M / 2)
    amp = rng.lognormal(3.0, 0.5, (n, 1, 1))
    X = amp * colour * np.exp(-0.5 * ((t - t0) / width) ** 2) + rng.normal(0, 1.0, (n, L, M))
    z = np.clip(0.1 + 0.08 * cls + rng.normal(0, 0.05, n), 0.01, None)
    gp = {
        "X": X.astype(np.float32),
        "z": z.astype(np.float32),
        "z_err": (0.02 + 0.01 * rng.random(n)).astype(np.float32),
        "target": np.asarray(codes, dtype=np.int64)[cls],
        "object_id": (1000 + np.arange(n)).astype(np.int64),
        "time": np.linspace(0.0, 1.0, L).astype(np.float32),
    }
    _, test_idx = stratified_subset(cls, test_fraction, seed + 1)
    split = np.full(n, "train", dtype=object)
    split[test_idx] = "test"
    return gp, pd.DataFrame({"object_id": gp["object_id"], "split": split.astype(str)})
