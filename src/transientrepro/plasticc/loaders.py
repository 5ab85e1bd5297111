"""Validated readers for PLAsTiCC CSVs: the Zenodo 2539456 layout and the Kaggle variant.

Both are normalised to the Zenodo column names:

- light curves: object_id int64, mjd float64, passband int8 (0-5 = ugrizy), flux float64,
  flux_err float64, detected_bool int8 (Kaggle calls it ``detected``);
- metadata: ``METADATA_COLUMNS`` (Kaggle ``ddf`` -> ``ddf_bool``; ``gal_l``/``gal_b`` dropped; the
  ``true_*`` and ``tflux_*`` columns the Kaggle file lacks are NaN, and ``true_target`` = ``target``).

Every problem raises ``PlasticcFormatError`` (a ``ValueError``) naming the file, the object_id where
known, and the row as "data row N" (1-based, header excluded; = CSV line N+1).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from transientrepro.plasticc.simulate import LIGHTCURVE_COLUMNS, METADATA_COLUMNS

log = logging.getLogger(__name__)

#: columns a metadata file must have (after renaming Kaggle names); the rest become NaN if absent.
REQUIRED_METADATA = ["object_id", "ra", "decl", "ddf_bool", "hostgal_photoz", "hostgal_photoz_err", "distmod",
                     "mwebv"]
KAGGLE_RENAMES_META = {"ddf": "ddf_bool"}
KAGGLE_RENAMES_LC = {"detected": "detected_bool"}
LC_DTYPES = {"object_id": np.int64, "mjd": np.float64, "passband": np.int8, "flux": np.float64,
             "flux_err": np.float64, "detected_bool": np.int8}
DEFAULT_CHUNKSIZE = 2_000_000


class PlasticcFormatError(ValueError):
    """Malformed PLAsTiCC input; the message names file, object_id and data row."""


def _fmt(v: object) -> str:
    """A value as it would read in the CSV (9.0 -> 9, numpy scalars unwrapped)."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and np.isfinite(v) and v == round(v):
        return str(int(v))
    return str(v) if not isinstance(v, str) else repr(v)


def _where(path: str | Path, row0: int | None = None, object_id: object = None) -> str:
    parts = [str(path)]
    if object_id is not None:
        parts.append(f"object_id {_fmt(object_id)}")
    if row0 is not None:
        parts.append(f"data row {row0 + 1} (CSV line {row0 + 2})")
    return ", ".join(parts)


def _numeric(df: pd.DataFrame, cols: Iterable[str], path: str | Path, offset: int, allow_nan: Iterable[str] = ()
             ) -> pd.DataFrame:
    """Coerce ``cols`` to numbers; a value that is present but not a number is an error."""
    allow_nan = set(allow_nan)
    for c in cols:
        if c not in df.columns:
            continue
        raw = df[c]
        if pd.api.types.is_numeric_dtype(raw):
            num = raw.astype(np.float64)
        else:
            num = pd.to_numeric(raw, errors="coerce")
            txt = raw.astype("string").str.strip().str.lower()
            bad = num.isna() & raw.notna() & ~txt.isin(["nan", ""])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                oid = df["object_id"].iloc[i] if "object_id" in df.columns else None
                raise PlasticcFormatError(
                    f"{_where(path, offset + i, oid)}: column {c!r} has non-numeric value {raw.iloc[i]!r}")
        if c not in allow_nan:
            nonfinite = ~np.isfinite(num.to_numpy(dtype=np.float64))
            if nonfinite.any():
                i = int(np.flatnonzero(nonfinite)[0])
                oid = df["object_id"].iloc[i] if "object_id" in df.columns else None
                raise PlasticcFormatError(
                    f"{_where(path, offset + i, oid)}: column {c!r} is missing or not finite ({_fmt(raw.iloc[i])})")
        df[c] = num
    return df


