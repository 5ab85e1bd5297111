"""Per-object interpolation (fit, time grid, prediction, normalisation) and the arrays of a chunk."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .config import LC_COLUMNS, GPConfig, GPFitFailure, GPInputError
from .george_engine import fit_object, predict_grid, prepare_object, single_threaded_blas

log = logging.getLogger("transientrepro.gp")


def time_grid(mjd: np.ndarray, detected: np.ndarray | None, cfg: GPConfig) -> np.ndarray:
    """The L regular sampling times (MJD) for one object (see ``gp.time_grid`` in the module doc)."""
    lo, hi = float(np.min(mjd)), float(np.max(mjd))
    if cfg.time_grid == "detected" and detected is not None and np.any(detected):
        d = mjd[np.asarray(detected).astype(bool)]
        lo = max(lo, float(d.min()) - cfg.detection_padding)
        hi = min(hi, float(d.max()) + cfg.detection_padding)
    if hi <= lo:  # a single epoch: a 1-day window around it
        lo, hi = lo - 0.5, lo + 0.5
    return np.linspace(lo, hi, cfg.n_points)


def transient_window(obj: pd.DataFrame, cfg: GPConfig) -> pd.DataFrame:
    """The observations the GP is fitted on (``gp.time_grid``).

    ``transient`` -- the authors' window (astronet ``utils.py::__transient_trim`` at 705f610): keep
    observations with first detection - w < mjd < last detection + w (w = ``gp.transient_window``,
    50 d), widened to 1000 d when that keeps nothing; the fit uses only those points and the grid
    spans them. An object without any detection keeps every observation (the authors drop it).
    ``observed`` and ``detected`` fit every observation.
    """
    if cfg.time_grid != "transient" or "detected_bool" not in obj:
        return obj
    det = obj["detected_bool"].to_numpy().astype(bool)
    if not det.any():
        return obj
    mjd = obj["mjd"].to_numpy(np.float64)
    first, last = float(mjd[det].min()), float(mjd[det].max())
    for w in (cfg.transient_window, 1000.0):
        keep = (mjd > first - w) & (mjd < last + w)
        if keep.any():
            return obj[keep]
    return obj


def normalise(mean: np.ndarray, cfg: GPConfig) -> tuple[np.ndarray, float]:
    if cfg.normalisation == "none":
        return mean, 1.0
    s = float(np.max(np.abs(mean)))
    if not (np.isfinite(s) and s > 0):
        s = 1.0
    return mean / s, s


def interpolate_object(object_id: int, obj: pd.DataFrame, cfg: GPConfig) -> dict[str, Any]:
    """Fit + predict + normalise one object. Raises :class:`GPFitFailure` (object excluded)."""
    obj = transient_window(obj, cfg)
    mjd = obj["mjd"].to_numpy(np.float64)
    detected = obj["detected_bool"].to_numpy() if "detected_bool" in obj else None
    fit = fit_object(mjd, obj["passband"].to_numpy(), obj["flux"].to_numpy(np.float64),
                     obj["flux_err"].to_numpy(np.float64), cfg, object_id=object_id)
    grid = time_grid(mjd, detected, cfg)
    return _row(fit, grid, predict_grid(fit, grid, cfg), cfg)


def _row(fit, grid: np.ndarray, mean: np.ndarray, cfg: GPConfig) -> dict[str, Any]:
    """An object's outputs from its fit (either engine), grid and predicted mean (L, P)."""
    if not np.all(np.isfinite(mean)):
        raise GPFitFailure("non_finite_prediction")
    X, s = normalise(mean, cfg)
    return {"X": X, "t_grid": grid - grid[0], "t0_mjd": grid[0], "flux_scale": s, "amp": fit.amp,
            "t_scale": fit.t_scale, "log_likelihood": fit.log_likelihood, "success": fit.success,
            "message": fit.message, "n_obs": fit.n_obs}


