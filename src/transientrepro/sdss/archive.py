"""The real SDSS-II SN survey data: master table, corrected frames on the SDSS Science Archive
Server (SAS), which frames cover an object, and 32x32 stamps cut from them.

Sources (public, no account needed):

* Master table of the SDSS-II SN data release (Sako et al. 2018, PASP 130, 064002):
  ``https://data.sdss.org/sas/dr10/boss/papers/supernova/master_data.txt`` (mirror:
  ``https://portal.nersc.gov/project/dessn/SDSS/dataRelease/master_data.txt``).  A CDS/MRT
  fixed-width table with a byte-by-byte description (CID, RA, DEC, Nsearchepoch, IAUName,
  Classification, ..., zspecHelio, ...), one row per candidate (10,258 rows).
* Corrected frames (data model ``BOSS_PHOTOOBJ/frames/RERUN/RUN/CAMCOL/frame``):
  ``https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/{run}/{camcol}/frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2``;
  HDU0 is a 2048x1489 float32 image in nanomaggies with a TAN WCS (CD matrix) and the keywords
  ``TAI`` (seconds since MJD 0 = 1858-11-17, TAI, at the reading of row 0), ``DATE-OBS``/``TAIHMS``,
  ``RUN``, ``CAMCOL``, ``FRAME`` (the field number) and ``FILTER``.
* Which fields exist where: ``window_flist.fits`` of the photometric "resolve"
  (``https://data.sdss.org/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits``; HDU1 table with RUN, RERUN,
  CAMCOL, FIELD, RA, DEC of the field centre, SCORE, ...).

Which frames to fetch is decided before any download by :mod:`.plan` (dates, seasons, the frame
geometry, overlapping fields); :mod:`.chunks` streams them in parallel chunk jobs.  A frame's own WCS
then decides each stamp: the object must fall inside the image with the whole stamp on it
(``Cutout2D(mode="strict")``); otherwise that (object, frame) pair gives no stamp.

Checksums: the SAS publishes no per-file checksum for frames or for ``master_data.txt`` that we
could find.  A frame is therefore accepted only if (1) the HTTP byte count equals Content-Length,
(2) the bzip2 stream decompresses to its end-of-stream marker, (3) it parses as FITS whose HDU0 is a
2-D image of the configured shape (2048x1489) holding that many values, with the WCS and time
keywords present, and (4) any FITS ``CHECKSUM``/``DATASUM`` present verify.  The master table must
parse as the MRT table with the required columns and unique CIDs (and, at full scale, 10,258 rows).
"""
from __future__ import annotations

import bz2
import io
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

log = logging.getLogger("transientrepro.sdss.archive")

SN_RELEASE_URL = "https://data.sdss.org/sas/dr10/boss/papers/supernova/"
SN_RELEASE_MIRROR_URL = "https://portal.nersc.gov/project/dessn/SDSS/dataRelease/"
MASTER_TABLE_NAME = "master_data.txt"
MASTER_TABLE_ROWS = 10258  # Sako et al. 2018: 10,258 variable and transient sources
FRAME_URL = ("https://data.sdss.org/sas/dr17/eboss/photoObj/frames/{rerun}/{run}/{camcol}/"
             "frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2")
WINDOW_FLIST_URL = "https://data.sdss.org/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits"
FRAME_SHAPE = (1489, 2048)  # (NAXIS2, NAXIS1)
PIXEL_SCALE_ARCSEC = 0.396
FIELD_HALF_DIAGONAL_DEG = 0.5 * math.hypot(2048, 1489) * PIXEL_SCALE_ARCSEC / 3600.0
BANDS = ("u", "g", "r", "i", "z")
MASTER_REQUIRED = ("CID", "RA", "DEC", "Classification")


class ArchiveError(ValueError):
    """An SDSS archive file is missing, incomplete or not in the documented format."""


