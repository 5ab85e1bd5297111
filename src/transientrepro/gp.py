"""2-D Gaussian-process interpolation of PLAsTiCC light curves (t2 §3.2.1; Boone 2019 avocado).

Per object, one GP over (time, passband effective wavelength) with george's kernel

    amp * Matern32Kernel(metric=[t_scale**2, wl_scale**2], ndim=2)

The wavelength length scale is fixed (config ``gp.wavelength_scale``, 6000 A); the amplitude and
the time length scale are fitted by maximum likelihood (L-BFGS-B on george's log-parameters, with
george's analytic gradient). The GP has zero mean and the per-point ``flux_err`` as
heteroskedastic white noise. The posterior mean is then sampled on ``L = gp.n_points`` regular
times x 6 passbands, giving ``X`` of shape (L, 6).

Choices (all recorded in the output npz):

* Initialisation and bounds follow avocado / astronet (the t2 authors' code): amplitude variance
  initialised at ``(0.5 * s)**2`` where ``s`` is |flux| of the highest signal-to-noise point (S/N
  with an error floor of 1% of max |flux|, so for very high S/N light curves ``s`` ~ max |flux|),
  bounded to +-10 in log around that; time length scale initialised at 20 d and bounded to
  [1, 1000] d (log of the squared scale in [0, log(1000**2)]).
* george pitfall: in george 0.4.4 a ``ConstantKernel`` with ``ndim=2`` evaluates to
  ``2 * exp(log_constant)`` (it is summed over dimensions) and ``c * kernel`` compensates by
  storing ``log(c / ndim)``. The raw parameter ``k1:log_constant`` is therefore NOT log(amp):
  reading it and rebuilding ``exp(p) * Matern32Kernel`` halves the variance, rebuilding with a
  ``ConstantKernel(log_constant=p_from_elsewhere)`` doubles it. We never port raw parameters:
  ``amp`` is reported as the kernel's actual value at zero lag (``k(x, x)``, flux**2 units) and a
  GP is rebuilt with ``amp * Matern32Kernel(...)`` (:func:`build_gp`), which is exact.
  ``tests/test_gp.py`` checks the prediction against a hand-written numpy Matern-3/2 GP.
* Time grid (``gp.time_grid``): ``observed`` (default, as in the t2 authors' code) spans the
  object's first to last observation (all passbands, detected or not); ``detected`` spans the first
  to last detection padded by ``gp.detection_padding`` days (clipped to the observed span; falls
  back to ``observed`` if the object has no detection). Grid times are stored relative to the grid
  start (``t_grid``, days, float32) with the start in ``t0_mjd`` (float64).
* Normalisation (``gp.normalisation``): ``max_abs`` (default) divides the (L, 6) GP mean by its
  largest absolute value, so every object's X lies in [-1, 1] with max |X| = 1; the divisor is kept
  per object as ``flux_scale`` (flux units), so ``X * flux_scale[:, None, None]`` is the GP mean in
  the input flux units. ``none`` keeps fluxes (``flux_scale`` = 1). An all-zero mean keeps scale 1.
* Failures: an object is EXCLUDED (no row in X) when its input is unusable (no rows, a non-finite
  mjd/flux/flux_err, flux_err <= 0, a passband outside 0-5, fewer than ``gp.min_points``
  observations) or when even the initial hyperparameters give a non-finite likelihood / a
  LinAlgError. When only the optimiser fails (not converged, non-finite optimum, LinAlgError
  during the search) the object FALLS BACK to the initial hyperparameters, as avocado and astronet
  do, is kept with ``success = False``, and is listed too. Every failure (both actions) is written
  with object_id, reason and action to the failures table; nothing is dropped silently.
* ``gp.max_points`` (default null = no cap) optionally keeps, per object, the ``max_points``
  observations with the highest |flux| / flux_err (a speed valve for the full data set; the cap
  is applied deterministically, ties broken by time).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from transientrepro.plasticc.classes import PASSBAND_WAVELENGTHS as _PB

log = logging.getLogger("transientrepro.gp")

# LSST effective wavelengths (Angstrom) of u, g, r, i, z, y (avocado / t2 values), owned by the
# ingest stage; the PLAsTiCC passband code is the index.
PASSBAND_WAVELENGTHS: tuple[float, ...] = tuple(float(v) for v in _PB)

N_PASSBANDS = 6
LC_COLUMNS = ("object_id", "mjd", "passband", "flux", "flux_err")
NORMALISATIONS = ("max_abs", "none")
SCHEDULING_KEYS = ("chunk_runtime", "chunk_mem_mb")
TIME_GRIDS = ("observed", "detected")

# float keys stored per object in the npz, in addition to X
PER_OBJECT_KEYS = ("object_id", "target", "z", "z_err", "t_grid", "t0_mjd", "flux_scale", "amp", "t_scale",
                   "log_likelihood", "success", "n_obs")


def single_threaded_blas():
    """Limit BLAS/OpenMP to one thread: george's small Cholesky factorisations run ~4x slower
    with multi-threaded OpenBLAS on this machine, and the stage parallelises over chunks anyway."""
    # import the BLAS users first: threadpoolctl only limits libraries loaded when it is entered
    import george  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


class GPInputError(ValueError):
    """Unusable input to the GP stage (names what and where)."""


@dataclass(frozen=True)
class GPConfig:
    n_points: int = 100
    wavelength_scale: float = 6000.0
    time_scale_init: float = 20.0
    time_scale_bounds: tuple[float, float] = (1.0, 1000.0)
    amp_log_bound: float = 10.0
    min_points: int = 3
    max_points: int | None = None
    time_grid: str = "observed"
    detection_padding: float = 30.0
    normalisation: str = "max_abs"
    passband_wavelengths: tuple[float, ...] = field(default=PASSBAND_WAVELENGTHS)

    def __post_init__(self) -> None:
        if int(self.n_points) < 2:
            raise GPInputError(f"config gp.n_points must be >= 2, got {self.n_points}")
        if not self.wavelength_scale > 0:
            raise GPInputError(f"config gp.wavelength_scale must be > 0, got {self.wavelength_scale}")
        lo, hi = self.time_scale_bounds
        if not (0 < lo <= self.time_scale_init <= hi):
            raise GPInputError(f"config gp: need 0 < time_scale_bounds[0] <= time_scale_init <= time_scale_bounds[1], "
                               f"got init={self.time_scale_init}, bounds={self.time_scale_bounds}")
        if self.min_points < 1:
            raise GPInputError(f"config gp.min_points must be >= 1, got {self.min_points}")
        if self.max_points is not None and self.max_points < self.min_points:
            raise GPInputError(f"config gp.max_points ({self.max_points}) must be >= gp.min_points ({self.min_points})")
        if self.time_grid not in TIME_GRIDS:
            raise GPInputError(f"config gp.time_grid must be one of {TIME_GRIDS}, got {self.time_grid!r}")
        if self.normalisation not in NORMALISATIONS:
            raise GPInputError(f"config gp.normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if len(self.passband_wavelengths) != N_PASSBANDS:
            raise GPInputError(f"passband_wavelengths needs {N_PASSBANDS} values, got {len(self.passband_wavelengths)}")

    @classmethod
    def from_config(cls, gp_section: Mapping[str, Any] | None) -> "GPConfig":
        """Build from the config's ``gp:`` section (unknown keys are errors)."""
        sec = dict(gp_section or {})
        for k in SCHEDULING_KEYS:  # rule resources, not GP parameters
            sec.pop(k, None)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(sec) - known
        if unknown:
            raise GPInputError(f"config gp: unknown key(s) {sorted(unknown)}")
        if "time_scale_bounds" in sec:
            sec["time_scale_bounds"] = tuple(float(v) for v in sec["time_scale_bounds"])
        if "passband_wavelengths" in sec:
            sec["passband_wavelengths"] = tuple(float(v) for v in sec["passband_wavelengths"])
        return cls(**sec)

    def attrs(self) -> dict[str, np.ndarray]:
        """Run-level settings stored in the npz (no object arrays)."""
        return {
            "attr_n_points": np.int64(self.n_points),
            "attr_wavelength_scale": np.float64(self.wavelength_scale),
            "attr_passband_wavelengths": np.asarray(self.passband_wavelengths, dtype=np.float64),
            "attr_normalisation": np.str_(self.normalisation),
            "attr_time_grid": np.str_(self.time_grid),
            "attr_detection_padding": np.float64(self.detection_padding),
            "attr_kernel": np.str_("amp * Matern32Kernel(metric=[t_scale**2, wavelength_scale**2], ndim=2); "
                                   "amp = k(x,x) (flux**2), t_scale in days"),
        }


