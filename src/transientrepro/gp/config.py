"""Settings of the GP stage (config ``gp:``), its constants and its errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from transientrepro.plasticc.classes import PASSBAND_WAVELENGTHS as _PB

# LSST effective wavelengths (Angstrom) of u, g, r, i, z, y (avocado / t2 values), owned by the
# ingest stage; the PLAsTiCC passband code is the index.
PASSBAND_WAVELENGTHS: tuple[float, ...] = tuple(float(v) for v in _PB)

N_PASSBANDS = 6
LC_COLUMNS = ("object_id", "mjd", "passband", "flux", "flux_err")
NORMALISATIONS = ("max_abs", "none")
SCHEDULING_KEYS = ("chunk_runtime", "chunk_mem_mb", "gather_mem_mb", "gpu")
ENGINES = ("george", "batched")
DEVICES = ("auto", "cpu", "cuda", "torch-cpu")
TIME_GRIDS = ("observed", "detected", "transient")

# float keys stored per object in the npz, in addition to X
PER_OBJECT_KEYS = ("object_id", "target", "z", "z_err", "t_grid", "t0_mjd", "flux_scale", "amp", "t_scale",
                   "log_likelihood", "success", "n_obs")


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
    transient_window: float = 50.0
    normalisation: str = "max_abs"
    engine: str = "george"
    device: str = "auto"
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
        if not self.transient_window > 0:
            raise GPInputError(f"config gp.transient_window must be > 0 days, got {self.transient_window}")
        if self.normalisation not in NORMALISATIONS:
            raise GPInputError(f"config gp.normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if self.engine not in ENGINES:
            raise GPInputError(f"config gp.engine must be one of {ENGINES}, got {self.engine!r}")
        if self.device not in DEVICES:
            raise GPInputError(f"config gp.device must be one of {DEVICES}, got {self.device!r}")
        wl = np.asarray(self.passband_wavelengths, dtype=np.float64)
        if wl.ndim != 1 or len(wl) < 1 or not np.all(np.isfinite(wl) & (wl > 0)):
            raise GPInputError(f"passband_wavelengths must be >= 1 positive wavelengths (Angstrom), got {self.passband_wavelengths}")

    @property
    def n_passbands(self) -> int:
        """P: the passbands of the output arrays (6 for PLAsTiCC's ugrizy; 5 or 1 for SDSS ugriz / g)."""
        return len(self.passband_wavelengths)

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
            "attr_transient_window": np.float64(self.transient_window),
            "attr_engine": np.str_(self.engine),
            "attr_kernel": np.str_("amp * Matern32Kernel(metric=[t_scale**2, wavelength_scale**2], ndim=2); "
                                   "amp = k(x,x) (flux**2), t_scale in days"),
        }


class GPFitFailure(Exception):
    """A fit that cannot produce a prediction: the object is excluded (reason in ``args[0]``)."""