# --- master table ---------------------------------------------------------------------------------
def read_master_table(path: str | os.PathLike, expected_rows: int | None = None) -> pd.DataFrame:
    """Read ``master_data.txt`` (CDS/MRT fixed-width) into a DataFrame; validate it."""
    from astropy.table import Table

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Table.read(path, format="ascii.cds")
    except Exception as exc:  # noqa: BLE001 (astropy raises many types for bad input)
        raise ArchiveError(f"{path}: not a readable CDS/MRT master table ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in MASTER_REQUIRED if c not in table.colnames]
    if missing:
        raise ArchiveError(f"{path}: master table lacks column(s) {missing}; has {table.colnames[:12]}...")
    df = table.to_pandas()
    if df["CID"].isna().any():
        raise ArchiveError(f"{path}: {int(df['CID'].isna().sum())} row(s) without CID")
    df["CID"] = df["CID"].astype(np.int64)
    dup = df["CID"][df["CID"].duplicated()]
    if len(dup):
        raise ArchiveError(f"{path}: duplicated CID(s) {dup.head(5).tolist()}")
    bad = df[~np.isfinite(df["RA"].astype(float)) | ~np.isfinite(df["DEC"].astype(float))]
    if len(bad):
        raise ArchiveError(f"{path}: CID {int(bad['CID'].iloc[0])} has no RA/DEC")
    if expected_rows is not None and len(df) != expected_rows:
        raise ArchiveError(f"{path}: {len(df)} rows, expected {expected_rows} (incomplete or wrong file?)")
    df["Classification"] = df["Classification"].fillna("").astype(str).str.strip()
    return df


def validate_master_table(path: Path, expected_rows: int | None = None) -> None:
    read_master_table(path, expected_rows=expected_rows)


# --- field lists ------------------------------------------------------------------------------------
WINDOW_FLIST_OPTIONAL = ("MJD", "SCORE", "NODE", "INCL", "MU_START", "MU_END", "NU_START", "NU_END")


def read_window_flist(path: str | os.PathLike) -> pd.DataFrame:
    """RUN, RERUN, CAMCOL, FIELD, RA, DEC of ``window_flist.fits`` HDU1, plus where present MJD, SCORE,
    the great-circle geometry (NODE, INCL, MU_START, MU_END, NU_START, NU_END) and TAI[5] (as columns
    ``tai_u`` .. ``tai_z``); column names lower-case."""
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path, memmap=True) as hdul:  # the real file is large: read only the needed columns
            data = hdul[1].data
            names = [n.upper() for n in data.columns.names]
            need = ["RUN", "RERUN", "CAMCOL", "FIELD", "RA", "DEC"]
            missing = [n for n in need if n not in names]
            if missing:
                raise ArchiveError(f"{path}: window_flist HDU1 lacks column(s) {missing}")
            cols = need + [c for c in WINDOW_FLIST_OPTIONAL if c in names]
            out = {}
            for c in cols:
                v = np.array(data[c])  # a copy, independent of the memory map
                out[c.lower()] = v.astype(str) if v.dtype.kind in "SU" else v.astype(v.dtype.newbyteorder("="))
            if "TAI" in names:
                tai = np.array(data["TAI"], dtype=float)
                if tai.ndim == 2 and tai.shape[1] == len(BANDS):
                    for i, b in enumerate(BANDS):
                        out[f"tai_{b}"] = tai[:, i]
    except ArchiveError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ArchiveError(f"{path}: cannot read window_flist ({type(exc).__name__}: {exc})") from exc
    df = pd.DataFrame(out)
    df["rerun"] = df["rerun"].astype(str).str.strip()
    return df


def read_frame_list(path: str | os.PathLike) -> pd.DataFrame:
    """A user-supplied CSV of fields: columns run, camcol, field [, rerun] [, cid]."""
    path = Path(path)
    df = pd.read_csv(path)
    df.columns = [c.strip().lower() for c in df.columns]
    missing = {"run", "camcol", "field"} - set(df.columns)
    if missing:
        raise ArchiveError(f"{path}: frame list lacks column(s) {sorted(missing)}; has {list(df.columns)}")
    if "rerun" not in df.columns:
        df["rerun"] = "301"
    df["rerun"] = df["rerun"].astype(str)
    for c in ("run", "camcol", "field"):
        df[c] = df[c].astype(np.int64)
    bad = df[(df.camcol < 1) | (df.camcol > 6)]
    if len(bad):
        raise ArchiveError(f"{path}: row {int(bad.index[0]) + 2}: camcol {int(bad.camcol.iloc[0])} not in 1..6")
    return df


