"""File-level entry points of the GP stage used by the workflow scripts (and the tests)."""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .config import PER_OBJECT_KEYS, GPConfig, GPInputError
from .interpolate import _target_column, interpolate_lightcurves

log = logging.getLogger("transientrepro.gp")


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
    log.info("chunk %s: %d interpolated, %d failed (%d excluded, %d fallback), %.1f objects/s (engine %s on %s)",
             chunk, summary["n_objects"], summary["n_failed"], summary["n_excluded"], summary["n_fallback"],
             summary["objects_per_s"], summary["engine"], summary["device"])
    return summary


def run_gather(npz_paths: Sequence, failure_paths: Sequence, summary_paths: Sequence,
               out_store, out_failures, out_summary) -> dict:
    """Gather the chunk outputs into the GP store (``gp.h5``, written chunk by chunk: memory bounded by
    one chunk), failures.csv and summary.json. Everything is checked before anything is written."""
    from transientrepro.io import read_json, write_csv, write_json

    from ..gp_store import read_chunk_ids, write_store

    frames = [pd.read_csv(p, dtype={"object_id": "int64", "reason": str, "action": str}) for p in failure_paths]
    fails = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["object_id", "reason", "action"])
    fails = fails.sort_values("object_id", kind="stable").reset_index(drop=True)
    chunks = [read_json(p) for p in summary_paths]
    seconds = float(sum(c["seconds"] for c in chunks))
    cpu = float(sum(c.get("cpu_seconds", float("nan")) for c in chunks))
    n_input = int(sum(c["n_input"] for c in chunks))
    n_objects = int(sum(len(read_chunk_ids(p)[0]) for p in npz_paths))
    n_excluded = int((fails["action"] == "excluded").sum())
    if n_objects + n_excluded != n_input:
        raise GPInputError(f"gather: {n_objects} interpolated + {n_excluded} excluded "
                           f"!= {n_input} input objects (chunk outputs inconsistent)")
    merged = write_store(npz_paths, out_store, keys=PER_OBJECT_KEYS + ("X",), finite=("X", "z", "z_err"))
    summary = {
        "n_input": n_input,
        "n_objects": int(len(merged["object_id"])),
        "n_failed": int(len(fails)),
        "n_excluded": n_excluded,
        "n_fallback": int((fails["action"] != "excluded").sum()),
        "failure_reasons": {str(k): int(v) for k, v in fails["reason"].str.split(":").str[0].value_counts().items()},
        "fit_seconds": seconds,
        "cpu_seconds": cpu,
        "objects_per_s": n_input / seconds if seconds > 0 else float("nan"),
        "objects_per_cpu_s": n_input / cpu if cpu > 0 else float("nan"),
        "objects_per_s_note": ("per job (one core each): objects attempted / sum of the chunks' wall-clock fitting "
                               "seconds; objects_per_cpu_s uses process CPU time (insensitive to machine load)"),
        "ms_per_object": 1000 * seconds / n_input if n_input else float("nan"),
        "engine": str(merged.get("attr_engine", "george")),
        "devices": sorted({str(c.get("device", "cpu")) for c in chunks}),
        "normalisation": str(merged["attr_normalisation"]),
        "time_grid": str(merged["attr_time_grid"]),
        "n_points": int(merged["attr_n_points"]),
        "store": "HDF5, written one chunk at a time",
        "chunks": chunks,
    }
    write_csv(fails, out_failures)
    write_json(summary, out_summary)
    log.info("gather: %d objects, %d failures (%d excluded), %.1f objects/s per job (%.1f per CPU-second)",
             summary["n_objects"], summary["n_failed"], summary["n_excluded"], summary["objects_per_s"],
             summary["objects_per_cpu_s"])
    return summary