def _read_csv_chunks(path: str | Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(path, chunksize=chunksize, skipinitialspace=True, low_memory=False)
        if chunksize is None:
            yield reader
        else:
            with reader:
                yield from reader
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            line = int(m.group(2))
            raise PlasticcFormatError(f"{path}, data row {line - 1} (CSV line {line}): malformed CSV row: expected "
                                      f"{m.group(1)} fields, saw {m.group(3)}") from e
        raise PlasticcFormatError(f"{path}: malformed CSV row ({str(e).strip()})") from e
    except pd.errors.EmptyDataError as e:
        raise PlasticcFormatError(f"{path}: empty file, no header") from e


def _check_columns(cols: Iterable[str], required: Iterable[str], path: str | Path, what: str) -> None:
    missing = [c for c in required if c not in cols]
    if missing:
        raise PlasticcFormatError(f"{path}: {what} file is missing column(s) {missing}; has {list(cols)}")


def iter_lightcurves(path: str | Path, chunksize: int | None = DEFAULT_CHUNKSIZE) -> Iterator[pd.DataFrame]:
    """Validated chunks of one light-curve file (Zenodo or Kaggle columns), in file order.

    Each chunk has ``LIGHTCURVE_COLUMNS`` with ``LC_DTYPES`` and a ``row`` column (0-based data row).
    """
    offset = 0
    for chunk in _read_csv_chunks(path, chunksize):
        chunk = chunk.rename(columns={c: c.strip() for c in chunk.columns}).rename(columns=KAGGLE_RENAMES_LC)
        _check_columns(chunk.columns, LIGHTCURVE_COLUMNS, path, "light-curve")
        chunk = chunk[LIGHTCURVE_COLUMNS].copy()
        chunk = _numeric(chunk, LIGHTCURVE_COLUMNS, path, offset)
        n = len(chunk)
        oid = chunk["object_id"].to_numpy()
        rows = np.arange(offset, offset + n)
        for col, ok_vals in (("object_id", None), ("passband", range(6)), ("detected_bool", (0, 1))):
            v = chunk[col].to_numpy()
            bad = v != np.round(v)
            if ok_vals is not None:
                bad |= ~np.isin(v, list(ok_vals))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                what = {"passband": "unknown passband (expected 0-5 = ugrizy)",
                        "detected_bool": "detected flag not 0/1",
                        "object_id": "object_id is not an integer"}[col]
                raise PlasticcFormatError(f"{_where(path, rows[i], oid[i])}: {what}: {_fmt(v[i])}")
        err = chunk["flux_err"].to_numpy()
        if (err <= 0).any():
            i = int(np.flatnonzero(err <= 0)[0])
            raise PlasticcFormatError(f"{_where(path, rows[i], int(oid[i]))}: flux_err must be > 0, got {_fmt(err[i])}")
        chunk = chunk.astype(LC_DTYPES)
        chunk["row"] = rows
        offset += n
        yield chunk


def read_lightcurves(path: str | Path) -> pd.DataFrame:
    """A whole light-curve file, validated, sorted by (object_id, mjd) (stable), without ``row``."""
    parts = list(iter_lightcurves(path, chunksize=None))
    lc = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    lc = lc.sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True)
    return lc[LIGHTCURVE_COLUMNS]


