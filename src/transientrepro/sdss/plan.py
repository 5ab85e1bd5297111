"""The SDSS frame download plan: which (object, run, camcol, field, band) to fetch, decided *before*
any frame is downloaded, and how the frames are split into chunk jobs.

Inputs (all public on the SDSS Science Archive Server, SAS):

* the objects (master table of the SDSS-II SN release, :func:`.archive.read_master_table`);
* the field list ``window_flist.fits`` (data model ``PHOTO_RESOLVE/window_flist``,
  http://data.sdss3.org/datamodel/files/PHOTO_RESOLVE/window_flist.html): per field RUN, RERUN,
  CAMCOL, FIELD, RA/DEC of the centre, ``MJD`` ("date of observation, coarse"), ``TAI[5]`` (the
  observation time of the field in each band, TAI seconds), the great-circle geometry ``NODE``,
  ``INCL``, ``MU_START/MU_END`` (along the scan) and ``NU_START/NU_END`` (across it), ``SCORE``;
* optionally a run -> date table, ``photoRunAll-drN.fits`` (data model ``BOSS_PHOTOOBJ/photoRunAll``,
  http://data.sdss3.org/datamodel/files/BOSS_PHOTOOBJ/photoRunAll.html; published e.g. at
  ``https://data.sdss.org/sas/dr10/boss/photoObj/photoRunAll-dr10.fits``, linked from the DR9/DR10
  data-access pages): RUN, RERUN, MJD ("MJD of observation"), MJD_REF ("MJD at row 0 of the reference
  field") and FIELD_REF.  (``runList.par`` of PHOTO_REDUX lists runs and field ranges but no dates.)

Dates: each field's MJD is, in order of preference, ``TAI[band]/86400`` of window_flist (exact, per
band), its ``MJD`` column, or the run list: ``MJD_REF + 36 s x (FIELD - FIELD_REF)`` (a field is 1361
rows at the sidereal drift rate, ~36 s; the same relation as the Large Survey Database's
``RunToMJD``), else the run's ``MJD``.  With none of these the plan stops with :class:`PlanError`:
without dates the season filter cannot run and every run that ever covered an object would be
downloaded.  Fields outside ``mjd_range`` and the configured ``seasons`` are dropped here.

Geometry: candidate fields come from a k-d tree on unit vectors (field centres within the frame's
half diagonal, ~8.3'); where window_flist has the great-circle columns the object must lie inside
the frame (along the scan within half a frame, 1489 rows, of the field centre; across it inside
``NU_START..NU_END``), with a stamp's half width of margin.  Consecutive fields of a run overlap by
128 rows, so an object near a field boundary lies on two frames of the same run, camcol and band
(the same exposure): the plan keeps only the field whose centre is nearest along the scan, so each
(object, band, epoch) is cut once.

Chunks: the plan's frames are grouped by (run, camcol), cut into runs of consecutive fields where a
run/camcol holds more than a quarter of a chunk's share, and dealt to ``n_chunks`` chunk jobs, largest
first onto the least-loaded chunk (deterministic, balanced to within one unit).  A chunk job
(:mod:`.chunks`) downloads its frames one at a time.
"""
from __future__ import annotations

import heapq
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .archive import BANDS, FIELD_HALF_DIAGONAL_DEG, PIXEL_SCALE_ARCSEC, ArchiveError, read_window_flist

log = logging.getLogger("transientrepro.sdss.plan")

PLAN_COLUMNS = ("object", "run", "camcol", "field", "band", "rerun", "mjd", "chunk")
FRAME_ROWS, FRAME_COLS = 1489, 2048
FIELD_ROWS = 1361  # a new field starts every 1361 rows; consecutive frames overlap by 1489 - 1361 = 128 rows
SECONDS_PER_FIELD = 36.0  # 1361 rows x 0.396" / (15.04"/s x cos(dec)) at the equator
FRAME_MB = 3.0  # data model BOSS_PHOTOOBJ/frames/.../frame: "Approximate size: 3 Mbytes" (bzip2)


class PlanError(ArchiveError):
    """The plan cannot be made safely (e.g. no dates for the fields)."""


