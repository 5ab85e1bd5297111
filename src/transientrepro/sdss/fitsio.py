"""On-disk layout of the SDSS-II image-stamp data set (simulated *and* downloaded), with its
writers and validating readers. The simulator (:mod:`.simulate`) and the SDSS downloader
(``transientrepro.download``) both write through these functions, so ingest sees one layout.

Layout under ``resources/sdss/`` (``SDSS_RAW``)
================================================

``catalog.csv``
    One row per object, SDSS-II SN survey master-table style (Sako et al. 2018,
    ``master_data.txt``; missing values are empty/NaN, never -9). Columns, in order
    (:data:`CATALOG_COLUMNS`):

    - ``CID`` int: candidate id (unique; names the stamp file).
    - ``IAUName`` str: IAU name (empty when none).
    - ``RA``, ``DEC`` float, degrees (J2000): the candidate position = centre of every stamp.
    - ``Classification`` str: master-table type string (``SNIa``, ``pSNIa``, ``zSNII``, ``AGN``,
      ``Variable``, ``Unknown``, ...; see :mod:`.classes`).
    - ``zspecHelio``, ``zspecerrHelio``: spectroscopic (SN or host) redshift and error.
    - ``zphotHost``, ``zphoterrHost``: host photometric redshift and error.
    - ``zCMB``, ``zerrCMB``: CMB-frame redshift (sim: = zspecHelio).
    - ``PeakMJD``: MJD of peak brightness (SN: r-band maximum; others: brightest r epoch).
    - ``Nepochs`` int: nights (distinct floor(MJD)) with at least one stamp.
    - ``objIDHost``: host-galaxy id (NaN: hostless / stellar), ``DistHost``: candidate-host
      centre separation (arcsec), ``rmagHost``: host r magnitude (AB).
    - ``label`` str: ConvEntion class (``AGN, SNIa, SNOther, Unknown, Variable, SNOther_PT,
      SNIa_PT``) derived from ``Classification`` (:data:`.classes.CLASSIFICATION_TO_LABEL`).
    - ``spec_confirmed`` bool: type from a spectrum (:data:`.classes.SPEC_CONFIRMED_LABELS`).
    - ``SIM_TYPE`` str: simulator truth (``Ia, II, Ibc, AGN, RRLyr, EB, LPV, IrrVar, Faint,
      Noise``); empty for real data (SNANA's ``SIM_`` convention).

    Column names verified against the public release: ``CID, IAUName, RA, DEC, Classification,
    zspecHelio, zCMB, zerrCMB``; the others follow the same style.

``stamps/{CID}.fits``  (one multi-extension FITS file per object; layout ``SDSSSTAMP-CUBE`` v1)
    - HDU 0 (primary, no data): ``CID``, ``RA``, ``DEC``, ``CLASSIF``, ``NIMAGES``, ``NEPOCHS``,
      ``PIXSCALE`` (arcsec/pixel, 0.396), ``STAMPSZ``, ``BUNIT``, ``LAYOUT``, ``LAYOUTV``.
    - one ImageHDU per band present, ``EXTNAME`` = the band letter (``u g r i z``, in that order):
      a float32 cube of shape (n_b, S, S) (FITS NAXIS3 = n_b stamps of that band, in time order),
      pixel values calibrated, sky-subtracted flux in nanomaggies (``BUNIT='nanomaggy'``; 1 nMgy =
      22.5 AB mag = 3.631 uJy). Header: ``FILTER``, ``CID``, ``NSTAMPS``, ``MJDSTART``, ``MJDEND``,
      and a celestial TAN WCS of the stamp plane (``WCSAXES=2``, ``CTYPE1/2 = RA---TAN/DEC--TAN``,
      ``CRVAL`` = (RA, DEC) of the object at ``CRPIX`` = ((S+1)/2, (S+1)/2), ``CD`` matrix with
      0.396 arcsec/pixel, north up, east left). ``astropy.wcs.WCS(header, naxis=2)`` reads it.
    - ``EXTNAME='OBSLOG'``: BinTable, one row per stamp, sorted by (MJD, band id):
      ``MJD`` (D, exposure mid-time), ``FILTER`` (1A), ``SLICE`` (J, index in that band's cube),
      ``EXPTIME`` (E, s), ``PSF_FWHM`` (E, arcsec), ``SKY`` (E, sky level, nMgy/arcsec^2),
      ``SKYSIG`` (E, pixel noise rms, nMgy).
      The simulator gives all bands of a night one MJD (drift scan); real data may have one MJD per
      band, so group stamps into epochs by night (``floor(MJD)``), not by exact MJD.
    One HDU per stamp (``u_53616.123``) was measured ~20x slower to write/read with astropy
    (0.16 s vs 0.007 s per object of 160 stamps), hence one cube per band + the OBSLOG table.

``lightcurves.csv``
    Forced PSF photometry at the candidate position on each stamp, host model subtracted (the
    SMP light curves' role): ``CID, MJD, FILTER (u..z), FLUX, FLUXERR`` in microjansky (the SMP
    files' unit; AB zero point 3631 Jy), sorted by (CID, MJD, band).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from ..io import atomic_path, write_csv
from .classes import BAND_ID, BANDS, LABELS, SPEC_CONFIRMED_LABELS, label_of

PIXEL_SCALE_ARCSEC = 0.396
EXPTIME_S = 53.907456  # SDSS drift-scan exposure time per filter
NMGY_TO_UJY = 3.631
LAYOUT_NAME = "SDSSSTAMP-CUBE"
LAYOUT_VERSION = 1

CATALOG_COLUMNS: tuple[str, ...] = (
    "CID", "IAUName", "RA", "DEC", "Classification", "zspecHelio", "zspecerrHelio", "zphotHost",
    "zphoterrHost", "zCMB", "zerrCMB", "PeakMJD", "Nepochs", "objIDHost", "DistHost", "rmagHost",
    "label", "spec_confirmed", "SIM_TYPE",
)
REQUIRED_CATALOG_COLUMNS: tuple[str, ...] = ("CID", "RA", "DEC", "Classification")
LIGHTCURVE_COLUMNS: tuple[str, ...] = ("CID", "MJD", "FILTER", "FLUX", "FLUXERR")
OBSLOG_COLUMNS: tuple[str, ...] = ("MJD", "FILTER", "SLICE", "EXPTIME", "PSF_FWHM", "SKY", "SKYSIG")


class SdssDataError(ValueError):
    """Invalid SDSS input (file, CID, HDU or row named in the message)."""


def stamp_path(stamps_dir: str | os.PathLike, cid: int) -> Path:
    """``{stamps_dir}/{CID}.fits``."""
    return Path(stamps_dir) / f"{int(cid)}.fits"


def stamp_wcs_header(ra: float, dec: float, stamp_size: int) -> fits.Header:
    """Celestial TAN WCS of a stamp centred on (ra, dec) at 0.396 arcsec/pixel."""
    h = fits.Header()
    c = (stamp_size + 1) / 2.0
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    for k, v, com in (
        ("WCSAXES", 2, "celestial WCS; axis 3 = stamp index"),
        ("CTYPE1", "RA---TAN", ""),
        ("CTYPE2", "DEC--TAN", ""),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CRVAL1", float(ra), "object RA (deg)"),
        ("CRVAL2", float(dec), "object Dec (deg)"),
        ("CRPIX1", c, "stamp centre (1-based)"),
        ("CRPIX2", c, "stamp centre (1-based)"),
        ("CD1_1", -scale, "0.396 arcsec/pixel, east left"),
        ("CD1_2", 0.0, ""),
        ("CD2_1", 0.0, ""),
        ("CD2_2", scale, "north up"),
        ("RADESYS", "ICRS", ""),
    ):
        h[k] = (v, com)
    return h


def write_stamps(
    path: str | os.PathLike,
    *,
    cid: int,
    ra: float,
    dec: float,
    images: np.ndarray,
    mjd: np.ndarray,
    band: np.ndarray,
    psf_fwhm: np.ndarray | None = None,
    sky: np.ndarray | None = None,
    skysig: np.ndarray | None = None,
    exptime: np.ndarray | None = None,
    classification: str = "",
) -> None:
    """Write one object's stamps in the ``SDSSSTAMP-CUBE`` layout (atomically).

    ``images`` (n, S, S) float32 in nanomaggies; ``mjd`` (n,); ``band`` (n,) letters ``u..z`` or
    ids 1..5. Optional per-stamp metadata arrays (n,) default to NaN (EXPTIME to 53.9 s).
    """
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise SdssDataError(f"{path}: CID {cid}: images must be (n, S, S), got {images.shape}")
    mjd = np.asarray(mjd, dtype=np.float64)
    band_letters = np.array([_band_letter(b, where=f"{path}: CID {cid}: ") for b in np.asarray(band).tolist()],
                            dtype="U1")
    if len(mjd) != n or len(band_letters) != n:
        raise SdssDataError(f"{path}: CID {cid}: {n} images but {len(mjd)} MJDs and {len(band_letters)} bands")
    s = images.shape[1]

    def _col(a, default):
        return np.full(n, default, np.float32) if a is None else np.asarray(a, dtype=np.float32)

    psf_fwhm, sky, skysig = _col(psf_fwhm, np.nan), _col(sky, np.nan), _col(skysig, np.nan)
    exptime = _col(exptime, EXPTIME_S)
    bid = np.array([BAND_ID[b] for b in band_letters], dtype=np.int16)
    order = np.lexsort((bid, mjd))
    slices = np.zeros(n, dtype=np.int32)
    prim = fits.PrimaryHDU()
    ph = prim.header
    ph["CID"] = (int(cid), "SDSS-II SN candidate id")
    ph["RA"] = (float(ra), "deg")
    ph["DEC"] = (float(dec), "deg")
    ph["CLASSIF"] = (str(classification), "master-table Classification")
    ph["NIMAGES"] = (n, "stamps in this file")
    ph["NEPOCHS"] = (int(len(np.unique(np.floor(mjd)))), "distinct nights, floor(MJD)")
    ph["PIXSCALE"] = (PIXEL_SCALE_ARCSEC, "arcsec/pixel")
    ph["STAMPSZ"] = (s, "stamp side (pixels)")
    ph["BUNIT"] = ("nanomaggy", "1 nMgy = 22.5 AB mag")
    ph["LAYOUT"] = (LAYOUT_NAME, "one cube per band + OBSLOG")
    ph["LAYOUTV"] = (LAYOUT_VERSION, "layout version")
    hdus: list = [prim]
    wcs_h = stamp_wcs_header(ra, dec, s)
    for b in BANDS:
        idx = order[band_letters[order] == b]  # this band's stamps in time order
        if len(idx) == 0:
            continue
        slices[idx] = np.arange(len(idx))
        h = wcs_h.copy()
        h["FILTER"] = (b, "SDSS filter")
        h["CID"] = int(cid)
        h["NSTAMPS"] = (len(idx), "stamps (axis 3)")
        h["MJDSTART"] = float(mjd[idx[0]])
        h["MJDEND"] = float(mjd[idx[-1]])
        h["BUNIT"] = "nanomaggy"
        hdus.append(fits.ImageHDU(np.ascontiguousarray(images[idx]), header=h, name=b))
    cols = [
        fits.Column("MJD", "D", array=mjd[order]),
        fits.Column("FILTER", "1A", array=band_letters[order]),
        fits.Column("SLICE", "J", array=slices[order]),
        fits.Column("EXPTIME", "E", unit="s", array=exptime[order]),
        fits.Column("PSF_FWHM", "E", unit="arcsec", array=psf_fwhm[order]),
        fits.Column("SKY", "E", unit="nanomaggy/arcsec2", array=sky[order]),
        fits.Column("SKYSIG", "E", unit="nanomaggy", array=skysig[order]),
    ]
    hdus.append(fits.BinTableHDU.from_columns(cols, name="OBSLOG"))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp)


@dataclass
class StampSet:
    """One object's stamps, sorted by (mjd, band id)."""

    cid: int
    ra: float
    dec: float
    images: np.ndarray  # (n, S, S) float32
    mjd: np.ndarray  # (n,) float64
    band: np.ndarray  # (n,) int8 in 1..5
    psf_fwhm: np.ndarray
    skysig: np.ndarray
    headers: dict  # band letter -> image header


