"""SDSS frames streamed in chunk jobs: download a frame, cut every stamp the plan needs from it,
delete it (unless ``keep_frames``), journal it, go on; then gather all chunks into the
``SDSSSTAMP-CUBE`` layout that ``sdss_ingest`` reads.

One chunk job (:func:`run_chunk`) works through its part of the plan (``chunk_<i>.csv`` of
:mod:`.plan`) one frame at a time, so its disk holds at most one frame and its memory one frame plus
the stamp metadata.  Its working files in the chunk directory:

* ``work/stamps.f32``: the stamps cut so far, float32 ``S x S`` each, appended and fsync'ed per frame;
* ``work/journal.jsonl``: one line per finished frame, written (and fsync'ed) *after* its stamps:
  ``{"frame", "status": ok | bad | out_of_season, "reason", "stamps": [[cid, mjd, x, y, edge], ...]}``.

A killed chunk (node failure, time limit, Ctrl-C) re-run with the same inputs reads the journal,
drops a torn last line, truncates ``stamps.f32`` to the stamps the journal accounts for and goes on
with the next unfinished frame: no finished frame is fetched again, and a frame whose download was
cut is resumed from its partial file (HTTP Range, :func:`transientrepro.download.download`); the
result is identical to an uninterrupted run.

Bad frames (HTTP 4xx such as 404, an incomplete or corrupt bzip2/FITS file, a checksum or size
mismatch) are named in the journal and the chunk summary, skipped and counted; other failures (the
network is down, the server answers 5xx after every retry) stop the job so a re-run can resume it,
as does a share of bad frames above ``max_bad_fraction`` (something systematic is wrong).

Outputs of a chunk (all written atomically at the end): ``stamps.npy`` (N, S, S) float32,
``stamps.parquet`` (one row per stamp: cid, mjd, band, run, camcol, field, x, y, edge) and
``summary.json``.  If two overlapping fields of one run/camcol both gave a stamp of an object in a
band (a frame list that bypassed the plan's de-duplication), only the one farthest from the frame
edge is kept.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..io import atomic_path, read_json, write_csv, write_json, write_parquet
from .archive import BANDS, FRAME_SHAPE, FRAME_URL, ArchiveError, cut_stamp, frame_filename, frame_url, read_frame

log = logging.getLogger("transientrepro.sdss.chunks")

STAMP_COLUMNS = ("cid", "mjd", "band", "run", "camcol", "field", "x", "y", "edge")


class ChunkError(RuntimeError):
    """A chunk cannot go on (working files inconsistent, too many bad frames)."""


def frame_key(run: int, camcol: int, field: int, band: str) -> str:
    return frame_filename(run, camcol, field, band).split(".")[0]


def _is_bad_frame_error(exc: BaseException) -> bool:
    """Errors that condemn one frame (skip it) rather than the job (stop, resume later)."""
    from transientrepro.download import ChecksumError, HTTPDownloadError, TruncatedDownloadError

    if isinstance(exc, HTTPDownloadError):
        return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 425, 429)
    return isinstance(exc, (ArchiveError, ChecksumError, TruncatedDownloadError))


class Journal:
    """The chunk's append-only record of finished frames and their stamps (see the module docstring)."""

    def __init__(self, work_dir: Path, stamp_size: int):
        self.dir = Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "journal.jsonl"
        self.images = self.dir / "stamps.f32"
        self.stamp_bytes = stamp_size * stamp_size * 4
        self.records: list[dict] = []
        self._recover()

    def _recover(self) -> None:
        good_end = 0
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # torn last line: the frame did not finish
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        break
                    self.records.append(rec)
                    good_end += len(line)
            if good_end < self.path.stat().st_size:
                log.warning("%s: dropping a torn last journal line (%d bytes)", self.path,
                            self.path.stat().st_size - good_end)
                with open(self.path, "r+b") as f:
                    f.truncate(good_end)
        n = self.n_stamps()
        have = self.images.stat().st_size if self.images.exists() else 0
        if have < n * self.stamp_bytes:
            raise ChunkError(f"{self.images}: {have} bytes but the journal {self.path} accounts for {n} stamps "
                             f"({n * self.stamp_bytes} bytes); the working files are inconsistent: delete {self.dir} "
                             "to restart this chunk")
        if have > n * self.stamp_bytes:
            log.warning("%s: dropping %d bytes of stamps of an unfinished frame", self.images,
                        have - n * self.stamp_bytes)
            with open(self.images, "r+b") as f:
                f.truncate(n * self.stamp_bytes)
        if self.records:
            log.info("resuming: %d frame(s) already done (%d stamps) per %s", len(self.records), n, self.path)

    def n_stamps(self) -> int:
        return sum(len(r.get("stamps", [])) for r in self.records)

    def done(self) -> set[str]:
        return {r["frame"] for r in self.records}

    def append(self, rec: dict, images: np.ndarray | None) -> None:
        if images is not None and len(images):
            with open(self.images, "ab") as f:
                f.write(np.ascontiguousarray(images, dtype=np.float32).tobytes())
                f.flush()
                os.fsync(f.fileno())
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(rec)

    def clear(self) -> None:
        for p in (self.path, self.images):
            p.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass


def _frames_of(plan: pd.DataFrame) -> list[tuple[tuple, list[int]]]:
    """[((run, rerun, camcol, field, band), [cid, ...]), ...] in the plan's order."""
    out = []
    for key, grp in plan.groupby(["run", "rerun", "camcol", "field", "band"], sort=False):
        out.append(((int(key[0]), str(key[1]), int(key[2]), int(key[3]), str(key[4])),
                    sorted(int(c) for c in grp["object"].unique())))
    return out


def run_chunk(plan: pd.DataFrame, objects: pd.DataFrame, out_dir: str | os.PathLike, frame_dir: str | os.PathLike,
              *, fetch: Callable[[str, Path], Any], stamp_size: int = 32, shape: Sequence[int] | None = FRAME_SHAPE,
              mjd_range: Sequence[float] | None = None, seasons: Sequence[Sequence[float]] | None = None,
              keep_frames: bool = False, max_bad_fraction: float = 0.2, min_frames_for_bad_check: int = 20,
              frame_url_template: str = FRAME_URL, progress: bool = True, chunk: int | None = None) -> dict:
    """Work through one chunk of the plan (module docstring); write ``stamps.npy``, ``stamps.parquet``
    and ``summary.json`` into ``out_dir`` and return the summary.

    ``fetch(url, dest)`` downloads one frame to ``dest`` (verified, resumable: the ``sdss_frames_chunk``
    rule passes :func:`transientrepro.download.download` with the frame check).  ``objects`` has CID,
    RA, DEC of every object in the plan.
    """
    from .plan import season_mask

    t0, started_at = time.monotonic(), time.time()
    out_dir = Path(out_dir)
    frame_dir = Path(frame_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(out_dir / "work", stamp_size)
    resumed_frames = len(journal.records)
    done = journal.done()
    frames = _frames_of(plan)
    pos = objects.drop_duplicates("CID").set_index("CID")[["RA", "DEC"]]
    missing = sorted(set(plan["object"].unique()) - set(pos.index))
    if missing:
        raise ArchiveError(f"chunk {chunk}: plan names object(s) {missing[:5]} absent from the master table")
    fetched = reused = 0
    n_bad = sum(r["status"] == "bad" for r in journal.records)
    todo = [f for f in frames if frame_key(f[0][0], f[0][2], f[0][3], f[0][4]) not in done]
    bar = tqdm(todo, desc=f"SDSS chunk {chunk}", mininterval=10.0, file=sys.stderr, disable=not progress)
    for (run, rerun, camcol, fld, band), cids in bar:
        key = frame_key(run, camcol, fld, band)
        dest = frame_dir / str(run) / str(camcol) / frame_filename(run, camcol, fld, band)
        rec: dict[str, Any] = {"frame": key, "run": run, "camcol": camcol, "field": fld, "band": band,
                               "status": "ok", "reason": None, "stamps": []}
        images = None
        try:
            if dest.exists():
                reused += 1
            else:
                fetch(frame_url(run, camcol, fld, band, rerun=rerun, template=frame_url_template), dest)
                fetched += 1
            frame = read_frame(dest, shape=shape, band=band)
            if not season_mask(np.array([frame.mjd]), mjd_range, seasons)[0]:
                rec.update(status="out_of_season", reason=f"MJD {frame.mjd:.5f} outside the configured dates")
            else:
                cut, imgs = [], []
                ny, nx = frame.data.shape
                for cid in cids:
                    st = cut_stamp(frame, cid, float(pos.at[cid, "RA"]), float(pos.at[cid, "DEC"]), size=stamp_size)
                    if st is None:
                        continue
                    edge = float(min(st.x, nx - 1 - st.x, st.y, ny - 1 - st.y))
                    cut.append([int(cid), float(st.mjd), round(float(st.x), 3), round(float(st.y), 3), round(edge, 3)])
                    imgs.append(st.image)
                rec["stamps"] = cut
                rec["off_frame"] = len(cids) - len(cut)
                images = np.stack(imgs).astype(np.float32) if imgs else None
        except Exception as exc:  # noqa: BLE001 (classified: a bad frame is skipped, anything else stops the job)
            if not _is_bad_frame_error(exc):
                raise
            log.warning("bad frame %s skipped: %s: %s", key, type(exc).__name__, exc)
            rec.update(status="bad", reason=f"{type(exc).__name__}: {exc}", stamps=[])
            images = None
            if dest.exists():
                dest.unlink()
        journal.append(rec, images)
        if not keep_frames and dest.exists():
            dest.unlink()
        n_done = len(journal.records)
        n_bad += rec["status"] == "bad"
        if n_done >= min_frames_for_bad_check and n_bad > max_bad_fraction * n_done:
            raise ChunkError(f"chunk {chunk}: {n_bad} of {n_done} frames bad (> max_bad_fraction "
                             f"{max_bad_fraction}); last: {key}: {rec['reason']}. Something systematic is wrong "
                             f"(URL pattern, server, shape); fix it and re-run: finished frames are kept in {journal.dir}")
    bar.close()
    summary = finalize_chunk(journal, out_dir, stamp_size=stamp_size, chunk=chunk, frames_planned=len(frames))
    summary.update(frames_fetched=fetched, frames_reused_on_disk=reused, frames_done_before_resume=resumed_frames,
                   wall_s=round(time.monotonic() - t0, 2), started_at=started_at, finished_at=time.time())
    write_json(summary, out_dir / "summary.json")
    journal.clear()
    log.info("chunk %s: %d frames (%d fetched now, %d done before a resume, %d bad), %d stamps kept",
             chunk, len(frames), fetched, resumed_frames, summary["frames_bad"], summary["stamps"])
    return summary


def finalize_chunk(journal: Journal, out_dir: Path, *, stamp_size: int, chunk: int | None,
                   frames_planned: int) -> dict:
    """stamps.npy + stamps.parquet from the journal (de-duplicated, sorted by cid, mjd, band)."""
    rows = []
    for r in journal.records:
        for cid, mjd, x, y, edge in r.get("stamps", []):
            rows.append((cid, mjd, r["band"], r["run"], r["camcol"], r["field"], x, y, edge))
    meta = pd.DataFrame(rows, columns=list(STAMP_COLUMNS))
    meta["row"] = np.arange(len(meta), dtype=np.int64)
    meta = meta.astype({"cid": np.int64, "mjd": float, "band": str, "run": np.int64, "camcol": np.int64,
                        "field": np.int64, "x": float, "y": float, "edge": float})
    ordered = meta.sort_values(["cid", "band", "run", "camcol", "edge", "field"],
                               ascending=[True, True, True, True, False, True], kind="mergesort")
    dup = ordered.duplicated(["cid", "band", "run", "camcol"], keep="first")
    kept = ordered[~dup].assign(band_i=lambda d: d["band"].map(BANDS.index))
    kept = kept.sort_values(["cid", "mjd", "band_i"], kind="mergesort").drop(columns="band_i")
    n = len(kept)
    src = (np.memmap(journal.images, dtype=np.float32, mode="r", shape=(journal.n_stamps(), stamp_size, stamp_size))
           if journal.n_stamps() else np.zeros((0, stamp_size, stamp_size), np.float32))
    with atomic_path(out_dir / "stamps.npy") as tmp:
        dst = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, stamp_size, stamp_size))
        idx = kept["row"].to_numpy()
        for start in range(0, n, 4096):  # bounded memory
            dst[start:start + 4096] = src[idx[start:start + 4096]]
        dst.flush()
        del dst
    del src
    write_parquet(kept.drop(columns="row").reset_index(drop=True), out_dir / "stamps.parquet")
    bad = [{"frame": r["frame"], "reason": r["reason"]} for r in journal.records if r["status"] == "bad"]
    return {
        "chunk": chunk,
        "frames_planned": int(frames_planned),
        "frames_done": int(len(journal.records)),
        "frames_ok": int(sum(r["status"] == "ok" for r in journal.records)),
        "frames_bad": int(len(bad)),
        "frames_out_of_season": int(sum(r["status"] == "out_of_season" for r in journal.records)),
        "bad_frames": bad,
        "stamps_cut": int(len(meta)),
        "stamps_off_frame": int(sum(r.get("off_frame", 0) for r in journal.records)),
        "duplicate_stamps_dropped": int(dup.sum()),
        "stamps": int(n),
    }