def interpolate_objects(items: Sequence[tuple[int, pd.DataFrame]], cfg: GPConfig, *, progress: bool = False,
                        desc: str = "GP") -> list[dict[str, Any] | GPFitFailure]:
    """:func:`interpolate_object` for many objects at once with the batched engine (``gp.engine:
    batched``): the same inputs, grid, prediction and normalisation, one fit for all objects.
    Returns, in input order, the row dict or the :class:`GPFitFailure` that excludes the object."""
    from .batched import PreparedObject, fit_and_predict

    wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)
    out: list[dict[str, Any] | GPFitFailure | None] = [None] * len(items)
    todo, objs, grids = [], [], []
    for k, (object_id, obj) in enumerate(items):
        obj = transient_window(obj, cfg)
        mjd = obj["mjd"].to_numpy(np.float64)
        detected = obj["detected_bool"].to_numpy() if "detected_bool" in obj else None
        try:
            m, pb, flux, err, amp0 = prepare_object(mjd, obj["passband"].to_numpy(), obj["flux"].to_numpy(np.float64),
                                                    obj["flux_err"].to_numpy(np.float64), cfg, object_id=object_id)
        except GPFitFailure as exc:
            out[k] = exc
            continue
        todo.append(k)
        objs.append(PreparedObject(m, wl[pb], flux, err, amp0))
        grids.append(time_grid(mjd, detected, cfg))
    fits = fit_and_predict(objs, grids, cfg, device=cfg.device, progress=progress, desc=desc)
    for k, grid, res in zip(todo, grids, fits):
        try:
            out[k] = res if isinstance(res, GPFitFailure) else _row(res[0], grid, res[1], cfg)
        except GPFitFailure as exc:
            out[k] = exc
    return out


def _target_column(meta: pd.DataFrame) -> str:
    for c in ("target", "true_target"):
        if c in meta.columns:
            return c
    raise GPInputError(f"metadata has no 'target' or 'true_target' column (columns: {list(meta.columns)})")


def prepare_lightcurves(lc: pd.DataFrame, source: str = "light curves") -> pd.DataFrame:
    """Check columns and accept Kaggle's ``detected`` for ``detected_bool``; sort by object, mjd."""
    if "detected_bool" not in lc.columns and "detected" in lc.columns:
        lc = lc.rename(columns={"detected": "detected_bool"})
    missing = [c for c in LC_COLUMNS if c not in lc.columns]
    if missing:
        raise GPInputError(f"{source}: missing column(s) {missing} (have {list(lc.columns)})")
    if not (lc["object_id"].is_monotonic_increasing and len(lc)):
        lc = lc.sort_values(["object_id", "mjd"], kind="stable")
    return lc