def frame_url(run: int, camcol: int, field: int, band: str, *, rerun: str | int = 301,
              template: str = FRAME_URL) -> str:
    if band not in BANDS:
        raise ValueError(f"band {band!r} not in {BANDS}")
    return template.format(rerun=rerun, run=int(run), camcol=int(camcol), field=int(field), band=band)


def frame_filename(run: int, camcol: int, field: int, band: str) -> str:
    return f"frame-{band}-{int(run):06d}-{int(camcol)}-{int(field):04d}.fits.bz2"


# --- frames -------------------------------------------------------------------------------------
@dataclass
class Frame:
    """HDU0 of a corrected frame: image (nanomaggies), header, WCS, MJD and filter."""

    path: Path
    data: np.ndarray
    header: Any
    wcs: Any
    mjd: float
    band: str
    run: int
    camcol: int
    field: int


def frame_mjd(header: Mapping[str, Any], where: str = "frame") -> float:
    """MJD (TAI) of a frame: ``TAI`` / 86400 (TAI counts seconds from MJD 0), else DATE-OBS + TAIHMS."""
    tai = header.get("TAI")
    if tai is not None:
        try:
            mjd = float(tai) / 86400.0
        except (TypeError, ValueError):
            mjd = float("nan")
        if 40000.0 < mjd < 70000.0:
            return mjd
    date, hms = header.get("DATE-OBS"), header.get("TAIHMS")
    if date and hms:
        from astropy.time import Time

        date = str(date).strip()
        if "/" in date:  # old 'DD/MM/YY' form
            d, m, y = date.split("/")
            date = f"{1900 + int(y) if int(y) > 50 else 2000 + int(y)}-{m}-{d}"
        return float(Time(f"{date}T{str(hms).strip()}", format="isot", scale="tai").mjd)
    raise ArchiveError(f"{where}: no usable TAI or DATE-OBS/TAIHMS keyword for the observation time")


def _decompress_bz2(path: Path) -> bytes:
    raw = path.read_bytes()
    dec = bz2.BZ2Decompressor()
    out = [dec.decompress(raw)]
    while dec.eof and dec.unused_data:  # multi-stream bz2
        rest = dec.unused_data
        dec = bz2.BZ2Decompressor()
        out.append(dec.decompress(rest))
    if not dec.eof:
        raise ArchiveError(f"{path}: bzip2 stream is incomplete (no end-of-stream marker; truncated download?)")
    return b"".join(out)