# --- run -> date table ------------------------------------------------------------------------------
def read_run_list(path: str | os.PathLike) -> pd.DataFrame:
    """run [, rerun], mjd [, mjd_ref, field_ref] from ``photoRunAll-drN.fits`` (HDU1) or a CSV."""
    path = Path(path)
    with open(path, "rb") as f:
        is_fits = f.read(9) == b"SIMPLE  ="  # by content: a download in progress is named .<name>.part
    if is_fits:
        from astropy.io import fits

        try:
            with fits.open(path, memmap=True) as hdul:
                data = hdul[1].data
                names = {n.upper(): n for n in data.columns.names}
                out = {c.lower(): np.array(data[names[c]]) for c in ("RUN", "RERUN", "MJD", "MJD_REF", "FIELD_REF")
                       if c in names}
        except Exception as exc:  # noqa: BLE001
            raise ArchiveError(f"{path}: cannot read the run list ({type(exc).__name__}: {exc})") from exc
        df = pd.DataFrame({k: (v.astype(str) if v.dtype.kind in "SU" else v.astype(v.dtype.newbyteorder("=")))
                           for k, v in out.items()})
    else:
        df = pd.read_csv(path)
        df.columns = [c.strip().lower() for c in df.columns]
    if "run" not in df.columns or not ({"mjd", "mjd_ref"} & set(df.columns)):
        raise ArchiveError(f"{path}: a run list needs columns run and mjd (or mjd_ref); has {list(df.columns)}")
    df["run"] = df["run"].astype(np.int64)
    if "rerun" in df.columns:
        df["rerun"] = df["rerun"].astype(str).str.strip()
    return df


def field_dates(fields: pd.DataFrame, run_list: pd.DataFrame | None = None, bands: Sequence[str] = BANDS,
                where: str = "field list") -> pd.DataFrame:
    """``fields`` with ``mjd_<band>`` columns (MJD, TAI) for each band and ``date_source``.

    Raises :class:`PlanError` when no date is available for some fields (see the module docstring).
    """
    f = fields.copy()
    n = len(f)
    src = np.full(n, "", dtype=object)
    per_band = {b: np.full(n, np.nan) for b in bands}
    if all(f"tai_{b}" in f.columns for b in bands):  # window_flist TAI[5], one column per band
        for b in bands:
            v = pd.to_numeric(f[f"tai_{b}"], errors="coerce").to_numpy(float) / 86400.0
            per_band[b] = np.where(np.isfinite(v) & (v > 40000) & (v < 70000), v, np.nan)
        src[np.isfinite(per_band[bands[0]])] = "window_flist TAI"
    if "mjd" in f.columns:
        coarse = pd.to_numeric(f["mjd"], errors="coerce").to_numpy(float)
        coarse = np.where((coarse > 40000) & (coarse < 70000), coarse, np.nan)
        for b in bands:
            fill = ~np.isfinite(per_band[b])
            per_band[b][fill] = coarse[fill]
        src[(src == "") & np.isfinite(coarse)] = "window_flist MJD"
    if run_list is not None and len(run_list):
        rl = run_list.drop_duplicates("run").set_index("run")
        runs = f["run"].to_numpy(np.int64)
        known = np.isin(runs, rl.index.to_numpy())
        est = np.full(n, np.nan)
        if known.any():
            r = rl.loc[runs[known]]
            if {"mjd_ref", "field_ref"} <= set(rl.columns):
                est[known] = (r["mjd_ref"].to_numpy(float)
                              + SECONDS_PER_FIELD * (f["field"].to_numpy(float)[known] - r["field_ref"].to_numpy(float))
                              / 86400.0)
            bad = ~np.isfinite(est[known]) | (est[known] < 40000)
            if "mjd" in rl.columns and bad.any():
                idx = np.flatnonzero(known)[bad]
                est[idx] = r["mjd"].to_numpy(float)[bad]
        for b in bands:
            fill = ~np.isfinite(per_band[b])
            per_band[b][fill] = est[fill]
        src[(src == "") & np.isfinite(est)] = "run list"
    missing = ~np.isfinite(per_band[bands[0]]) if bands else np.zeros(n, bool)
    if missing.any():
        ex = f.loc[missing].iloc[0]
        raise PlanError(
            f"{where}: no observation date for {int(missing.sum())} of {n} fields (e.g. run {int(ex['run'])}, "
            f"camcol {int(ex['camcol'])}, field {int(ex['field'])}): window_flist has no TAI/MJD for them and "
            "no run list (photoRunAll, config sdss.archive.run_list_url) dates their run. Refusing to plan: "
            "without dates the season filter cannot run and every run that ever covered an object would be "
            "downloaded. Configure sdss.archive.run_list_url (or a frame_list with an mjd column).")
    for b in bands:
        f[f"mjd_{b}"] = per_band[b]
    f["date_source"] = src
    return f