def read_metadata(path: str | Path, require_labels: bool = True) -> pd.DataFrame:
    """A metadata file (Zenodo or Kaggle), validated and normalised to ``METADATA_COLUMNS``.

    ``require_labels=False`` (classifying new objects) accepts a file without target columns.
    """
    (df,) = list(_read_csv_chunks(path, None))
    df = df.rename(columns={c: c.strip() for c in df.columns})
    kaggle = "ddf" in df.columns and "ddf_bool" not in df.columns
    df = df.rename(columns=KAGGLE_RENAMES_META)
    _check_columns(df.columns, REQUIRED_METADATA, path, "metadata")
    if "target" not in df.columns and "true_target" not in df.columns and require_labels:
        raise PlasticcFormatError(f"{path}: metadata file has neither 'target' nor 'true_target' column")
    absent = [c for c in METADATA_COLUMNS if c not in df.columns]
    if absent and not kaggle:
        log.warning("%s: metadata columns %s absent; filled with NaN", path, absent)
    for c in absent:
        df[c] = np.nan
    if kaggle:
        df["true_target"] = df["target"]
    df = df[METADATA_COLUMNS].copy()
    must_be_finite = ["object_id", "ra", "decl", "ddf_bool", "hostgal_photoz", "hostgal_photoz_err", "mwebv"]
    df = _numeric(df, METADATA_COLUMNS, path, 0, allow_nan=[c for c in METADATA_COLUMNS if c not in must_be_finite])
    oid = df["object_id"].to_numpy()
    if (oid != np.round(oid)).any():
        i = int(np.flatnonzero(oid != np.round(oid))[0])
        raise PlasticcFormatError(f"{_where(path, i)}: object_id is not an integer: {_fmt(oid[i])}")
    df["object_id"] = df["object_id"].astype(np.int64)
    dup = df["object_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        o = int(df["object_id"].iloc[first])
        rows = np.flatnonzero(df["object_id"].to_numpy() == o)[:5] + 1
        raise PlasticcFormatError(f"{path}, object_id {o}: duplicate object in metadata at data rows "
                                  f"{rows.tolist()} (1-based, header excluded)")
    if df["target"].isna().all() and df["true_target"].isna().all() and require_labels:
        raise PlasticcFormatError(f"{path}: no class labels (target and true_target all missing)")
    df["ddf_bool"] = df["ddf_bool"].astype(np.int8)
    return df


def true_class(meta: pd.DataFrame) -> pd.Series:
    """The object's class code: ``true_target`` where given (the public test ``target`` is blinded), else ``target``."""
    tt = meta["true_target"]
    cls = tt.where(tt.notna(), meta["target"])
    if cls.isna().any():
        i = int(np.flatnonzero(cls.isna().to_numpy())[0])
        raise PlasticcFormatError(f"object_id {int(meta['object_id'].iloc[i])}: no class label "
                                  "(target and true_target both missing)")
    return cls.astype(np.int64)


def check_consistency(meta: pd.DataFrame, lc_ids: dict[int, tuple[str, int]], meta_files: pd.Series | None = None
                      ) -> None:
    """Metadata and light curves must cover the same objects.

    ``lc_ids``: object_id -> (light-curve file, first 0-based data row). ``meta_files``: per metadata row,
    the file it came from (for the message).
    """
    meta_ids = meta["object_id"].to_numpy()
    known = set(meta_ids.tolist())
    orphans = [o for o in lc_ids if o not in known]
    if orphans:
        o = orphans[0]
        f, r = lc_ids[o]
        raise PlasticcFormatError(f"{_where(f, r, o)}: light curve of an object absent from the metadata "
                                  f"({len(orphans)} such objects)")
    no_phot = [i for i, o in enumerate(meta_ids.tolist()) if o not in lc_ids]
    if no_phot:
        i = no_phot[0]
        f = meta_files.iloc[i] if meta_files is not None else "metadata"
        row = int(meta["_row"].iloc[i]) if "_row" in meta.columns else i
        raise PlasticcFormatError(f"{_where(f, row, int(meta_ids[i]))}: metadata object has no photometry "
                                  f"({len(no_phot)} such objects)")



def read_metadata_files(metadata_files: Iterable[str | Path]) -> pd.DataFrame:
    """Read and validate several metadata files into one table with ``_file`` and ``_row`` (0-based
    data row) columns; an object listed in more than one file is an error naming files and rows."""
    metas = []
    for f in metadata_files:
        m = read_metadata(f)
        m["_file"] = str(f)
        m["_row"] = np.arange(len(m))
        metas.append(m)
    meta = pd.concat(metas, ignore_index=True)
    dup = meta["object_id"].duplicated(keep=False)
    if dup.any():
        o = int(meta.loc[dup, "object_id"].iloc[0])
        where = meta.loc[meta["object_id"] == o, ["_file", "_row"]].to_numpy().tolist()
        raise PlasticcFormatError(f"object_id {o}: duplicate object across metadata files "
                                  f"{[(f, f'data row {r + 1}') for f, r in where]}")
    return meta


def load_plasticc(lightcurve_files: Iterable[str | Path], metadata_files: Iterable[str | Path]
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small-scale convenience: read and cross-check whole files into memory (tests, the real fixture)."""
    meta = read_metadata_files(metadata_files)
    lcs, first = [], {}
    for f in lightcurve_files:
        for chunk in iter_lightcurves(f, chunksize=None):
            ids, idx = np.unique(chunk["object_id"].to_numpy(), return_index=True)
            for o, i in zip(ids.tolist(), idx.tolist()):
                first.setdefault(o, (str(f), int(chunk["row"].iloc[i])))
            lcs.append(chunk)
    check_consistency(meta, first, meta["_file"])
    lc = pd.concat(lcs, ignore_index=True).sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True)
    return meta.drop(columns=["_file", "_row"]), lc[LIGHTCURVE_COLUMNS]