@dataclass
class GPFit:
    """Fitted hyperparameters of one object (``amp`` is the true zero-lag variance, see module doc)."""

    amp: float
    t_scale: float
    log_likelihood: float
    success: bool
    message: str
    n_obs: int
    gp: Any = None  # george.GP conditioned on the data (compute() done)
    flux: np.ndarray | None = None


class GPFitFailure(Exception):
    """A fit that cannot produce a prediction: the object is excluded (reason in ``args[0]``)."""


def build_gp(amp: float, t_scale: float, wavelength_scale: float):
    """A george GP with kernel variance ``amp`` (exact; see the ndim=2 pitfall in the module doc)."""
    import george
    from george import kernels

    kernel = float(amp) * kernels.Matern32Kernel(metric=[float(t_scale) ** 2, float(wavelength_scale) ** 2], ndim=2)
    kernel.freeze_parameter("k2:metric:log_M_1_1")
    return george.GP(kernel)


def _kernel_variance(gp) -> float:
    """k(x, x): the GP's prior variance at zero lag, read from george itself (pitfall-proof)."""
    return float(gp.kernel.get_value(np.zeros((1, 2)))[0, 0])


def _validate_object(object_id: int, mjd: np.ndarray, passband: np.ndarray, flux: np.ndarray,
                     flux_err: np.ndarray, cfg: GPConfig) -> str | None:
    """Reason the object cannot be fitted, or None."""
    n = len(mjd)
    if n == 0:
        return "no_observations"
    for name, arr in (("mjd", mjd), ("flux", flux), ("flux_err", flux_err)):
        bad = ~np.isfinite(arr)
        if bad.any():
            return f"non_finite_{name}: {int(bad.sum())} of {n} rows"
    if (flux_err <= 0).any():
        return f"non_positive_flux_err: {int((flux_err <= 0).sum())} of {n} rows"
    bad_pb = (passband < 0) | (passband >= N_PASSBANDS)
    if bad_pb.any():
        return f"passband_out_of_range: values {sorted(set(passband[bad_pb].tolist()))[:5]}"
    if n < cfg.min_points:
        return f"too_few_points: {n} < gp.min_points={cfg.min_points}"
    return None