def season_mask(mjd: np.ndarray, mjd_range: Sequence[float] | None, seasons: Sequence[Sequence[float]] | None) -> np.ndarray:
    """True where ``mjd`` lies in ``mjd_range`` and (if any seasons are given) in one of them."""
    mjd = np.asarray(mjd, dtype=float)
    keep = np.isfinite(mjd)
    if mjd_range is not None:
        keep &= (mjd >= float(mjd_range[0])) & (mjd <= float(mjd_range[1]))
    if seasons:
        in_any = np.zeros(mjd.shape, bool)
        for lo, hi in seasons:
            in_any |= (mjd >= float(lo)) & (mjd <= float(hi))
        keep &= in_any
    return keep


# --- geometry ---------------------------------------------------------------------------------------
def _unit(ra_deg, dec_deg) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def radec_to_munu(ra, dec, node, incl) -> tuple[np.ndarray, np.ndarray]:
    """SDSS great-circle coordinates (mu along the scan, nu across it), degrees, for a stripe of the
    given node and inclination (the survey's standard transformation)."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    node, incl = np.radians(np.asarray(node, float)), np.radians(np.asarray(incl, float))
    x = np.cos(dec) * np.cos(ra - node)
    y = np.cos(dec) * np.sin(ra - node)
    z = np.sin(dec)
    mu = np.degrees(node + np.arctan2(y * np.cos(incl) + z * np.sin(incl), x)) % 360.0
    nu = np.degrees(np.arcsin(np.clip(-y * np.sin(incl) + z * np.cos(incl), -1, 1)))
    return mu, nu


def match_fields(objects: pd.DataFrame, fields: pd.DataFrame, *, radius_deg: float = FIELD_HALF_DIAGONAL_DEG,
                 stamp_size: int = 32) -> pd.DataFrame:
    """(object index, field index, along-scan offset) of every field whose frame holds the object.

    A k-d tree finds the field centres within ``radius_deg``; where ``fields`` has the great-circle
    columns (node, incl, mu_start, mu_end, nu_start, nu_end) the object must lie on the frame with a
    stamp's half width to spare.  ``offset`` (degrees) ranks overlapping fields of one run/camcol.
    """
    from scipy.spatial import cKDTree

    if objects.empty or fields.empty:
        return pd.DataFrame({"oi": np.zeros(0, np.int64), "fi": np.zeros(0, np.int64), "offset": np.zeros(0)})
    fv = _unit(fields["ra"].to_numpy(float), fields["dec"].to_numpy(float))
    ov = _unit(objects["RA"].to_numpy(float), objects["DEC"].to_numpy(float))
    chord = 2.0 * math.sin(math.radians(radius_deg) / 2.0)
    tree = cKDTree(fv)
    oi_parts, fi_parts = [], []
    for start in range(0, len(ov), 4096):  # bounded memory
        hits = tree.query_ball_point(ov[start:start + 4096], r=chord)
        for k, h in enumerate(hits):
            if h:
                oi_parts.append(np.full(len(h), start + k, np.int64))
                fi_parts.append(np.asarray(h, np.int64))
    if not oi_parts:
        return pd.DataFrame({"oi": np.zeros(0, np.int64), "fi": np.zeros(0, np.int64), "offset": np.zeros(0)})
    oi, fi = np.concatenate(oi_parts), np.concatenate(fi_parts)
    geo = {"node", "incl", "mu_start", "mu_end", "nu_start", "nu_end"} <= set(fields.columns)
    if geo:
        g = fields.iloc[fi]
        mu, nu = radec_to_munu(objects["RA"].to_numpy(float)[oi], objects["DEC"].to_numpy(float)[oi],
                               g["node"].to_numpy(float), g["incl"].to_numpy(float))
        mu0, mu1 = g["mu_start"].to_numpy(float), g["mu_end"].to_numpy(float)
        nu0, nu1 = g["nu_start"].to_numpy(float), g["nu_end"].to_numpy(float)
        centre = (mu0 + ((mu1 - mu0 + 180.0) % 360.0 - 180.0) / 2.0) % 360.0
        offset = (mu - centre + 180.0) % 360.0 - 180.0
        margin = (stamp_size / 2.0 + 1.0) * PIXEL_SCALE_ARCSEC / 3600.0
        half_frame = FRAME_ROWS / 2.0 * PIXEL_SCALE_ARCSEC / 3600.0
        lo, hi = np.minimum(nu0, nu1), np.maximum(nu0, nu1)
        inside = (np.abs(offset) <= half_frame - margin) & (nu >= lo + margin) & (nu <= hi - margin)
        oi, fi, offset = oi[inside], fi[inside], np.abs(offset[inside])
    else:
        offset = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", ov[oi], fv[fi]), -1, 1)))
    return pd.DataFrame({"oi": oi, "fi": fi, "offset": offset})


# --- the plan ---------------------------------------------------------------------------------------
def assign_chunks(plan: pd.DataFrame, n_chunks: int) -> pd.Series:
    """Chunk number of each plan row.

    Units of work are runs of consecutive fields of one (run, camcol), cut so that a unit holds at
    most a quarter of a chunk's share of the frames (a whole run/camcol when that is small enough; the
    bands of a field always stay together); units are dealt largest first onto the least-loaded chunk.
    Deterministic.
    """
    if n_chunks < 1:
        raise ValueError(f"sdss.archive.n_chunks must be >= 1, got {n_chunks}")
    per_field = (plan.groupby(["run", "camcol", "field"])["band"].nunique().rename("n").reset_index()
                 .sort_values(["run", "camcol", "field"], kind="mergesort"))
    cap = max(1, math.ceil(int(per_field["n"].sum()) / n_chunks / 4))
    before = per_field.groupby(["run", "camcol"])["n"].cumsum() - per_field["n"]
    per_field["block"] = (before // cap).astype(np.int64)
    units = per_field.groupby(["run", "camcol", "block"])["n"].sum().reset_index()
    units = units.sort_values(["n", "run", "camcol", "block"], ascending=[False, True, True, True], kind="mergesort")
    heap = [(0, c) for c in range(n_chunks)]
    heapq.heapify(heap)
    chunk_of = {}
    for run, camcol, block, n in units[["run", "camcol", "block", "n"]].itertuples(index=False):
        load, c = heapq.heappop(heap)
        chunk_of[(int(run), int(camcol), int(block))] = c
        heapq.heappush(heap, (load + int(n), c))
    block_of = per_field.set_index(["run", "camcol", "field"])["block"]
    keys = pd.MultiIndex.from_arrays([plan["run"], plan["camcol"], plan["field"]])
    blocks = block_of.reindex(keys).to_numpy()
    return pd.Series([chunk_of[(int(r), int(c), int(b))] for r, c, b in zip(plan["run"], plan["camcol"], blocks)],
                     index=plan.index, dtype=np.int64)


def build_plan(objects: pd.DataFrame, fields: pd.DataFrame, *, bands: Sequence[str] = BANDS, rerun: str = "301",
               mjd_range: Sequence[float] | None = None, seasons: Sequence[Sequence[float]] | None = None,
               run_list: pd.DataFrame | None = None, n_chunks: int = 1, stamp_size: int = 32,
               pairs: pd.DataFrame | None = None, where: str = "field list") -> tuple[pd.DataFrame, dict]:
    """The plan (:data:`PLAN_COLUMNS`, sorted by chunk, run, camcol, field, band, object) and counts.

    ``objects``: CID, RA, DEC.  ``fields``: run, rerun, camcol, field, ra, dec [+ mjd, tai, geometry]
    (:func:`.archive.read_window_flist` or a frame list).  ``pairs`` (cid, run, camcol, field) skips
    the geometric match (a frame list that names the objects).
    """
    bands = list(bands)
    f = fields[fields["rerun"].astype(str).str.strip() == str(rerun)].reset_index(drop=True)
    stats: dict[str, Any] = {"objects_selected": int(len(objects)), "fields_in_list": int(len(f))}
    if pairs is None:
        m = match_fields(objects, f, stamp_size=stamp_size)
        cand = pd.DataFrame({"object": objects["CID"].to_numpy(np.int64)[m["oi"].to_numpy()],
                             "fi": m["fi"].to_numpy(), "offset": m["offset"].to_numpy()})
    else:
        key = f.reset_index()[["index", "run", "camcol", "field"]].rename(columns={"index": "fi"})
        p = pairs.rename(columns={"cid": "object"})[["object", "run", "camcol", "field"]]
        cand = p.merge(key, on=["run", "camcol", "field"], how="left")
        if cand["fi"].isna().any():
            ex = cand[cand["fi"].isna()].iloc[0]
            raise PlanError(f"{where}: object {int(ex['object'])} names run {int(ex['run'])} camcol "
                            f"{int(ex['camcol'])} field {int(ex['field'])}, not in the field list (rerun {rerun})")
        cand = cand.assign(fi=cand["fi"].astype(np.int64), offset=0.0)[["object", "fi", "offset"]]
    stats["object_field_pairs"] = int(len(cand))
    # overlapping fields of one run/camcol (the same exposure): keep the field nearest the object along the scan
    cand = cand.merge(f[["run", "camcol", "field"]].assign(fi=f.index), on="fi", how="left")
    cand = cand.sort_values(["object", "run", "camcol", "offset", "field"], kind="mergesort")
    dup = cand.duplicated(["object", "run", "camcol"], keep="first")
    stats["duplicate_fields_dropped"] = int(dup.sum())
    cand = cand[~dup].drop(columns=["run", "camcol", "field"])
    used = f.iloc[np.unique(cand["fi"].to_numpy())] if len(cand) else f.iloc[0:0]
    dated = field_dates(used, run_list, bands, where=where)
    # one row per (object, field, band), dated per band, then the season filter
    cand = cand.merge(dated[["run", "camcol", "field"] + [f"mjd_{b}" for b in bands]].assign(fi=used.index),
                      on="fi", how="left")
    stats["frames_all_dates"] = int(len(cand[["run", "camcol", "field"]].drop_duplicates()) * len(bands))
    long = cand.melt(id_vars=["object", "run", "camcol", "field", "offset"],
                     value_vars=[f"mjd_{b}" for b in bands], var_name="band", value_name="mjd")
    long["band"] = long["band"].str[4:]
    keep = season_mask(long["mjd"].to_numpy(), mjd_range, seasons)
    stats["stamps_outside_seasons"] = int((~keep).sum())
    plan = long[keep].drop(columns="offset").copy()
    plan["rerun"] = str(rerun)
    frames = plan[["run", "camcol", "field", "band"]].drop_duplicates()
    plan["chunk"] = assign_chunks(plan, n_chunks) if len(plan) else pd.Series(dtype=np.int64)
    plan["band_i"] = plan["band"].map(BANDS.index)
    plan = plan.sort_values(["chunk", "run", "camcol", "field", "band_i", "object"], kind="mergesort")
    plan = plan[list(PLAN_COLUMNS)].reset_index(drop=True)
    for c in ("object", "run", "camcol", "field", "chunk"):
        plan[c] = plan[c].astype(np.int64)
    stats.update(
        objects_with_frames=int(plan["object"].nunique()),
        objects_without_frames=int(len(objects) - plan["object"].nunique()),
        fields_in_seasons=int(len(frames[["run", "camcol", "field"]].drop_duplicates())),
        runs=int(plan["run"].nunique()),
        run_camcols=int(len(plan[["run", "camcol"]].drop_duplicates())),
        frames=int(len(frames)),
        stamps_planned=int(len(plan)),
        date_sources=sorted(set(dated["date_source"])),
    )
    return plan, stats


def plan_summary(plan: pd.DataFrame, stats: Mapping[str, Any], *, n_chunks: int, frame_mb: float = FRAME_MB,
                 bandwidth_mb_s: float = 20.0, keep_frames: bool = False, stamp_size: int = 32) -> dict:
    """Counts plus estimated bytes, hours and disk (decimal units: 1 MB = 10^6 bytes)."""
    frames = int(stats["frames"])
    nbytes = frames * frame_mb * 1e6
    per_chunk = plan.groupby("chunk")[["run", "camcol", "field", "band"]].apply(
        lambda g: len(g.drop_duplicates())) if len(plan) else pd.Series(dtype=float)
    per_chunk = per_chunk.reindex(range(n_chunks), fill_value=0)
    avoided = int(stats.get("frames_all_dates", frames)) - frames
    out = dict(stats)
    out.update(
        n_chunks=int(n_chunks),
        frames_per_chunk={"min": int(per_chunk.min()), "median": float(per_chunk.median()),
                          "max": int(per_chunk.max())} if len(per_chunk) else {},
        frames_avoided_by_date_filter=avoided,
        frame_mb=float(frame_mb),
        estimated_bytes=int(nbytes),
        estimated_tb=round(nbytes / 1e12, 3),
        bandwidth_mb_s=float(bandwidth_mb_s),
        estimated_hours=round(nbytes / (bandwidth_mb_s * 1e6) / 3600.0, 2) if bandwidth_mb_s > 0 else None,
        keep_frames=bool(keep_frames),
        frame_disk_peak_gb=round((nbytes if keep_frames else n_chunks * frame_mb * 1e6) / 1e9, 3),
        stamps_bytes=int(stats["stamps_planned"] * stamp_size * stamp_size * 4),
    )
    return out


def format_summary(s: Mapping[str, Any]) -> str:
    """The plan summary as the lines ``snakemake sdss_plan`` prints."""
    fpc = s.get("frames_per_chunk") or {}
    lines = [
        "SDSS frame download plan",
        f"  objects selected            {s['objects_selected']:>14,}",
        f"  objects on >= 1 frame       {s['objects_with_frames']:>14,}   (without: {s['objects_without_frames']:,})",
        f"  fields in the field list    {s['fields_in_list']:>14,}",
        f"  fields kept (dates/seasons) {s['fields_in_seasons']:>14,}   runs {s['runs']:,}, run/camcols {s['run_camcols']:,}"
        f"   dates from: {', '.join(s.get('date_sources') or []) or '-'}",
        f"  stamps planned              {s['stamps_planned']:>14,}   (object x band x epoch; "
        f"{s['duplicate_fields_dropped']:,} object-field pairs of overlapping fields dropped)",
        f"  frames to download          {s['frames']:>14,}   ({s['frames_avoided_by_date_filter']:,} avoided by the "
        f"date/season filter)",
        f"  estimated size              {s['estimated_tb']:>14,.3f} TB   ({s['frame_mb']:g} MB per frame)",
        f"  estimated time              {s['estimated_hours']:>14,.1f} h    at {s['bandwidth_mb_s']:g} MB/s in total",
        f"  chunk jobs                  {s['n_chunks']:>14,}   frames per chunk min {fpc.get('min', 0):,} / "
        f"median {fpc.get('median', 0):,.0f} / max {fpc.get('max', 0):,}",
        f"  frame disk at once          {s['frame_disk_peak_gb']:>14,.3f} GB   (keep_frames: {s['keep_frames']})",
        f"  stamps (float32)            {s['stamps_bytes'] / 1e9:>14,.3f} GB",
    ]
    return "\n".join(lines)


def write_plan(plan: pd.DataFrame, plan_csv: str | os.PathLike, chunk_csvs: Sequence[str | os.PathLike]) -> None:
    """``plan.csv`` and one ``chunk_<i>.csv`` per chunk job (possibly empty), all atomically."""
    from ..io import write_csv

    write_csv(plan, plan_csv)
    for i, path in enumerate(chunk_csvs):
        write_csv(plan[plan["chunk"] == i], path)


def read_plan(path: str | os.PathLike) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"band": str, "rerun": str})
    missing = [c for c in PLAN_COLUMNS if c not in df.columns]
    if missing:
        raise ArchiveError(f"{path}: plan lacks column(s) {missing}")
    return df


def fields_from_sources(*, window_flist: str | os.PathLike | None = None,
                        frame_list: str | os.PathLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(fields, pairs): the field list, and (cid, run, camcol, field) pairs when a frame list names the
    objects (otherwise None: the geometric match decides)."""
    from .archive import read_frame_list

    if frame_list:
        fl = read_frame_list(frame_list)
        pairs = fl[["cid", "run", "camcol", "field"]].copy() if "cid" in fl.columns else None
        fields = fl.drop(columns=[c for c in ("cid",) if c in fl.columns])
        fields = fields.drop_duplicates(["run", "rerun", "camcol", "field"]).reset_index(drop=True)
        if pairs is None and not {"ra", "dec"} <= set(fields.columns):
            raise PlanError(f"{frame_list}: a frame list without a cid column needs ra and dec of each field "
                            "to find the objects on it")
        return fields, pairs
    if not window_flist:
        raise PlanError("sdss.archive: need window_flist.fits or a frame_list CSV to know which frames cover the objects")
    return read_window_flist(window_flist), None


