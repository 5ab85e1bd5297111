"""The reference engine: one george GP per object, fitted with L-BFGS-B (see the package docstring)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import GPConfig, GPFitFailure


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
    bad_pb = (passband < 0) | (passband >= cfg.n_passbands)
    if bad_pb.any():
        return f"passband_out_of_range: values {sorted(set(passband[bad_pb].tolist()))[:5]}"
    if n < cfg.min_points:
        return f"too_few_points: {n} < gp.min_points={cfg.min_points}"
    return None


def prepare_object(mjd: np.ndarray, passband: np.ndarray, flux: np.ndarray, flux_err: np.ndarray,
                   cfg: GPConfig, object_id: int | None = None):
    """Validated fit inputs (the ``max_points`` cap applied) and the initial amplitude, shared by both
    engines: (mjd, passband, flux, flux_err, amp0). Raises :class:`GPFitFailure` for unusable input."""
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

    max_abs = float(np.max(np.abs(flux)))
    snr = np.abs(flux) / np.sqrt(flux_err ** 2 + (1e-2 * max_abs) ** 2)
    scale = float(np.abs(flux[np.argmax(snr)]))
    if not scale > 0:
        scale = float(np.median(flux_err)) or 1.0
    amp0 = (0.5 * scale) ** 2
    return mjd, passband, flux, flux_err, amp0


def fit_object(mjd: np.ndarray, passband: np.ndarray, flux: np.ndarray, flux_err: np.ndarray,
               cfg: GPConfig, object_id: int | None = None) -> GPFit:
    """Fit amplitude and time scale by maximum likelihood. Raises :class:`GPFitFailure` if the
    object has to be excluded; returns ``success=False`` (initial parameters) on optimiser failure."""
    from scipy.optimize import minimize

    mjd, passband, flux, flux_err, amp0 = prepare_object(mjd, passband, flux, flux_err, cfg, object_id)
    wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)[passband]
    x = np.column_stack([mjd, wl])
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


def predict_grid(fit: GPFit, grid_mjd: np.ndarray, cfg: GPConfig) -> np.ndarray:
    """GP posterior mean on grid times x the P passbands -> (L, P) float64 in input flux units."""
    wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)
    xs = np.column_stack([np.repeat(grid_mjd, len(wl)), np.tile(wl, len(grid_mjd))])
    mu = fit.gp.predict(fit.flux, xs, return_cov=False)
    return mu.reshape(len(grid_mjd), len(wl))