def read_frame(path: str | os.PathLike, *, shape: Sequence[int] | None = FRAME_SHAPE,
               band: str | None = None) -> Frame:
    """Open and validate a corrected frame (``.fits.bz2`` or ``.fits``); raise :class:`ArchiveError`."""
    from astropy.io import fits
    from astropy.wcs import WCS

    path = Path(path)
    blob = _decompress_bz2(path) if path.suffix == ".bz2" else path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(io.BytesIO(blob), memmap=False, checksum=True) as hdul:
                hdr = hdul[0].header
                data = hdul[0].data
                data = None if data is None else np.asarray(data, dtype=np.float32)
                hdr = hdr.copy()
    except Exception as exc:  # noqa: BLE001
        raise ArchiveError(f"{path}: not a valid FITS file ({type(exc).__name__}: {exc})") from exc
    if hdr.get("NAXIS") != 2 or data is None or data.ndim != 2:
        raise ArchiveError(f"{path}: HDU0 is not a 2-D image (NAXIS={hdr.get('NAXIS')})")
    naxis = (int(hdr["NAXIS2"]), int(hdr["NAXIS1"]))
    if data.shape != naxis:
        raise ArchiveError(f"{path}: image has shape {data.shape}, header NAXIS2/NAXIS1 say {naxis}")
    if shape is not None and tuple(naxis) != tuple(shape):
        raise ArchiveError(f"{path}: image shape {naxis} (NAXIS2, NAXIS1), expected {tuple(shape)}")
    for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2"):
        if key not in hdr:
            raise ArchiveError(f"{path}: WCS keyword {key} missing from HDU0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(hdr, naxis=2)
    hdr_band = str(hdr.get("FILTER", "")).strip()
    name_band = path.name.split("-")[1] if path.name.startswith("frame-") else None
    fband = hdr_band or name_band or band
    if fband not in BANDS:
        raise ArchiveError(f"{path}: filter {fband!r} (FILTER keyword / file name) not one of {BANDS}")
    if band is not None and fband != band:
        raise ArchiveError(f"{path}: FILTER is {fband!r} but the {band!r} frame was requested")
    parts = path.name.split(".")[0].split("-")
    try:
        run = int(hdr.get("RUN", parts[2]))
        camcol = int(hdr.get("CAMCOL", parts[3]))
        fld = int(hdr.get("FRAME", hdr.get("FIELD", parts[4])))
    except (IndexError, ValueError) as exc:
        raise ArchiveError(f"{path}: cannot tell RUN/CAMCOL/FRAME from header or file name") from exc
    return Frame(path=path, data=data, header=hdr, wcs=wcs, mjd=frame_mjd(hdr, where=str(path)), band=fband,
                 run=run, camcol=camcol, field=fld)


def validate_frame(path: Path, shape: Sequence[int] | None = FRAME_SHAPE) -> None:
    """Download-time check (see the module docstring); raises :class:`ArchiveError`."""
    read_frame(path, shape=shape)


# --- stamps -------------------------------------------------------------------------------------
@dataclass
class Stamp:
    cid: int
    mjd: float
    band: str
    image: np.ndarray  # (size, size) float32, nanomaggies
    header: Any  # cutout WCS + provenance keywords
    run: int
    camcol: int
    field: int
    x: float  # object position in the frame (0-based pixels)
    y: float


def cut_stamp(frame: Frame, cid: int, ra: float, dec: float, size: int = 32) -> Stamp | None:
    """A ``size`` x ``size`` stamp of ``frame`` on the stamp grid of :func:`.fitsio.stamp_wcs_header`.

    The object's pixel position comes from the frame WCS; ``Cutout2D(mode="strict")`` decides
    coverage (None if the stamp does not lie wholly on the frame).  SDSS frames are rotated ~90
    degrees from north-up and a cutout is off-centre by up to half a pixel, while the
    ``SDSSSTAMP-CUBE`` layout stores one north-up WCS centred on the object per band cube; so the
    pixels are resampled (bilinear, ``scipy.ndimage.map_coordinates``) from the frame onto that
    stamp grid (0.396"/pix, the native scale), which makes that WCS exact for every epoch.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D
    from astropy.nddata.utils import NoOverlapError, PartialOverlapError
    from astropy.wcs import WCS
    import astropy.units as u
    from scipy.ndimage import map_coordinates

    from .fitsio import stamp_wcs_header

    pos = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
    try:
        Cutout2D(frame.data, pos, (size + 2, size + 2), wcs=frame.wcs, mode="strict", copy=False)
    except (NoOverlapError, PartialOverlapError, ValueError):
        return None
    x, y = frame.wcs.world_to_pixel_values(ra, dec)
    hdr = stamp_wcs_header(ra, dec, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sw = WCS(hdr, naxis=2)
    yy, xx = np.mgrid[0:size, 0:size]
    sra, sdec = sw.pixel_to_world_values(xx.astype(float), yy.astype(float))
    fx, fy = frame.wcs.world_to_pixel_values(sra, sdec)
    ny, nx = frame.data.shape
    if fx.min() < 0 or fy.min() < 0 or fx.max() > nx - 1 or fy.max() > ny - 1:
        return None
    img = map_coordinates(frame.data, [fy, fx], order=1, mode="constant", cval=np.nan).astype(np.float32)
    hdr["CID"] = (int(cid), "SDSS-II SN candidate ID")
    hdr["MJD"] = (float(frame.mjd), "MJD (TAI) of the frame, TAI/86400")
    hdr["FILTER"] = (frame.band, "SDSS filter")
    hdr["RUN"], hdr["CAMCOL"], hdr["FIELD"] = int(frame.run), int(frame.camcol), int(frame.field)
    hdr["BUNIT"] = "nanomaggy"
    return Stamp(cid=int(cid), mjd=float(frame.mjd), band=frame.band, image=img, header=hdr, run=frame.run,
                 camcol=frame.camcol, field=frame.field, x=float(x), y=float(y))


# --- SMP light curves (SMP_Data.tar.gz of the data release) -------------------------------------
SMP_ARCHIVE_NAME = "SMP_Data.tar.gz"


def parse_smp_file(text: str, where: str = "SMP file") -> pd.DataFrame:
    """Parse one ``SMP_{CID:06d}.dat`` of the release: '#' comment lines, the last of which names the
    whitespace-separated columns (as read by sndata); needs MJD, FILT (0..4 = ugriz), FLUX, FLUXERR
    (microjansky)."""
    comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not comments:
        raise ArchiveError(f"{where}: no '#' header line naming the columns")
    names = comments[-1].lstrip().lstrip("#").split()
    need = ["MJD", "FILT", "FLUX", "FLUXERR"]
    missing = [n for n in need if n not in names]
    if missing:
        raise ArchiveError(f"{where}: column(s) {missing} missing from header {names}")
    for i, r in enumerate(rows):
        if len(r) != len(names):
            raise ArchiveError(f"{where}: data row {i + 1} has {len(r)} fields, header names {len(names)}")
    df = pd.DataFrame(rows, columns=names)
    filt = pd.to_numeric(df["FILT"], errors="coerce")
    if filt.isna().any() or not filt.isin(range(5)).all():
        i = int(np.flatnonzero(~filt.isin(range(5)).to_numpy())[0])
        raise ArchiveError(f"{where}: data row {i + 1}: FILT {df['FILT'].iloc[i]!r} not in 0..4 (ugriz)")
    out = pd.DataFrame({"MJD": pd.to_numeric(df["MJD"], errors="coerce"),
                        "FILTER": [BANDS[int(f)] for f in filt],
                        "FLUX": pd.to_numeric(df["FLUX"], errors="coerce"),
                        "FLUXERR": pd.to_numeric(df["FLUXERR"], errors="coerce")})
    bad = ~np.isfinite(out[["MJD", "FLUX", "FLUXERR"]].to_numpy(float)).all(axis=1)
    if bad.any():
        log.warning("%s: dropping %d row(s) with non-finite MJD/FLUX/FLUXERR", where, int(bad.sum()))
    return out[~bad].reset_index(drop=True)


def read_smp_archive(path: str | os.PathLike, cids: Iterable[int] | None = None) -> pd.DataFrame:
    """CID, MJD, FILTER, FLUX, FLUXERR from every ``SMP_{CID:06d}.dat`` in ``SMP_Data.tar.gz``."""
    import re
    import tarfile

    path = Path(path)
    keep = None if cids is None else {int(c) for c in cids}
    frames = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                m = re.search(r"SMP_(\d+)\.dat$", member.name)
                if not m or not member.isfile():
                    continue
                cid = int(m.group(1))
                if keep is not None and cid not in keep:
                    continue
                text = tar.extractfile(member).read().decode("ascii", errors="replace")
                df = parse_smp_file(text, where=f"{path}:{member.name}")
                df.insert(0, "CID", cid)
                frames.append(df)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path}: not a complete .tar.gz archive ({type(exc).__name__}: {exc})") from exc
    if not frames:
        raise ArchiveError(f"{path}: no SMP_<CID>.dat light curve" + (" for the selected CIDs" if keep else ""))
    return pd.concat(frames, ignore_index=True)


def validate_tar_gz(path: Path) -> None:
    """Download-time check: the gzip stream and tar structure read to the end."""
    import tarfile

    try:
        with tarfile.open(path, "r:gz") as tar:
            for _ in tar:
                pass
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path}: incomplete or corrupt .tar.gz ({type(exc).__name__}: {exc})") from exc


# --- writing the SDSSSTAMP-CUBE layout ------------------------------------------------------------
MASTER_TO_CATALOG = {  # master_data.txt column -> catalog.csv column (fitsio.CATALOG_COLUMNS)
    "CID": "CID", "IAUName": "IAUName", "RA": "RA", "DEC": "DEC", "Classification": "Classification",
    "zspecHelio": "zspecHelio", "zspecerrHelio": "zspecerrHelio", "zphothost": "zphotHost",
    "zphoterrhost": "zphoterrHost", "zCMB": "zCMB", "zerrCMB": "zerrCMB", "MJDatPeakrmag": "PeakMJD",
    "objIDHost": "objIDHost", "separationhost": "DistHost", "deredrhost": "rmagHost",
}


def select_objects(master: pd.DataFrame, *, classifications: Sequence[str] | None = None,
                   max_objects: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Objects with a known ``Classification`` (optionally only some), at most ``max_objects``
    (a seeded, class-stratified-by-proportion random subset; all when None)."""
    from .classes import CLASSIFICATION_TO_LABEL

    known = master["Classification"].isin(list(CLASSIFICATION_TO_LABEL))
    if (~known).any():
        log.warning("master table: %d object(s) with an unknown/empty Classification skipped (e.g. CID %s)",
                    int((~known).sum()), master.loc[~known, "CID"].head(3).tolist())
    sel = master[known]
    if classifications:
        unknown = sorted(set(classifications) - set(CLASSIFICATION_TO_LABEL))
        if unknown:
            raise ValueError(f"sdss.archive.classifications: unknown value(s) {unknown}")
        sel = sel[sel["Classification"].isin(list(classifications))]
    if max_objects is not None and len(sel) > max_objects:
        sel = sel.sample(n=int(max_objects), random_state=int(seed))
    return sel.sort_values("CID").reset_index(drop=True)


def write_sdss_layout_streaming(out_dir: str | os.PathLike, objects: pd.DataFrame, per_object: Iterable,
                                lightcurves: pd.DataFrame | None, *, stamp_size: int = 32,
                                progress: bool = False) -> dict[str, int]:
    """Write ``catalog.csv``, ``stamps/{CID}.fits`` and ``lightcurves.csv`` (the ``SDSSSTAMP-CUBE``
    layout, through :mod:`.fitsio`) from ``per_object``: (cid, images (n, S, S), mjd (n,), band (n,)),
    one object at a time, stamps sorted by (mjd, band).  Objects without any stamp are left out of
    the catalog (counted in the returned summary)."""
    from .classes import is_spec_confirmed, label_of
    from .fitsio import LIGHTCURVE_COLUMNS, stamp_path, write_catalog, write_lightcurves, write_stamps

    out_dir = Path(out_dir)
    obj = objects.drop_duplicates("CID").set_index("CID", drop=False)
    rows, n_stamps = [], 0
    for cid, images, mjd, band in tqdm(per_object, desc="SDSS stamp files", mininterval=10.0, file=sys.stderr,
                                       disable=not progress):
        if cid not in obj.index:
            raise ArchiveError(f"stamps for CID {cid}, which is not among the selected objects")
        o = obj.loc[cid]
        images = np.asarray(images, dtype=np.float32)
        if images.shape[1:] != (stamp_size, stamp_size):
            raise ArchiveError(f"CID {cid}: stamps of shape {images.shape[1:]}, expected {stamp_size}x{stamp_size}")
        mjd = np.asarray(mjd, dtype=float)
        write_stamps(stamp_path(out_dir / "stamps", cid), cid=int(cid), ra=float(o["RA"]), dec=float(o["DEC"]),
                     images=images, mjd=mjd, band=np.asarray(band), classification=str(o["Classification"]))
        row = {dst: o[src] for src, dst in MASTER_TO_CATALOG.items() if src in o.index}
        label = label_of(o["Classification"], where=f"CID {cid}: ")
        row.update(Nepochs=int(len(np.unique(np.floor(mjd)))), label=label,
                   spec_confirmed=is_spec_confirmed(label), SIM_TYPE="")
        rows.append(row)
        n_stamps += len(images)
    catalog = pd.DataFrame(rows)
    if catalog.empty:
        raise ArchiveError("no object has any stamp: nothing to write (check the frame list / footprint)")
    catalog = catalog.sort_values("CID", kind="mergesort").reset_index(drop=True)
    write_catalog(catalog, out_dir / "catalog.csv")
    if lightcurves is None:
        lightcurves = pd.DataFrame(columns=list(LIGHTCURVE_COLUMNS))
    lc = lightcurves[lightcurves["CID"].isin(catalog["CID"])]
    write_lightcurves(lc, out_dir / "lightcurves.csv")
    return {"objects_selected": int(len(objects)), "objects_written": int(len(catalog)),
            "objects_without_stamps": int(len(objects) - len(catalog)), "stamps": int(n_stamps),
            "lightcurve_points": int(len(lc))}


def write_sdss_layout(out_dir: str | os.PathLike, objects: pd.DataFrame, stamps: Sequence[Stamp],
                      lightcurves: pd.DataFrame | None, *, stamp_size: int = 32) -> dict[str, int]:
    """:func:`write_sdss_layout_streaming` from a list of :class:`Stamp` (small data sets)."""
    by_cid: dict[int, list[Stamp]] = {}
    for st in sorted(stamps, key=lambda st: (st.cid, st.mjd, BANDS.index(st.band))):
        by_cid.setdefault(st.cid, []).append(st)
    per_object = ((cid, np.stack([st.image for st in sts]), np.array([st.mjd for st in sts]),
                   np.array([st.band for st in sts])) for cid, sts in by_cid.items())
    return write_sdss_layout_streaming(out_dir, objects, per_object, lightcurves, stamp_size=stamp_size)


# --- the whole SDSS download in one process (small runs, tests): plan -> one chunk -> gather ----------
def frame_fetcher(cfg: Mapping[str, Any]):
    """``fetch(url, dest)`` for the chunk jobs: a verified, resumable download of one frame (``cfg`` is
    ``config['sdss']['archive']``)."""
    from transientrepro.download import download

    shape = tuple(cfg["frame_shape"]) if cfg.get("frame_shape") else None

    def fetch(url: str, dest: Path) -> None:
        download(url, dest, timeout=float(cfg.get("timeout_s", 120)), retries=int(cfg.get("retries", 3)),
                 backoff=float(cfg.get("backoff_s", 2.0)), progress=False, keep_partial=True,
                 validate=lambda tmp: validate_frame_file(tmp, dest.name, shape))

    return fetch


def download_sdss_dataset(out_dir: str | os.PathLike, *, master_path: str | os.PathLike,
                          smp_path: str | os.PathLike | None, window_flist: str | os.PathLike | None,
                          frame_list: str | os.PathLike | None, frame_dir: str | os.PathLike,
                          cfg: Mapping[str, Any], seed: int = 0, run_list: str | os.PathLike | None = None,
                          progress: bool = True) -> dict[str, Any]:
    """Plan (:mod:`.plan`), one chunk job over the whole plan (:mod:`.chunks`) and the gather, in this
    process; writes the ``SDSSSTAMP-CUBE`` layout into ``out_dir``.  The workflow runs the same three
    steps as separate rules (``sdss_plan``, ``sdss_frames_chunk`` x n, ``sdss_frames_gather``)."""
    from .chunks import gather_chunks, run_chunk
    from .plan import make_plan

    master = read_master_table(master_path, expected_rows=cfg.get("master_rows"))
    objects = select_objects(master, classifications=cfg.get("classifications") or None,
                             max_objects=cfg.get("max_objects"), seed=seed)
    plan, plan_summary = make_plan(objects, dict(cfg, n_chunks=1), window_flist=window_flist, frame_list=frame_list,
                                   run_list=run_list)
    log.info("%d objects selected, %d frames (bands %s) to read", len(objects), plan_summary["frames"],
             "".join(cfg.get("bands", BANDS)))
    chunk_dir = Path(frame_dir).parent / "chunks" / "chunk_0"
    run_chunk(plan, objects, chunk_dir, frame_dir, fetch=frame_fetcher(cfg), stamp_size=int(cfg.get("stamp_size", 32)),
              shape=tuple(cfg["frame_shape"]) if cfg.get("frame_shape") else None, mjd_range=cfg.get("mjd_range"),
              seasons=cfg.get("seasons") or None, keep_frames=bool(cfg.get("keep_frames", False)),
              max_bad_fraction=float(cfg.get("max_bad_fraction", 0.2)),
              frame_url_template=cfg.get("frame_url", FRAME_URL), progress=progress, chunk=0)
    lcs = read_smp_archive(smp_path, cids=objects["CID"]) if smp_path else None
    summary = gather_chunks([chunk_dir], objects, out_dir, lightcurves=lcs, stamp_size=int(cfg.get("stamp_size", 32)),
                            progress=progress)
    summary.update(frames=int(plan_summary["frames"]), object_field_pairs=int(plan_summary["object_field_pairs"]))
    return summary


def validate_frame_file(tmp: Path, name: str, shape: Sequence[int] | None) -> None:
    """:func:`read_frame` on a temporary download whose final name is ``name`` (the filter and
    run/camcol/field are read from that name when the header lacks them)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp.parent) as d:
        probe = Path(d) / name
        try:
            os.link(tmp, probe)
        except OSError:
            shutil.copyfile(tmp, probe)
        read_frame(probe, shape=shape)