def make_plan(objects: pd.DataFrame, cfg: Mapping[str, Any], *, window_flist=None, frame_list=None,
              run_list=None) -> tuple[pd.DataFrame, dict]:
    """Plan + summary from config ``sdss.archive`` (the entry point of the ``sdss_plan`` rule)."""
    fields, pairs = fields_from_sources(window_flist=window_flist, frame_list=frame_list)
    if pairs is not None:
        pairs = pairs[pairs["cid"].isin(objects["CID"])]
    rl = read_run_list(run_list) if run_list else None
    n_chunks = int(cfg.get("n_chunks", 1))
    plan, stats = build_plan(objects, fields, bands=list(cfg.get("bands", BANDS)), rerun=str(cfg.get("rerun", "301")),
                             mjd_range=cfg.get("mjd_range"), seasons=cfg.get("seasons") or None, run_list=rl,
                             n_chunks=n_chunks, stamp_size=int(cfg.get("stamp_size", 32)), pairs=pairs,
                             where=str(frame_list or window_flist))
    summary = plan_summary(plan, stats, n_chunks=n_chunks, frame_mb=float(cfg.get("frame_mb", FRAME_MB)),
                           bandwidth_mb_s=float(cfg.get("bandwidth_mb_s", 20.0)),
                           keep_frames=bool(cfg.get("keep_frames", False)), stamp_size=int(cfg.get("stamp_size", 32)))
    return plan, summary