def interpolate_lightcurves(lc: pd.DataFrame, meta: pd.DataFrame, cfg: GPConfig, *, progress: bool = True,
                            desc: str = "GP", source: str = "light curves") -> tuple[dict[str, np.ndarray], pd.DataFrame, dict]:
    """GP-interpolate every object of ``meta`` using its rows in ``lc``.

    ``meta`` needs object_id, hostgal_photoz, hostgal_photoz_err and target (or true_target); its
    order defines the output order (sorted by object_id here). Objects of ``meta`` without light
    curve rows are reported as failures (``no_observations``); light-curve rows of objects absent
    from ``meta`` are ignored (the caller selects objects via ``meta``).

    Returns (arrays for the npz, failures DataFrame [object_id, reason, action], summary dict).
    """
    from tqdm import tqdm

    lc = prepare_lightcurves(lc, source)
    tcol = _target_column(meta)
    for c in ("object_id", "hostgal_photoz", "hostgal_photoz_err"):
        if c not in meta.columns:
            raise GPInputError(f"metadata: missing column {c!r} (have {list(meta.columns)})")
    meta = meta.sort_values("object_id", kind="stable").reset_index(drop=True)
    dup = meta["object_id"].duplicated()
    if dup.any():
        raise GPInputError(f"metadata: duplicated object_id(s) {meta.loc[dup, 'object_id'].head(5).tolist()}")

    ids = lc["object_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=int)
    bounds = {int(ids[s]): (s, e) for s, e in zip(starts, np.r_[starts[1:], len(ids)])}

    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    it = tqdm(meta.itertuples(index=False), total=len(meta), desc=desc, mininterval=5.0,
              disable=not progress or cfg.engine == "batched")  # the batched engine has its own bar
    cols = list(meta.columns)
    i_id, i_z, i_ze, i_t = (cols.index(c) for c in ("object_id", "hostgal_photoz", "hostgal_photoz_err", tcol))
    with single_threaded_blas():
        t_start, cpu_start = time.perf_counter(), time.process_time()
        batched = None
        if cfg.engine == "batched":  # every object fitted at once; the loop below only collects
            batched = interpolate_objects([(int(rec[i_id]), _object_rows(int(rec[i_id]), bounds, lc))
                                           for rec in meta.itertuples(index=False)], cfg, progress=progress, desc=desc)
        for k, rec in enumerate(it):
            row, failure = _interpolate_one(rec, i_id, i_z, i_ze, i_t, bounds, lc, cfg,
                                            None if batched is None else batched[k])
            if row is not None:
                rows.append(row)
            if failure is not None:
                failures.append(failure)
        elapsed, cpu = time.perf_counter() - t_start, time.process_time() - cpu_start

    arrays = stack_rows(rows, cfg)
    fails = pd.DataFrame(failures, columns=["object_id", "reason", "action"]).astype({"object_id": "int64"})
    summary = {
        "n_input": int(len(meta)),
        "n_objects": int(len(rows)),
        "n_failed": int(len(fails)),
        "n_excluded": int((fails["action"] == "excluded").sum()),
        "n_fallback": int((fails["action"] != "excluded").sum()),
        "seconds": float(elapsed),
        "cpu_seconds": float(cpu),
        "objects_per_s": float(len(meta) / elapsed) if elapsed > 0 else float("nan"),
        "objects_per_cpu_s": float(len(meta) / cpu) if cpu > 0 else float("nan"),
        "engine": cfg.engine,
        "device": _device_used(cfg),
    }
    return arrays, fails, summary


def _device_used(cfg: GPConfig) -> str:
    if cfg.engine == "george":
        return "cpu"
    from .batched import resolve_device

    return resolve_device(cfg.device)


def _object_rows(oid, bounds, lc):
    se = bounds.get(oid)
    return lc.iloc[se[0]:se[1]] if se else lc.iloc[0:0]


def _interpolate_one(rec, i_id, i_z, i_ze, i_t, bounds, lc, cfg, result=None):
    """(row or None, failure or None) for one metadata record (``result``: its batched outcome)."""
    oid = int(rec[i_id])
    try:
        r = interpolate_object(oid, _object_rows(oid, bounds, lc), cfg) if result is None else result
        if isinstance(r, GPFitFailure):
            raise r
    except GPFitFailure as exc:
        log.warning("GP object %d excluded: %s", oid, exc)
        return None, {"object_id": oid, "reason": str(exc), "action": "excluded"}
    fail = None
    if not r["success"]:
        fail = {"object_id": oid, "reason": r["message"], "action": "fallback_initial_params"}
        log.warning("GP object %d: %s; kept with the initial hyperparameters", oid, r["message"])
    r.update(object_id=oid, z=rec[i_z], z_err=rec[i_ze], target=rec[i_t])
    return r, fail


def stack_rows(rows: Sequence[Mapping[str, Any]], cfg: GPConfig) -> dict[str, np.ndarray]:
    n, L = len(rows), cfg.n_points

    def col(key, dtype):
        return np.asarray([r[key] for r in rows], dtype=dtype) if n else np.zeros(0, dtype=dtype)

    out = {
        "X": np.stack([r["X"] for r in rows]).astype(np.float32) if n else np.zeros((0, L, cfg.n_passbands), np.float32),
        "object_id": col("object_id", np.int64),
        "target": col("target", np.int64),
        "z": col("z", np.float32),
        "z_err": col("z_err", np.float32),
        "t_grid": np.stack([r["t_grid"] for r in rows]).astype(np.float32) if n else np.zeros((0, L), np.float32),
        "t0_mjd": col("t0_mjd", np.float64),
        "flux_scale": col("flux_scale", np.float64),
        "amp": col("amp", np.float64),
        "t_scale": col("t_scale", np.float64),
        "log_likelihood": col("log_likelihood", np.float64),
        "success": col("success", bool),
        "n_obs": col("n_obs", np.int64),
    }
    out.update(cfg.attrs())
    return out