def empty_summary() -> dict:
    return {"frames_planned": 0, "frames_done": 0, "frames_ok": 0, "frames_bad": 0, "frames_out_of_season": 0,
            "bad_frames": [], "stamps_cut": 0, "stamps_off_frame": 0, "duplicate_stamps_dropped": 0, "stamps": 0}


# --- gather: all chunks -> the SDSSSTAMP-CUBE layout ------------------------------------------------
def gather_chunks(chunk_dirs: Sequence[str | os.PathLike], objects: pd.DataFrame, out_dir: str | os.PathLike, *,
                  lightcurves: pd.DataFrame | None, stamp_size: int = 32, extra_summary: Mapping | None = None,
                  progress: bool = True) -> dict:
    """Write ``catalog.csv``, ``stamps/{CID}.fits`` and ``lightcurves.csv`` from the chunk outputs,
    one object at a time (the stamp arrays are memory-mapped), plus ``download_summary.json`` data:
    returns the summary (bad frames of every chunk listed in ``bad_frames``)."""
    from .archive import write_sdss_layout_streaming

    metas, arrays, summaries = [], [], []
    for i, d in enumerate(chunk_dirs):
        d = Path(d)
        m = pd.read_parquet(d / "stamps.parquet")
        a = np.load(d / "stamps.npy", mmap_mode="r")
        if len(m) != len(a):
            raise ArchiveError(f"{d}: stamps.parquet has {len(m)} rows but stamps.npy {len(a)} stamps")
        if len(a) and a.shape[1:] != (stamp_size, stamp_size):
            raise ArchiveError(f"{d}: stamps of shape {a.shape[1:]}, expected {stamp_size}x{stamp_size}")
        metas.append(m.assign(chunk_i=i, row=np.arange(len(m), dtype=np.int64)))
        arrays.append(a)
        summaries.append(read_json(d / "summary.json"))
    meta = pd.concat(metas, ignore_index=True) if metas else pd.DataFrame(columns=list(STAMP_COLUMNS) + ["chunk_i", "row"])
    meta["band_i"] = meta["band"].map(BANDS.index)
    meta = meta.sort_values(["cid", "mjd", "band_i"], kind="mergesort")
    dup = meta.duplicated(["cid", "band", "run", "camcol"])
    if dup.any():
        ex = meta[dup].iloc[0]
        raise ArchiveError(f"object {int(ex['cid'])} has two {ex['band']} stamps from run {int(ex['run'])} camcol "
                           f"{int(ex['camcol'])} in different chunks (a plan keeps one field per object, run and camcol)")
    groups = {int(cid): g for cid, g in meta.groupby("cid", sort=True)}

    def per_object():
        for cid in objects["CID"].astype(np.int64):
            g = groups.get(int(cid))
            if g is None:
                continue
            images = np.empty((len(g), stamp_size, stamp_size), np.float32)
            for ci, sub in g.groupby("chunk_i", sort=False):
                where = np.flatnonzero((g["chunk_i"] == ci).to_numpy())
                images[where] = arrays[int(ci)][sub["row"].to_numpy()]
            yield int(cid), images, g["mjd"].to_numpy(float), g["band"].to_numpy(str)

    layout = write_sdss_layout_streaming(out_dir, objects, per_object(), lightcurves, stamp_size=stamp_size,
                                         progress=progress)
    bad = [dict(b, chunk=s.get("chunk")) for s in summaries for b in s.get("bad_frames", [])]
    total = {k: int(sum(s.get(k, 0) for s in summaries)) for k in
             ("frames_planned", "frames_done", "frames_ok", "frames_bad", "frames_out_of_season", "stamps_cut",
              "stamps_off_frame", "duplicate_stamps_dropped", "frames_fetched", "frames_reused_on_disk")}
    out = {**layout, **total, "chunks": len(summaries), "bad_frames": bad, **(extra_summary or {})}
    return out


def write_bad_frames(summary: Mapping, path: str | os.PathLike) -> None:
    write_csv(pd.DataFrame(summary.get("bad_frames", []), columns=["chunk", "frame", "reason"]), path)
