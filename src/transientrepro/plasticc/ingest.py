"""Ingest raw PLAsTiCC CSVs (simulated or downloaded, same code) into partitioned parquet.

Outputs (contract with the GP / split stages):

- ``metadata.parquet``: one row per object, ``METADATA_COLUMNS`` + ``split`` (train/test: which raw
  metadata file the object came from) + ``chunk`` (0..n_chunks-1). ``target`` holds the object's
  true class code (``true_target`` where given: the public test file blinds ``target``).
  Objects whose class is not one of the 14 classes of t2 Table 1 (the anomaly classes 99x of the
  test set) are dropped here, as in t2 §5.1, and counted in the report.
- ``lightcurves_{chunk}.parquet``: object_id int64, mjd float64, passband int8, flux, flux_err
  float64, detected_bool int8, sorted by (object_id, mjd).

Objects are dealt to chunks round-robin in ascending object_id order (balanced, deterministic).
The light-curve files are streamed in pandas chunks and appended per output chunk to temporary
parquet files (pyarrow writers), then each chunk is sorted and written atomically, so memory stays
bounded by one output chunk even for the 11 full-size Zenodo files.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transientrepro.io import write_parquet
from transientrepro.plasticc.classes import CLASS_CODES
from transientrepro.plasticc.loaders import (
    DEFAULT_CHUNKSIZE,
    LC_DTYPES,
    PlasticcFormatError,
    check_consistency,
    iter_lightcurves,
    true_class,
    read_metadata_files,
)
from transientrepro.plasticc.simulate import LIGHTCURVE_COLUMNS

log = logging.getLogger(__name__)

_SCHEMA = pa.schema([("object_id", pa.int64()), ("mjd", pa.float64()), ("passband", pa.int8()),
                     ("flux", pa.float64()), ("flux_err", pa.float64()), ("detected_bool", pa.int8())])


def assign_chunks(object_ids: np.ndarray, n_chunks: int) -> np.ndarray:
    """Chunk index per object: round-robin over ascending object_id."""
    if n_chunks < 1:
        raise ValueError(f"config plasticc.ingest.n_chunks must be >= 1, got {n_chunks}")
    ids = np.asarray(object_ids, dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    return (rank % n_chunks).astype(np.int64)


def ingest_plasticc(
    metadata_files: Mapping[str, str | Path],
    lightcurve_files: Mapping[str, Iterable[str | Path]],
    out_metadata: str | Path,
    out_chunks: list[str | Path],
    chunksize: int = DEFAULT_CHUNKSIZE,
    drop_unknown_classes: bool = True,
) -> dict[str, Any]:
    """Ingest. ``metadata_files`` / ``lightcurve_files``: split name ('train'/'test') -> file(s).

    Returns a report dict (object/row counts per split, dropped classes, wall time).
    """
    t0 = time.time()
    n_chunks = len(out_chunks)
    meta = read_metadata_files(metadata_files.values())
    meta["split"] = meta["_file"].map({str(path): split for split, path in metadata_files.items()})
    meta["target"] = true_class(meta)
    unknown = ~meta["target"].isin(CLASS_CODES)
    dropped = {int(k): int(v) for k, v in meta.loc[unknown, "target"].value_counts().sort_index().items()}
    if unknown.any() and not drop_unknown_classes:
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise PlasticcFormatError(f"{meta['_file'].iloc[i]}, object_id {int(meta['object_id'].iloc[i])}, data row "
                                  f"{int(meta['_row'].iloc[i]) + 1}: class {int(meta['target'].iloc[i])} is not "
                                  f"one of the 14 classes {CLASS_CODES}")
    dropped_ids = np.sort(meta.loc[unknown, "object_id"].to_numpy())
    all_ids = np.sort(meta["object_id"].to_numpy())
    keep_meta = meta.loc[~unknown].copy()
    keep_meta["chunk"] = assign_chunks(keep_meta["object_id"].to_numpy(), n_chunks)
    chunk_of = pd.Series(keep_meta["chunk"].to_numpy(), index=keep_meta["object_id"].to_numpy())
    log.info("metadata: %d objects (%s), dropped %s", len(keep_meta),
             keep_meta["split"].value_counts().to_dict(), dropped)

    first_seen: dict[int, tuple[str, int]] = {}
    rows_per_split: dict[str, int] = {}
    n_rows_dropped = 0
    Path(out_metadata).parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".ingest.", dir=Path(out_metadata).parent))
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for split, files in lightcurve_files.items():
            files = [files] if isinstance(files, (str, Path)) else list(files)
            for f in files:
                n_file = 0
                for chunk in iter_lightcurves(f, chunksize=chunksize):
                    ids = chunk["object_id"].to_numpy()
                    uniq, idx = np.unique(ids, return_index=True)
                    rows = chunk["row"].to_numpy()
                    for o, i in zip(uniq.tolist(), idx.tolist()):
                        if o not in first_seen:
                            first_seen[o] = (str(f), int(rows[i]))
                    unknown_ids = np.setdiff1d(uniq, all_ids, assume_unique=True)
                    if len(unknown_ids):
                        o = int(unknown_ids[0])
                        raise PlasticcFormatError(f"{f}, object_id {o}, data row {first_seen[o][1] + 1}: light "
                                                  "curve of an object absent from the metadata")
                    keep = ~np.isin(ids, dropped_ids) if len(dropped_ids) else np.ones(len(ids), bool)
                    n_rows_dropped += int((~keep).sum())
                    chunk = chunk.loc[keep, LIGHTCURVE_COLUMNS]
                    n_file += len(chunk)
                    ck = chunk_of.reindex(chunk["object_id"].to_numpy()).to_numpy()
                    for c in np.unique(ck):
                        part = chunk[ck == c]
                        if c not in writers:
                            writers[int(c)] = pq.ParquetWriter(tmpdir / f"part_{int(c)}.parquet", _SCHEMA)
                        writers[int(c)].write_table(pa.Table.from_pandas(part, schema=_SCHEMA, preserve_index=False))
                log.info("read %s: %d rows", f, n_file)
                rows_per_split[split] = rows_per_split.get(split, 0) + n_file
        for w in writers.values():
            w.close()
        writers.clear()
        check_consistency(meta, first_seen, meta["_file"])
        n_rows = 0
        for c, out in enumerate(out_chunks):
            src = tmpdir / f"part_{c}.parquet"
            if src.exists():
                lc = pq.read_table(src).to_pandas()
            else:
                lc = pd.DataFrame({k: pd.Series(dtype=v) for k, v in LC_DTYPES.items()})
            lc = lc.sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True).astype(LC_DTYPES)
            n_rows += len(lc)
            write_parquet(lc, out)
    finally:
        for w in writers.values():
            w.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    out_meta = keep_meta.drop(columns=["_file", "_row"]).sort_values("object_id", kind="stable").reset_index(drop=True)
    out_meta["chunk"] = out_meta["chunk"].astype(np.int64)
    write_parquet(out_meta, out_metadata)
    report = {
        "n_objects": int(len(out_meta)),
        "n_objects_per_split": {k: int(v) for k, v in out_meta["split"].value_counts().sort_index().items()},
        "n_rows": int(n_rows),
        "n_rows_per_split": rows_per_split,
        "n_chunks": n_chunks,
        "objects_per_chunk": [int(v) for v in np.bincount(out_meta["chunk"], minlength=n_chunks)],
        "dropped_classes": {str(k): v for k, v in dropped.items()},
        "n_rows_dropped": n_rows_dropped,
        "wall_time_s": round(time.time() - t0, 3),
    }
    log.info("ingest done: %s", report)
    return report


__all__ = ["assign_chunks", "ingest_plasticc"]