def fit_object(mjd: np.ndarray, passband: np.ndarray, flux: np.ndarray, flux_err: np.ndarray,
               cfg: GPConfig, object_id: int | None = None) -> GPFit:
    """Fit amplitude and time scale by maximum likelihood. Raises :class:`GPFitFailure` if the
    object has to be excluded; returns ``success=False`` (initial parameters) on optimiser failure."""
    from scipy.optimize import minimize

    mjd = np.asarray(mjd, dtype=np.float64)
    passband = np.asarray(passband, dtype=np.int64)
    flux = np.asarray(flux, dtype=np.float64)
    flux_err = np.asarray(flux_err, dtype=np.float64)
    reason = _validate_object(object_id, mjd, passband, flux, flux_err, cfg)
    if reason:
        raise GPFitFailure(reason)
    if cfg.max_points is not None and len(mjd) > cfg.max_points:
        snr = np.abs(flux) / flux_err
        keep = np.lexsort((mjd, -snr))[: cfg.max_points]
        keep.sort()
        mjd, passband, flux, flux_err = mjd[keep], passband[keep], flux[keep], flux_err[keep]

    wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)[passband]
    x = np.column_stack([mjd, wl])

    max_abs = float(np.max(np.abs(flux)))
    snr = np.abs(flux) / np.sqrt(flux_err ** 2 + (1e-2 * max_abs) ** 2)
    scale = float(np.abs(flux[np.argmax(snr)]))
    if not scale > 0:
        scale = float(np.median(flux_err)) or 1.0
    amp0 = (0.5 * scale) ** 2

    gp = build_gp(amp0, cfg.time_scale_init, cfg.wavelength_scale)
    p0 = gp.get_parameter_vector().copy()  # [log(amp0/2) (george ndim=2), log(t_scale0**2)]
    try:
        gp.compute(x, flux_err)
        ll0 = gp.log_likelihood(flux, quiet=True)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise GPFitFailure(f"initial_compute_failed: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(ll0):
        raise GPFitFailure("non_finite_initial_likelihood")

    def nll_and_grad(p):
        # one george compute per evaluation (separate fun/jac callbacks would factorise twice)
        try:
            gp.set_parameter_vector(p)
            ll = gp.log_likelihood(flux, quiet=True)
            g = -gp.grad_log_likelihood(flux, quiet=True) if np.isfinite(ll) else None
        except (np.linalg.LinAlgError, ValueError):
            return 1e25, np.zeros_like(p)
        if not np.isfinite(ll) or g is None or not np.all(np.isfinite(g)):
            return 1e25, np.zeros_like(p)
        return -ll, g

    lo, hi = cfg.time_scale_bounds
    bounds = [(p0[0] - cfg.amp_log_bound, p0[0] + cfg.amp_log_bound), (2 * np.log(lo), 2 * np.log(hi))]
    success, message = True, "converged"
    try:
        res = minimize(nll_and_grad, p0, jac=True, method="L-BFGS-B", bounds=bounds)
        if not res.success:
            success, message = False, f"optimiser_not_converged: {res.message}"
        elif not (np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and res.fun < 1e25):
            success, message = False, "non_finite_optimum"
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        success, message = False, f"optimiser_error: {type(exc).__name__}: {exc}"
    p = res.x if success else p0
    gp.set_parameter_vector(p)
    try:
        gp.compute(x, flux_err)
        ll = float(gp.log_likelihood(flux, quiet=True))
    except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - p0 computed above
        raise GPFitFailure(f"final_compute_failed: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(ll):  # pragma: no cover - p0 was finite above
        raise GPFitFailure("non_finite_likelihood_after_fit")
    t_scale = float(np.sqrt(np.exp(gp.get_parameter_vector()[1])))
    return GPFit(amp=_kernel_variance(gp), t_scale=t_scale, log_likelihood=ll, success=success,
                 message=message, n_obs=len(mjd), gp=gp, flux=flux)


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


def predict_grid(fit: GPFit, grid_mjd: np.ndarray, cfg: GPConfig) -> np.ndarray:
    """GP posterior mean on grid times x 6 passbands -> (L, 6) float64 in input flux units."""
    wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)
    xs = np.column_stack([np.repeat(grid_mjd, N_PASSBANDS), np.tile(wl, len(grid_mjd))])
    mu = fit.gp.predict(fit.flux, xs, return_cov=False)
    return mu.reshape(len(grid_mjd), N_PASSBANDS)


def normalise(mean: np.ndarray, cfg: GPConfig) -> tuple[np.ndarray, float]:
    if cfg.normalisation == "none":
        return mean, 1.0
    s = float(np.max(np.abs(mean)))
    if not (np.isfinite(s) and s > 0):
        s = 1.0
    return mean / s, s


def interpolate_object(object_id: int, obj: pd.DataFrame, cfg: GPConfig) -> dict[str, Any]:
    """Fit + predict + normalise one object. Raises :class:`GPFitFailure` (object excluded)."""
    mjd = obj["mjd"].to_numpy(np.float64)
    detected = obj["detected_bool"].to_numpy() if "detected_bool" in obj else None
    fit = fit_object(mjd, obj["passband"].to_numpy(), obj["flux"].to_numpy(np.float64),
                     obj["flux_err"].to_numpy(np.float64), cfg, object_id=object_id)
    grid = time_grid(mjd, detected, cfg)
    mean = predict_grid(fit, grid, cfg)
    if not np.all(np.isfinite(mean)):
        raise GPFitFailure("non_finite_prediction")
    X, s = normalise(mean, cfg)
    return {"X": X, "t_grid": grid - grid[0], "t0_mjd": grid[0], "flux_scale": s, "amp": fit.amp,
            "t_scale": fit.t_scale, "log_likelihood": fit.log_likelihood, "success": fit.success,
            "message": fit.message, "n_obs": fit.n_obs}


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
    it = tqdm(meta.itertuples(index=False), total=len(meta), desc=desc, mininterval=5.0, disable=not progress)
    cols = list(meta.columns)
    i_id, i_z, i_ze, i_t = (cols.index(c) for c in ("object_id", "hostgal_photoz", "hostgal_photoz_err", tcol))
    with single_threaded_blas():
        t_start, cpu_start = time.perf_counter(), time.process_time()
        for rec in it:
            row, failure = _interpolate_one(rec, i_id, i_z, i_ze, i_t, bounds, lc, cfg)
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
    }
    return arrays, fails, summary