# --- an estimate without any download: the Stripe 82 geometry ------------------------------------------
def stripe82_fields(n_passes: int, *, ra_range: tuple[float, float] = (-60.0, 60.0),
                    mjd_start: float = 53614.0, seed: int = 0) -> pd.DataFrame:
    """A window_flist-like table of ``n_passes`` passes over each strip (N and S) of SDSS Stripe 82.

    Geometry as documented for the SDSS camera: 6 camcols of 2048 columns (0.396"/px, 13.5' wide)
    whose centres are 0.4186 deg apart across the scan; the second strip is offset by half that so the
    two strips fill the gaps; fields every 1361 rows (0.1497 deg) along the equator (node 95 deg,
    inclination 0 for the equatorial stripe); frames 1489 rows long.  Pass ``p`` observes its strip on
    night ``mjd_start + p`` (only the count of fields matters for the estimate).
    """
    rng = np.random.default_rng(seed)
    step = FIELD_ROWS * PIXEL_SCALE_ARCSEC / 3600.0
    half_w = FRAME_COLS / 2.0 * PIXEL_SCALE_ARCSEC / 3600.0
    col_sep = 0.4186  # deg between camcol centres (the SDSS camera's column spacing)
    rows = []
    ra0 = np.arange(ra_range[0] + step / 2, ra_range[1], step)
    nf = len(ra0)
    for p in range(int(n_passes)):
        for strip, dec_off in (("N", +col_sep / 4.0), ("S", -col_sep / 4.0)):
            run = 10000 + 2 * p + (strip == "S")
            start = rng.uniform(-step, step)  # field phase differs from run to run
            for camcol in range(1, 7):
                dec_c = (camcol - 3.5) * col_sep + dec_off
                ra_c = (ra0 + start) % 360.0
                mu_c = ra_c  # inclination 0: mu = RA
                rows.append(pd.DataFrame({
                    "run": run, "rerun": "301", "camcol": camcol, "field": np.arange(11, 11 + nf),
                    "ra": ra_c, "dec": dec_c, "mjd": mjd_start + p,
                    "node": 95.0, "incl": 0.0, "mu_start": (mu_c - step / 2) % 360.0, "mu_end": (mu_c + step / 2) % 360.0,
                    "nu_start": dec_c - half_w, "nu_end": dec_c + half_w}))
    return pd.concat(rows, ignore_index=True)