def read_stamps(path: str | os.PathLike, *, expected_cid: int | None = None,
                stamp_size: int | None = None) -> StampSet:
    """Read and validate ``stamps/{CID}.fits``. Raises :class:`SdssDataError` naming the file,
    CID and HDU for a missing/corrupt file, CID mismatch, unknown FILTER, wrong stamp shape or an
    OBSLOG inconsistent with the cubes. Non-finite pixels are returned as they are (ingest decides).
    """
    path = Path(path)
    where = f"{path}"
    if not path.is_file():
        raise SdssDataError(f"{where}: stamp file not found" + (f" (CID {expected_cid})" if expected_cid else ""))
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as e:  # astropy raises OSError / ValueError / TypeError on garbage
        raise SdssDataError(f"{where}: cannot open as FITS (CID {expected_cid}): {e}") from e
    with hdul:
        try:
            ph = hdul[0].header
            cid = int(ph["CID"])
            ra, dec = float(ph["RA"]), float(ph["DEC"])
        except Exception as e:
            raise SdssDataError(f"{where}: HDU 0: missing/invalid CID/RA/DEC keyword: {e}") from e
        where = f"{path} (CID {cid})"
        if expected_cid is not None and cid != int(expected_cid):
            raise SdssDataError(f"{where}: header CID {cid} != catalog CID {expected_cid}")
        if ph.get("LAYOUT", LAYOUT_NAME) != LAYOUT_NAME:
            raise SdssDataError(f"{where}: HDU 0: LAYOUT={ph.get('LAYOUT')!r}, expected {LAYOUT_NAME!r}")
        cubes: dict[str, np.ndarray] = {}
        headers: dict[str, fits.Header] = {}
        obslog = None
        for k, hdu in enumerate(hdul[1:], start=1):
            name = hdu.name
            if name == "OBSLOG":
                try:
                    obslog = {c: np.asarray(hdu.data[c]) for c in OBSLOG_COLUMNS}
                except Exception as e:
                    raise SdssDataError(f"{where}: HDU {k} OBSLOG: missing column(s) of {OBSLOG_COLUMNS}: {e}") from e
                continue
            filt = str(hdu.header.get("FILTER", "")).strip()
            if filt not in BAND_ID:
                raise SdssDataError(f"{where}: HDU {k} ({name}): unknown FILTER {filt!r}; expected one of {BANDS}")
            if name.lower() != filt:
                raise SdssDataError(f"{where}: HDU {k}: EXTNAME {name!r} does not match FILTER {filt!r}")
            if filt in cubes:
                raise SdssDataError(f"{where}: HDU {k}: second cube for FILTER {filt!r}")
            try:
                data = hdu.data
            except Exception as e:
                raise SdssDataError(f"{where}: HDU {k} ({name}): unreadable data: {e}") from e
            if data is None or data.ndim != 3 or data.shape[1] != data.shape[2]:
                shape = None if data is None else data.shape
                raise SdssDataError(f"{where}: HDU {k} ({name}): data shape {shape}, expected (n, S, S)")
            if stamp_size is not None and data.shape[1] != stamp_size:
                raise SdssDataError(f"{where}: HDU {k} ({name}): stamp shape {data.shape[1:]}, "
                                    f"expected ({stamp_size}, {stamp_size}) (config sdss.simulate.stamp_size)")
            cubes[filt] = np.asarray(data, dtype=np.float32)
            headers[filt] = hdu.header.copy()
        if obslog is None:
            raise SdssDataError(f"{where}: no OBSLOG table HDU")
    sizes = {a.shape[1] for a in cubes.values()}
    if len(sizes) > 1:
        raise SdssDataError(f"{where}: bands have different stamp sizes {sorted(sizes)}")
    filt = np.char.strip(obslog["FILTER"].astype("U1"))
    sl = obslog["SLICE"].astype(np.int64)
    n = len(filt)
    images = np.empty((n, *(next(iter(cubes.values())).shape[1:] if cubes else (0, 0))), np.float32)
    for b in set(filt.tolist()):
        if b not in BAND_ID:
            raise SdssDataError(f"{where}: OBSLOG: unknown FILTER {b!r}")
        if b not in cubes:
            raise SdssDataError(f"{where}: OBSLOG lists FILTER {b!r} but there is no {b!r} image HDU")
    for b, cube in cubes.items():
        rows = np.flatnonzero(filt == b)
        if len(rows) != len(cube) or not np.array_equal(np.sort(sl[rows]), np.arange(len(cube))):
            raise SdssDataError(f"{where}: HDU {b!r}: {len(cube)} stamps but OBSLOG has {len(rows)} rows "
                                f"with SLICE {np.sort(sl[rows]).tolist()[:10]}...")
        images[rows] = cube[sl[rows]]
    mjd = obslog["MJD"].astype(np.float64)
    bid = np.array([BAND_ID[b] for b in filt], dtype=np.int8)
    if not np.all(np.isfinite(mjd)):
        raise SdssDataError(f"{where}: OBSLOG: non-finite MJD at rows {np.flatnonzero(~np.isfinite(mjd))[:10].tolist()}")
    order = np.lexsort((bid, mjd))
    return StampSet(cid=cid, ra=ra, dec=dec, images=images[order], mjd=mjd[order], band=bid[order],
                    psf_fwhm=obslog["PSF_FWHM"].astype(np.float32)[order],
                    skysig=obslog["SKYSIG"].astype(np.float32)[order], headers=headers)