def _interpolate_one(rec, i_id, i_z, i_ze, i_t, bounds, lc, cfg):
    """(row or None, failure or None) for one metadata record."""
    oid = int(rec[i_id])
    se = bounds.get(oid)
    obj = lc.iloc[se[0]:se[1]] if se else lc.iloc[0:0]
    try:
        r = interpolate_object(oid, obj, cfg)
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
        "X": np.stack([r["X"] for r in rows]).astype(np.float32) if n else np.zeros((0, L, N_PASSBANDS), np.float32),
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


def concatenate(parts: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Gather chunk npz dicts into one, sorted by object_id; attrs must agree across chunks."""
    parts = list(parts)
    if not parts:
        raise GPInputError("gather: no GP chunks given")
    out: dict[str, np.ndarray] = {}
    ref = parts[0]
    for k in ref:
        if k.startswith("attr_"):
            for i, p in enumerate(parts[1:], 1):
                if k not in p or not np.array_equal(p[k], ref[k]):
                    raise GPInputError(f"gather: chunk {i} has a different {k!r} than chunk 0 (mixed GP settings)")
            out[k] = ref[k]
    for k in PER_OBJECT_KEYS + ("X",):
        for i, p in enumerate(parts):
            if k not in p:
                raise GPInputError(f"gather: chunk {i} lacks array {k!r}")
        out[k] = np.concatenate([p[k] for p in parts], axis=0)
    order = np.argsort(out["object_id"], kind="stable")
    for k in PER_OBJECT_KEYS + ("X",):
        out[k] = out[k][order]
    dup = np.flatnonzero(np.diff(out["object_id"]) == 0)
    if dup.size:
        raise GPInputError(f"gather: object_id {int(out['object_id'][dup[0]])} appears in more than one chunk")
    return out


def select_objects(meta: pd.DataFrame, chunk: int | None = None, split: str | None = "test",
                   drop_targets: Sequence[int] = (99,)) -> pd.DataFrame:
    """Objects the GP stage processes: ``split == 'test'`` (t2 §5.1 uses the unblinded test files
    only), of ``chunk`` if given, and not of class 99 (anomalies, removed by t2)."""
    for c in ("object_id",) + (("chunk",) if chunk is not None else ()) + (("split",) if split else ()):
        if c not in meta.columns:
            raise GPInputError(f"metadata: missing column {c!r} (have {list(meta.columns)})")
    tcol = _target_column(meta)
    sel = np.ones(len(meta), dtype=bool)
    if split:
        sel &= (meta["split"] == split).to_numpy()
    if chunk is not None:
        sel &= (meta["chunk"] == chunk).to_numpy()
    sel &= ~meta[tcol].isin(list(drop_targets)).to_numpy()
    return meta.loc[sel].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# File-level entry points used by the workflow scripts (and the tests).

META_COLUMNS = ("object_id", "hostgal_photoz", "hostgal_photoz_err", "split", "chunk")


def read_metadata(path, chunk: int | None = None) -> pd.DataFrame:
    """The ingest metadata restricted to the GP stage's objects (see :func:`select_objects`)."""
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    tcol = "target" if "target" in names else "true_target" if "true_target" in names else None
    if tcol is None:
        raise GPInputError(f"{path}: no 'target' or 'true_target' column (columns: {names})")
    missing = [c for c in META_COLUMNS if c not in names]
    if missing:
        raise GPInputError(f"{path}: missing column(s) {missing}")
    meta = pd.read_parquet(path, columns=list(META_COLUMNS) + [tcol])
    return select_objects(meta, chunk=chunk)


def run_chunk(metadata_path, lightcurves_path, chunk: int, gp_section: Mapping[str, Any] | None,
              out_npz, out_failures, out_summary, progress: bool = True) -> dict:
    """GP-interpolate one ingest chunk; writes the npz, the failures CSV and a JSON summary atomically."""
    from transientrepro.io import save_npz, write_csv, write_json

    cfg = GPConfig.from_config(gp_section)
    meta = read_metadata(metadata_path, chunk=int(chunk))
    ids = meta["object_id"].to_numpy(np.int64)
    lc = pd.read_parquet(lightcurves_path, filters=[("object_id", "in", ids.tolist())] if len(ids) else None)
    if not len(ids):
        lc = lc.iloc[0:0]
    log.info("chunk %s: %d objects (split == 'test', class 99 removed), %d light-curve rows",
             chunk, len(meta), len(lc))
    arrays, fails, summary = interpolate_lightcurves(lc, meta, cfg, progress=progress, desc=f"GP chunk {chunk}",
                                                     source=str(lightcurves_path))
    summary["chunk"] = int(chunk)
    save_npz(out_npz, **arrays)
    write_csv(fails, out_failures)
    write_json(summary, out_summary)
    log.info("chunk %s: %d interpolated, %d failed (%d excluded, %d fallback), %.1f objects/s",
             chunk, summary["n_objects"], summary["n_failed"], summary["n_excluded"], summary["n_fallback"],
             summary["objects_per_s"])
    return summary


def run_gather(npz_paths: Sequence, failure_paths: Sequence, summary_paths: Sequence,
               out_npz, out_failures, out_summary) -> dict:
    """Concatenate the chunk outputs into gp.npz, failures.csv and summary.json (atomically)."""
    from transientrepro.io import load_npz, read_json, save_npz, write_csv, write_json

    merged = concatenate(load_npz(p) for p in npz_paths)
    frames = [pd.read_csv(p, dtype={"object_id": "int64", "reason": str, "action": str}) for p in failure_paths]
    fails = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["object_id", "reason", "action"])
    fails = fails.sort_values("object_id", kind="stable").reset_index(drop=True)
    chunks = [read_json(p) for p in summary_paths]
    seconds = float(sum(c["seconds"] for c in chunks))
    cpu = float(sum(c.get("cpu_seconds", float("nan")) for c in chunks))
    n_input = int(sum(c["n_input"] for c in chunks))
    summary = {
        "n_input": n_input,
        "n_objects": int(len(merged["object_id"])),
        "n_failed": int(len(fails)),
        "n_excluded": int((fails["action"] == "excluded").sum()),
        "n_fallback": int((fails["action"] != "excluded").sum()),
        "failure_reasons": {str(k): int(v) for k, v in fails["reason"].str.split(":").str[0].value_counts().items()},
        "fit_seconds": seconds,
        "cpu_seconds": cpu,
        "objects_per_s": n_input / seconds if seconds > 0 else float("nan"),
        "objects_per_cpu_s": n_input / cpu if cpu > 0 else float("nan"),
        "objects_per_s_note": ("per job (one core each): objects attempted / sum of the chunks' wall-clock fitting "
                               "seconds; objects_per_cpu_s uses process CPU time (insensitive to machine load)"),
        "ms_per_object": 1000 * seconds / n_input if n_input else float("nan"),
        "normalisation": str(merged["attr_normalisation"]),
        "time_grid": str(merged["attr_time_grid"]),
        "n_points": int(merged["attr_n_points"]),
        "chunks": chunks,
    }
    if summary["n_objects"] + summary["n_excluded"] != n_input:
        raise GPInputError(f"gather: {summary['n_objects']} interpolated + {summary['n_excluded']} excluded "
                           f"!= {n_input} input objects (chunk outputs inconsistent)")
    save_npz(out_npz, **merged)
    write_csv(fails, out_failures)
    write_json(summary, out_summary)
    log.info("gather: %d objects, %d failures (%d excluded), %.1f objects/s per job (%.1f per CPU-second)",
             summary["n_objects"], summary["n_failed"], summary["n_excluded"], summary["objects_per_s"],
             summary["objects_per_cpu_s"])
    return summary
