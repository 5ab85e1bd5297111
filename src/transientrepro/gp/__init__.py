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
* Engines (``gp.engine``): ``george`` fits one george GP per object (:mod:`.george_engine`, the
  reference); ``batched`` (:mod:`.batched`) fits the same GP with the same start, bounds and L-BFGS-B
  path for many objects at once (CPU LAPACK or a CUDA GPU, ``gp.device``): same answers to rounding,
  ~3-4x fewer CPU-seconds. Both share validation and initialisation (``prepare_object``).
"""
from .config import (  # noqa: F401
    LC_COLUMNS,
    N_PASSBANDS,
    NORMALISATIONS,
    PASSBAND_WAVELENGTHS,
    PER_OBJECT_KEYS,
    SCHEDULING_KEYS,
    TIME_GRIDS,
    GPConfig,
    GPFitFailure,
    GPInputError,
)
from .george_engine import GPFit, build_gp, fit_object, predict_grid, single_threaded_blas  # noqa: F401
from .interpolate import (  # noqa: F401
    interpolate_lightcurves,
    interpolate_object,
    normalise,
    prepare_lightcurves,
    stack_rows,
    time_grid,
    transient_window,
)
from .stage import META_COLUMNS, read_metadata, run_chunk, run_gather, select_objects  # noqa: F401