def stamp_wcs(header: fits.Header) -> WCS:
    """The celestial WCS of a band cube's header."""
    return WCS(header, naxis=2)


def _band_letter(b, where: str = "") -> str:
    if isinstance(b, (int, np.integer)) and 1 <= int(b) <= 5:
        return BANDS[int(b) - 1]
    s = str(b).strip()
    if s in BAND_ID:
        return s
    raise SdssDataError(f"{where}unknown band/FILTER {b!r}; expected one of {BANDS} or ids 1..5")


# ----------------------------------------------------------------------------- catalog

def write_catalog(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``catalog.csv`` (columns of :data:`CATALOG_COLUMNS`; missing ones filled with NaN)."""
    out = df.copy()
    for c in CATALOG_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    out = out[list(CATALOG_COLUMNS)].sort_values("CID")
    for c in ("CID", "Nepochs", "objIDHost"):
        out[c] = pd.to_numeric(out[c]).astype("Int64")
    write_csv(out, path, float_format="%.10g")


def read_catalog(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate ``catalog.csv``; (re)derives ``label`` and ``spec_confirmed`` from
    ``Classification`` and checks them against the file's columns when present."""
    path = Path(path)
    if not path.is_file():
        raise SdssDataError(f"{path}: catalog not found")
    try:
        df = pd.read_csv(path, dtype={"IAUName": str, "Classification": str, "label": str, "SIM_TYPE": str},
                         keep_default_na=True)
    except Exception as e:
        raise SdssDataError(f"{path}: cannot parse catalog CSV: {e}") from e
    missing = [c for c in REQUIRED_CATALOG_COLUMNS if c not in df.columns]
    if missing:
        raise SdssDataError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    if df["CID"].isna().any() or not np.all(np.mod(df["CID"].to_numpy(float), 1) == 0):
        bad = np.flatnonzero(df["CID"].isna().to_numpy() | (np.mod(df["CID"].to_numpy(float), 1) != 0))
        raise SdssDataError(f"{path}: non-integer CID at data row(s) {(bad + 2).tolist()[:10]} (line numbers)")
    df["CID"] = df["CID"].astype(np.int64)
    dup = df["CID"][df["CID"].duplicated()].unique()
    if len(dup):
        raise SdssDataError(f"{path}: duplicated CID(s) {dup[:10].tolist()}")
    for c in ("RA", "DEC"):
        bad = ~np.isfinite(pd.to_numeric(df[c], errors="coerce").to_numpy(float))
        if bad.any():
            raise SdssDataError(f"{path}: non-finite {c} for CID(s) {df['CID'][bad].tolist()[:10]}")
    labels = [label_of(c, where=f"{path}: CID {cid}: ") for cid, c in zip(df["CID"], df["Classification"].fillna(""))]
    if "label" in df.columns:
        given = df["label"].fillna("").astype(str).to_numpy()
        bad = np.flatnonzero(given != np.array(labels, dtype=object))
        if len(bad):
            i = bad[0]
            raise SdssDataError(f"{path}: CID {df['CID'].iloc[i]}: label {given[i]!r} inconsistent with "
                                f"Classification {df['Classification'].iloc[i]!r} (-> {labels[i]!r})")
    df["label"] = labels
    df["spec_confirmed"] = [lab in SPEC_CONFIRMED_LABELS for lab in labels]
    for c in CATALOG_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    assert set(df["label"]) <= set(LABELS)
    return df.sort_values("CID").reset_index(drop=True)


# ----------------------------------------------------------------------------- light curves

def write_lightcurves(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``lightcurves.csv`` (CID, MJD, FILTER, FLUX, FLUXERR; uJy), sorted by (CID, MJD, band)."""
    out = df[list(LIGHTCURVE_COLUMNS)].copy()
    out["_b"] = out["FILTER"].map(BAND_ID)
    out = out.sort_values(["CID", "MJD", "_b"], kind="stable").drop(columns="_b")
    write_csv(out, path, float_format="%.6f")


def read_lightcurves(path: str | os.PathLike, cids: np.ndarray | None = None) -> pd.DataFrame:
    """Read and validate ``lightcurves.csv``; returns ingest columns (CID, mjd, band 1..5 int8,
    flux, flux_err) sorted by (CID, mjd, band). ``cids``: the catalog's CIDs (unknown CIDs raise)."""
    path = Path(path)
    if not path.is_file():
        raise SdssDataError(f"{path}: light-curve file not found")
    df = pd.read_csv(path, dtype={"FILTER": str})
    missing = [c for c in LIGHTCURVE_COLUMNS if c not in df.columns]
    if missing:
        raise SdssDataError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    band = df["FILTER"].astype(str).str.strip().map(BAND_ID)
    if band.isna().any():
        i = int(np.flatnonzero(band.isna().to_numpy())[0])
        raise SdssDataError(f"{path}: row {i + 2}: unknown FILTER {df['FILTER'].iloc[i]!r} (CID {df['CID'].iloc[i]})")
    for c in ("MJD", "FLUX", "FLUXERR"):
        bad = ~np.isfinite(pd.to_numeric(df[c], errors="coerce").to_numpy(float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SdssDataError(f"{path}: row {i + 2}: non-finite {c} (CID {df['CID'].iloc[i]})")
    if cids is not None:
        unknown = np.setdiff1d(df["CID"].unique(), np.asarray(cids))
        if len(unknown):
            raise SdssDataError(f"{path}: CID(s) {unknown[:10].tolist()} not in the catalog")
    out = pd.DataFrame({
        "CID": df["CID"].astype(np.int64),
        "mjd": df["MJD"].astype(np.float64),
        "band": band.astype(np.int8),
        "flux": df["FLUX"].astype(np.float64),
        "flux_err": df["FLUXERR"].astype(np.float64),
    })
    return out.sort_values(["CID", "mjd", "band"], kind="stable").reset_index(drop=True)