def estimate_stripe82(n_objects: int = 10258, coverages: int = 80, *, n_chunks: int = 400,
                      frame_mb: float = FRAME_MB, bandwidth_mb_s: float = 20.0, bands: Sequence[str] = BANDS,
                      seed: int = 0) -> dict:
    """Plan summary for ``n_objects`` spread uniformly over the SN survey area (Stripe 82, |dec| <
    1.25 deg, -60 < RA < 60) observed ``coverages`` times (passes of each strip): the real plan code
    on the documented field geometry (:func:`stripe82_fields`), no download needed."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(-60.0, 60.0, n_objects) % 360.0
    dec = np.degrees(np.arcsin(rng.uniform(math.sin(math.radians(-1.25)), math.sin(math.radians(1.25)), n_objects)))
    objects = pd.DataFrame({"CID": np.arange(1, n_objects + 1), "RA": ra, "DEC": dec})
    fields = stripe82_fields(coverages, seed=seed)
    plan, stats = build_plan(objects, fields, bands=bands, n_chunks=n_chunks)
    s = plan_summary(plan, stats, n_chunks=n_chunks, frame_mb=frame_mb, bandwidth_mb_s=bandwidth_mb_s)
    naive = n_objects * coverages * len(bands)
    s.update(coverages=int(coverages), naive_object_epoch_band_frames=int(naive),
             naive_tb=round(naive * frame_mb * 1e6 / 1e12, 3))
    return s


def main(argv: Iterable[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(
        prog="python -m transientrepro.sdss.plan",
        description="Estimate the SDSS frame download (frames, TB, hours) for the SN survey area without "
                    "downloading anything: the plan code on the documented Stripe 82 field geometry.")
    ap.add_argument("--objects", type=int, default=10258, help="objects (master table: 10,258)")
    ap.add_argument("--coverages", type=int, nargs="+", default=[80],
                    help="passes over each strip in the selected seasons (DR7: ~80 over all of Stripe 82's 303 runs)")
    ap.add_argument("--chunks", type=int, default=400)
    ap.add_argument("--frame-mb", type=float, default=FRAME_MB)
    ap.add_argument("--bandwidth-mb-s", type=float, default=20.0)
    ap.add_argument("--json", action="store_true", help="print the summaries as JSON")
    args = ap.parse_args(list(argv) if argv is not None else None)
    out = []
    for cov in args.coverages:
        s = estimate_stripe82(args.objects, cov, n_chunks=args.chunks, frame_mb=args.frame_mb,
                              bandwidth_mb_s=args.bandwidth_mb_s)
        out.append(s)
        if not args.json:
            print(f"== {args.objects:,} objects, {cov} passes per strip")
            print(format_summary(s))
            print(f"  (one frame per object x epoch x band, no sharing: {s['naive_object_epoch_band_frames']:,} "
                  f"frames, {s['naive_tb']:.2f} TB)\n")
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
