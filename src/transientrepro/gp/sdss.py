"""The GP stage on the SDSS-II light curves, for t2 on SDSS (beside ConvEntion; issue 12).

The same 2-D Gaussian process as on PLAsTiCC (:mod:`.interpolate`: Matern-3/2 over time x
wavelength, the ``gp:`` settings of the run) fitted to the SMP light curves of the SDSS ingest
(``lightcurves.parquet``: CID, mjd, band 1..5, flux, flux_err in uJy), with the SDSS filters'
effective wavelengths (:data:`transientrepro.sdss.classes.BAND_WAVELENGTHS`, Fukugita et al. 1996)
instead of LSST's. ``bands`` selects the filters, as ConvEntion's variants do: ``ugriz`` gives X of
shape (L, 5) with passband p = ugriz[p]; ``g`` fits the g-band points only, X (L, 1).

Definitions that PLAsTiCC provides and SDSS does not:

* ``detected`` (for ``gp.time_grid: transient``, the authors' first detection - 50 d .. last
  detection + 50 d window): flux / flux_err >= ``detection_snr`` (5 by default, PLAsTiCC's
  detection threshold is a difference-image S/N of about 5).
* the redshift pair (t2's z, z_err): the spectroscopic redshift (zspecHelio, zspecerrHelio) where
  there is one, else the host's photometric redshift (zphotHost, zphoterrHost), else 0 and 0 (as
  PLAsTiCC's galactic objects carry hostgal_photoz = 0). ``redshift_source`` records which.
* ``target``: the index of the object's ingest ``label`` in :data:`LABELS` (the task's classes come
  from the ConvEntion split table, not from here).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..sdss.classes import BAND_WAVELENGTHS, BANDS, LABELS
from .config import GPConfig, GPInputError
from .interpolate import interpolate_lightcurves

log = logging.getLogger("transientrepro.gp")

OBJECT_COLUMNS = ("CID", "label", "redshift", "redshift_phot")
LC_COLUMNS = ("CID", "mjd", "band", "flux", "flux_err")


def parse_bands(bands: str) -> list[str]:
    """``"ugriz"`` -> ['u', 'g', 'r', 'i', 'z']; every letter must be an SDSS filter, once."""
    out = list(str(bands))
    bad = [b for b in out if b not in BANDS]
    if not out or bad or len(set(out)) != len(out):
        raise GPInputError(f"SDSS bands {bands!r}: expected distinct letters of {''.join(BANDS)}")
    return out


def gp_config(gp_section: Mapping[str, Any] | None, bands: str) -> GPConfig:
    """The run's ``gp:`` settings with the SDSS wavelengths of ``bands``."""
    sec = dict(gp_section or {})
    sec["passband_wavelengths"] = [BAND_WAVELENGTHS[b] for b in parse_bands(bands)]
    return GPConfig.from_config(sec)


def redshifts(objects: pd.DataFrame) -> pd.DataFrame:
    """Per object: z, z_err and redshift_source (spec | phot | none), see the module docstring."""
    def col(name):
        return pd.to_numeric(objects[name], errors="coerce").to_numpy(np.float64) if name in objects else \
            np.full(len(objects), np.nan)

    zs, zse, zp, zpe = col("redshift"), col("redshift_err"), col("redshift_phot"), col("redshift_phot_err")
    spec, phot = np.isfinite(zs), ~np.isfinite(zs) & np.isfinite(zp)
    z = np.where(spec, zs, np.where(phot, zp, 0.0))
    ze = np.where(spec, zse, np.where(phot, zpe, 0.0))
    ze = np.where(np.isfinite(ze), ze, 0.0)  # a redshift without a quoted error: error 0
    src = np.where(spec, "spec", np.where(phot, "phot", "none"))
    return pd.DataFrame({"z": z, "z_err": ze, "redshift_source": src}, index=objects.index)


