"""Ingest of the SDSS stamp data set (``catalog.csv`` + ``stamps/{CID}.fits`` + ``lightcurves.csv``,
layout in :mod:`.fitsio`) into flat arrays for the models.

Outputs (``results/sdss/ingest/``):

- ``objects.parquet``: one row per catalog object, sorted by CID, in the order of ``stamps.h5``'s
  ``cid``: ``CID, label, spec_confirmed, Classification, RA, DEC, redshift`` (zspecHelio),
  ``redshift_err`` (zspecerrHelio), ``redshift_phot`` (zphotHost), ``redshift_phot_err``
  (zphoterrHost), ``PeakMJD, n_epochs`` (distinct nights, floor(MJD), with >= 1 stamp),
  ``n_images``, ``n_u .. n_z`` (stamps per band), ``mjd_min, mjd_max``, ``n_masked_pixels``,
  ``n_dropped_images`` and ``SIM_TYPE`` (simulator truth; empty for real data).
- ``stamps.h5`` (HDF5, :mod:`.stamp_store`; written one object at a time, so memory does not grow
  with the data): ``images`` float32 (N_img, S, S); ``obj_index`` int32 (N_img,)
  row of ``objects.parquet``; ``mjd`` float64; ``band`` int8 (u,g,r,i,z -> 1..5; 0 never used);
  ``offsets`` int64 (n_obj + 1): object j's stamps are ``images[offsets[j]:offsets[j+1]]``,
  sorted by (mjd, band); ``cid`` int64 (n_obj,). Only present images are stored: missing bands
  simply have no entry (ConvEntion §3.1's "drop the empty channels" happens here structurally).
  Read it with :func:`.stamp_store.load_stamps` (checked invariants; ``images`` read lazily).
- ``lightcurves.parquet``: ``CID, mjd, band (1..5 int8), flux, flux_err`` (uJy), sorted.

Validation policy (errors are :class:`~.fitsio.SdssDataError` naming file, CID and HDU):
missing or corrupt FITS, CID mismatch, unknown FILTER, wrong stamp shape, OBSLOG/cube
inconsistency, catalog objects without a stamp file, stamp files not in the catalog (when
``strict_extra_files``), light-curve rows for unknown CIDs -> error. Non-finite pixels (e.g. a
cutout overlapping a frame edge): with ``nonfinite="mask"`` they are set to 0 (= sky) when at
most ``max_nonfinite_frac`` of the stamp is affected, and the stamp is dropped otherwise
(counted in ``n_masked_pixels`` / ``n_dropped_images``); ``nonfinite="error"`` raises instead.
A stamp that is entirely zero or non-finite is empty and dropped. An object left with no stamp
raises.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..io import write_parquet
from .classes import BANDS
from .fitsio import SdssDataError, read_catalog, read_lightcurves, read_stamps, stamp_path
from .stamp_store import load_stamps, stamp_writer  # noqa: F401  (load_stamps: re-exported)

log = logging.getLogger(__name__)


def _numeric(catalog: pd.DataFrame, column: str) -> pd.Series:
    """A numeric catalog column (NaN where empty, or everywhere when the catalog lacks it)."""
    if column not in catalog.columns:
        return pd.Series(np.nan, index=catalog.index, dtype=float)
    return pd.to_numeric(catalog[column], errors="coerce").astype(float)


def clean_stamps(images: np.ndarray, *, nonfinite: str, max_nonfinite_frac: float, where: str):
    """Apply the non-finite / empty policy. Returns (keep mask, cleaned images, n masked pixels)."""
    if nonfinite not in ("mask", "error"):
        raise ValueError(f"config sdss.ingest.nonfinite={nonfinite!r}: expected 'mask' or 'error'")
    bad = ~np.isfinite(images)
    nbad = bad.sum(axis=(1, 2))
    if nonfinite == "error" and nbad.any():
        k = int(np.flatnonzero(nbad)[0])
        raise SdssDataError(f"{where}: stamp {k} has {int(nbad[k])} non-finite pixel(s) (config sdss.ingest.nonfinite=error)")
    frac = nbad / float(images.shape[1] * images.shape[2])
    keep = frac <= max_nonfinite_frac
    images = np.where(bad, np.float32(0.0), images)
    empty = ~np.any(images != 0, axis=(1, 2))
    keep &= ~empty
    return keep, images, int(nbad[keep].sum())


def ingest(catalog_path: str | os.PathLike, stamps_dir: str | os.PathLike, lightcurves_path: str | os.PathLike,
           objects_out: str | os.PathLike, stamps_out: str | os.PathLike, lightcurves_out: str | os.PathLike, *,
           stamp_size: int | None = None, nonfinite: str = "mask", max_nonfinite_frac: float = 0.25,
           strict_extra_files: bool = True, progress: bool = True) -> dict:
    """Read, validate and flatten the raw SDSS data set; writes the three outputs atomically."""
    catalog = read_catalog(catalog_path)
    stamps_dir = Path(stamps_dir)
    if not stamps_dir.is_dir():
        raise SdssDataError(f"{stamps_dir}: stamps directory not found")
    if strict_extra_files:
        on_disk = {p.stem for p in stamps_dir.glob("*.fits")}
        extra = sorted(on_disk - {str(c) for c in catalog["CID"]})
        if extra:
            raise SdssDataError(f"{stamps_dir}: stamp file(s) for CID(s) not in {catalog_path}: {extra[:10]}")
    lc = read_lightcurves(lightcurves_path, cids=catalog["CID"].to_numpy())
    per_obj = []
    # one object at a time into the store (bounded memory: one HDF5 chunk of stamps + this object)
    with stamp_writer(stamps_out, catalog["CID"].to_numpy(np.int64), stamp_size=stamp_size) as w:
        for cid in tqdm(catalog["CID"].to_numpy(), desc="ingest sdss", mininterval=5.0, disable=not progress):
            path = stamp_path(stamps_dir, cid)
            st = read_stamps(path, expected_cid=int(cid), stamp_size=w.stamp_size)
            where = f"{path} (CID {cid})"
            keep, images, n_masked = clean_stamps(st.images, nonfinite=nonfinite,
                                                  max_nonfinite_frac=max_nonfinite_frac, where=where)
            if not keep.any():
                raise SdssDataError(f"{where}: no usable (non-empty) stamp")
            b = st.band[keep]
            w.append(images[keep].astype(np.float32, copy=False), st.mjd[keep], b)
            per_obj.append({
                "n_epochs": int(len(np.unique(np.floor(st.mjd[keep])))),
                "n_images": int(keep.sum()),
                **{f"n_{x}": int((b == i + 1).sum()) for i, x in enumerate(BANDS)},
                "mjd_min": float(st.mjd[keep].min()),
                "mjd_max": float(st.mjd[keep].max()),
                "n_masked_pixels": n_masked,
                "n_dropped_images": int((~keep).sum()),
            })
            del st, images
        n_images, s_final = w.n_images, w.stamp_size
    objects = pd.DataFrame({
        "CID": catalog["CID"].astype(np.int64),
        "label": catalog["label"].astype(str),
        "spec_confirmed": catalog["spec_confirmed"].astype(bool),
        "Classification": catalog["Classification"].astype(str),
        "RA": catalog["RA"].astype(float),
        "DEC": catalog["DEC"].astype(float),
        "redshift": pd.to_numeric(catalog["zspecHelio"], errors="coerce").astype(float),
        "redshift_err": _numeric(catalog, "zspecerrHelio"),
        "redshift_phot": pd.to_numeric(catalog["zphotHost"], errors="coerce").astype(float),
        "redshift_phot_err": _numeric(catalog, "zphoterrHost"),
        "PeakMJD": pd.to_numeric(catalog["PeakMJD"], errors="coerce").astype(float),
        "SIM_TYPE": catalog["SIM_TYPE"].fillna("").astype(str),
    })
    objects = pd.concat([objects, pd.DataFrame(per_obj)], axis=1)
    write_parquet(objects, objects_out)
    write_parquet(lc, lightcurves_out)
    summary = {
        "n_objects": int(len(objects)),
        "n_images": int(n_images),
        "stamp_size": int(s_final),
        "n_lightcurve_points": int(len(lc)),
        "n_dropped_images": int(objects["n_dropped_images"].sum()),
        "n_masked_pixels": int(objects["n_masked_pixels"].sum()),
        "images_per_object_median": float(objects["n_images"].median()),
        "epochs_per_object_median": float(objects["n_epochs"].median()),
    }
    log.info("ingested %s", summary)
    return summary