def gp_inputs(objects: pd.DataFrame, lightcurves: pd.DataFrame, bands: str, detection_snr: float = 5.0,
              source: str = "lightcurves.parquet") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(light curves, metadata) in the GP stage's columns for the objects of the SDSS ingest.

    Light curves: object_id (= CID), mjd, passband (index into ``bands``), flux, flux_err,
    detected_bool; only the rows of ``bands``. Metadata: object_id, hostgal_photoz (= z),
    hostgal_photoz_err (= z_err), target (label index), redshift_source.
    """
    missing = [c for c in OBJECT_COLUMNS if c not in objects.columns]
    if missing:
        raise GPInputError(f"objects table: missing column(s) {missing}")
    missing = [c for c in LC_COLUMNS if c not in lightcurves.columns]
    if missing:
        raise GPInputError(f"{source}: missing column(s) {missing} (have {list(lightcurves.columns)})")
    if not detection_snr > 0:
        raise GPInputError(f"config t2_sdss.detection_snr must be > 0, got {detection_snr}")
    band_ids = [BANDS.index(b) + 1 for b in parse_bands(bands)]
    unknown = sorted(set(objects["label"].astype(str)) - set(LABELS))
    if unknown:
        raise GPInputError(f"objects table: unknown label(s) {unknown[:5]} (expected {LABELS})")
    lc = lightcurves[lightcurves["band"].isin(band_ids)]
    pb = np.searchsorted(np.asarray(band_ids), lc["band"].to_numpy())
    flux, err = lc["flux"].to_numpy(np.float64), lc["flux_err"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = (flux / err) >= float(detection_snr)
    out_lc = pd.DataFrame({"object_id": lc["CID"].to_numpy(np.int64), "mjd": lc["mjd"].to_numpy(np.float64),
                           "passband": pb.astype(np.int64), "flux": flux, "flux_err": err, "detected_bool": det})
    z = redshifts(objects)
    meta = pd.DataFrame({"object_id": objects["CID"].to_numpy(np.int64),
                         "hostgal_photoz": z["z"].to_numpy(np.float32),
                         "hostgal_photoz_err": z["z_err"].to_numpy(np.float32),
                         "target": [LABELS.index(v) for v in objects["label"].astype(str)],
                         "redshift_source": z["redshift_source"].to_numpy()})
    return out_lc, meta


def run_sdss_gp(objects_path: str | os.PathLike, lightcurves_path: str | os.PathLike, bands: str,
                gp_section: Mapping[str, Any] | None, detection_snr: float, out_npz, out_failures, out_summary,
                progress: bool = True) -> dict[str, Any]:
    """GP-interpolate every object of the SDSS ingest in ``bands``; writes the arrays (``.npz``, the
    GP stage's keys plus ``attr_bands``), the failures CSV and a JSON summary atomically."""
    from ..io import save_npz, write_csv, write_json

    cfg = gp_config(gp_section, bands)
    objects = pd.read_parquet(objects_path)
    lc = pd.read_parquet(lightcurves_path, columns=list(LC_COLUMNS))
    lc_in, meta = gp_inputs(objects, lc, bands, detection_snr, source=str(lightcurves_path))
    log.info("SDSS GP (%s): %d objects, %d light-curve points, wavelengths %s A", bands, len(meta), len(lc_in),
             list(cfg.passband_wavelengths))
    arrays, fails, summary = interpolate_lightcurves(lc_in, meta, cfg, progress=progress, desc=f"GP SDSS {bands}",
                                                     source=str(lightcurves_path))
    arrays["attr_bands"] = np.str_(bands)
    arrays["attr_detection_snr"] = np.float64(detection_snr)
    src = meta.set_index("object_id")["redshift_source"]
    summary.update(bands=bands, wavelengths=list(cfg.passband_wavelengths), detection_snr=float(detection_snr),
                   redshift_source={k: int(v) for k, v in src.loc[arrays["object_id"]].value_counts().items()}
                   if len(arrays["object_id"]) else {},
                   wavelength_source="Fukugita et al. (1996), AJ 111, 1748, Table 2a")
    save_npz(out_npz, **arrays)
    write_csv(fails, out_failures)
    write_json(summary, out_summary)
    log.info("SDSS GP (%s): %d interpolated, %d excluded, %.1f objects/s", bands, summary["n_objects"],
             summary["n_excluded"], summary["objects_per_s"])
    return summary
