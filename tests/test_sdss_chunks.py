"""The SDSS download plan and the chunk jobs, against a real HTTP server on 127.0.0.1 serving frames in
the real format (bzip2'ed FITS, TAN WCS, TAI): plan, dates, seasons, overlapping fields, a chunk killed
and resumed, bad frames, parallel chunk jobs through Snakemake."""
from __future__ import annotations

import bz2
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from transientrepro import download as dl
from transientrepro.sdss import archive as ar
from transientrepro.sdss import chunks as ch
from transientrepro.sdss import fitsio as sf
from transientrepro.sdss import plan as pl
from conftest import run_snakemake
from test_download_helpers import download_workflow, local_server
from test_download_sdss import (CAMCOL, DEC0, FIELD, OBJECTS, RA0, SCALE, SHAPE, frame_bytes, frame_header,
                                mrt_master_table, psf_flux_model)

pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")

RUNS = [(5866, 53704.2131), (6281, 54010.1102), (6283, 54012.0410), (5872, 53690.1500), (2700, 52000.1)]
IN_SEASON = RUNS[:4]  # run 2700 (2001) lies outside the SN survey seasons
SEASONS = [[53613, 53705], [53978, 54070], [54343, 54435]]
URL = "/sas/dr17/eboss/photoObj/frames/301/{run}/{camcol}/frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2"


def frame_path(run, band, field=FIELD, camcol=CAMCOL):
    return URL.format(run=run, band=band, field=field, camcol=camcol)


def window_flist(runs=RUNS, fields=(FIELD,), tai=True, mjd=True, extra=None) -> bytes:
    rows = [(r, m, f) for r, m in runs for f in fields]
    cols = [fits.Column("RUN", "J", array=[r for r, _, _ in rows]),
            fits.Column("RERUN", "3A", array=["301"] * len(rows)),
            fits.Column("CAMCOL", "J", array=[CAMCOL] * len(rows)),
            fits.Column("FIELD", "J", array=[f for _, _, f in rows]),
            fits.Column("RA", "D", array=[RA0 + (f - FIELD) * 100 * SCALE for _, _, f in rows]),
            fits.Column("DEC", "D", array=[DEC0] * len(rows))]
    if mjd:
        cols.append(fits.Column("MJD", "J", array=[int(m) for _, m, _ in rows]))
    if tai:  # TAI[5]: the bands are read 0..4 x ~72 s apart in the real camera
        cols.append(fits.Column("TAI", "5D", array=[[(m + k * 72 / 86400) * 86400 for k in range(5)]
                                                     for _, m, _ in rows]))
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols + (extra or []))]).writeto(buf)
    return buf.getvalue()


def frame_bytes_field(run, mjd, band, field) -> bytes:
    """A frame of ``field``: the frames of one run/camcol step 100 rows in RA (50 rows of overlap here)."""
    from astropy.wcs import WCS

    h = frame_header(run, mjd, band)
    h["FRAME"] = field
    h["CRVAL1"] = RA0 + (field - FIELD) * 100 * SCALE
    w = WCS(h)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)
    img = np.zeros(SHAPE, np.float32) + 0.02
    for o in OBJECTS:
        img += psf_flux_model(w, o["RA"], o["DEC"], 50.0 + run % 5)(xx, yy).astype(np.float32)
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(img, header=h)]).writeto(buf)
    return bz2.compress(buf.getvalue())


def objects_df(objs=OBJECTS) -> pd.DataFrame:
    return pd.DataFrame(objs)[["CID", "RA", "DEC", "Classification"]]


def cfg(srv, **kw) -> dict:
    c = dict(frame_url=srv.base + URL.replace("301", "{rerun}"), master_rows=None, rerun="301", bands=["g", "r"],
             mjd_range=[53600, 54450], seasons=SEASONS, frame_shape=list(SHAPE), stamp_size=32, timeout_s=5,
             retries=1, backoff_s=0.0, keep_frames=False, classifications=[], max_objects=None, n_chunks=2,
             max_bad_fraction=0.5, frame_mb=3.0, bandwidth_mb_s=10.0)
    c.update(kw)
    return c


def serve_frames(srv, runs=RUNS, bands="gr", **route_kw):
    for run, mjd in runs:
        for b in bands:
            srv.add(frame_path(run, b), frame_bytes(run, mjd, b), **route_kw)


def make_plan(tmp_path, srv, objs=OBJECTS, **kw):
    flist = tmp_path / "window_flist.fits"
    flist.write_bytes(window_flist())
    return pl.make_plan(objects_df(objs), cfg(srv, **kw), window_flist=flist)


def run(plan, out, srv, frames, **kw):
    c = cfg(srv)
    return ch.run_chunk(plan, objects_df(), out, frames, fetch=kw.pop("fetch", ar.frame_fetcher(c)), stamp_size=32,
                        shape=SHAPE, mjd_range=c["mjd_range"], seasons=SEASONS, frame_url_template=c["frame_url"],
                        progress=False, chunk=0, **kw)


def outputs(d: Path):
    return np.load(d / "stamps.npy"), pd.read_parquet(d / "stamps.parquet")


# --- the plan ---------------------------------------------------------------------------------------
def test_plan_csv_chunks_and_summary(tmp_path):
    with local_server() as srv:
        plan, summary = make_plan(tmp_path, srv, n_chunks=2)
        assert srv.requests == []  # planning downloads nothing
    # 4 in-season runs x 2 bands; the 2001 run is dropped by the seasons; objects 679, 680, 700 on the field
    assert list(plan.columns) == list(pl.PLAN_COLUMNS)
    assert summary["frames"] == 8 and summary["frames_all_dates"] == 10 and summary["frames_avoided_by_date_filter"] == 2
    assert sorted(plan["object"].unique()) == [679, 680, 700] and summary["objects_without_frames"] == 1
    assert summary["stamps_planned"] == 3 * 8 == len(plan)
    assert summary["estimated_bytes"] == 8 * 3_000_000 and summary["estimated_hours"] == pytest.approx(24e6 / 10e6 / 3600, abs=0.01)
    assert summary["date_sources"] == ["window_flist TAI"]
    # per band dates: r is read 72 s after g in the real camera, so the plan carries the TAI of each band
    g, r = (plan[(plan.run == 5866) & (plan.band == b)]["mjd"].iloc[0] for b in "gr")
    assert (r - g) * 86400 == pytest.approx(72, abs=1e-3)
    # chunks: whole run/camcols, balanced (4 run/camcols of 2 frames each -> 2 per chunk)
    assert plan.groupby(["run", "camcol"])["chunk"].nunique().max() == 1
    assert summary["frames_per_chunk"] == {"min": 4, "median": 4.0, "max": 4}
    paths = [tmp_path / f"chunk_{i}.csv" for i in range(3)]
    pl.write_plan(plan, tmp_path / "plan.csv", paths)
    back = pl.read_plan(tmp_path / "plan.csv")
    assert len(back) == len(plan) and set(back.columns) >= set(pl.PLAN_COLUMNS)
    assert sum(len(pl.read_plan(p)) for p in paths) == len(plan) and len(pl.read_plan(paths[2])) == 0
    text = pl.format_summary(summary)
    assert re.search(r"frames to download\s+8\s", text) and "TB" in text and "h    at 10 MB/s" in text


def test_plan_dates_from_mjd_or_run_list_or_stop(tmp_path):
    objs = objects_df()
    # window_flist with only the coarse MJD column
    p = tmp_path / "wf_mjd.fits"
    p.write_bytes(window_flist(tai=False))
    plan, s = pl.make_plan(objs, {"bands": ["r"], "mjd_range": [53600, 54450]}, window_flist=p)
    assert s["date_sources"] == ["window_flist MJD"] and set(plan.run) == {5866, 6281, 6283, 5872}
    # no date column at all: the run list (photoRunAll: MJD_REF at FIELD_REF, 36 s per field) dates the fields
    p2 = tmp_path / "wf_nodate.fits"
    p2.write_bytes(window_flist(tai=False, mjd=False))
    with pytest.raises(pl.PlanError, match=r"no observation date for 5 of 5 fields.*run_list_url"):
        pl.make_plan(objs, {"bands": ["r"], "mjd_range": [53600, 54450]}, window_flist=p2)
    runs = fits.BinTableHDU.from_columns([
        fits.Column("RUN", "I", array=[r for r, _ in RUNS]), fits.Column("RERUN", "3A", array=["301"] * len(RUNS)),
        fits.Column("MJD", "J", array=[int(m) for _, m in RUNS]),
        fits.Column("MJD_REF", "D", array=[m - 10 * 36 / 86400 for _, m in RUNS]),
        fits.Column("FIELD_REF", "J", array=[FIELD - 10] * len(RUNS))])
    rl = tmp_path / "photoRunAll-dr10.fits"
    fits.HDUList([fits.PrimaryHDU(), runs]).writeto(rl)
    plan, s = pl.make_plan(objs, {"bands": ["r"], "mjd_range": [53600, 54450], "seasons": SEASONS},
                           window_flist=p2, run_list=rl)
    assert s["date_sources"] == ["run list"] and set(plan.run) == {5866, 6281, 6283, 5872}
    assert plan[plan.run == 5866]["mjd"].iloc[0] == pytest.approx(53704.2131, abs=1e-6)
    # a run the run list does not know is still an error
    rl2 = tmp_path / "runs.csv"
    rl2.write_text("run,mjd\n5866,53704\n")
    with pytest.raises(pl.PlanError, match="no observation date for 4 of 5 fields"):
        pl.make_plan(objs, {"bands": ["r"]}, window_flist=p2, run_list=rl2)


def test_plan_uses_frame_geometry_when_window_flist_has_it(tmp_path):
    """With NODE/INCL/MU/NU an object in the gap between camcols is not planned (the centre-distance
    test alone would plan it); one just inside the frame is."""
    half_w = SHAPE[1] / 2 * SCALE  # the test frames are 200 columns wide across the scan (Dec)
    half_l = 100 / 2 * SCALE  # and fields step 100 rows along it
    objs = objects_df([dict(CID=1, RA=RA0, DEC=DEC0 + half_w - 20 * SCALE, Classification="SNIa"),
                       dict(CID=2, RA=RA0, DEC=DEC0 + half_w + 30 * SCALE, Classification="SNIa")])
    fields = pd.DataFrame(dict(run=[5866], rerun=["301"], camcol=[CAMCOL], field=[FIELD], ra=[RA0], dec=[DEC0],
                               mjd=[53704.2]))
    plan0, _ = pl.build_plan(objs, fields, bands=["r"])
    assert sorted(plan0.object) == [1, 2]  # centre distance only
    geo = fields.assign(node=95.0, incl=0.0, mu_start=RA0 - half_l, mu_end=RA0 + half_l, nu_start=DEC0 - half_w,
                        nu_end=DEC0 + half_w)
    plan1, _ = pl.build_plan(objs, geo, bands=["r"])
    assert sorted(plan1.object) == [1]
    mu, nu = pl.radec_to_munu(np.array([10.0, 350.0]), np.array([0.5, -0.5]), 95.0, 0.0)
    np.testing.assert_allclose(mu, [10.0, 350.0])
    np.testing.assert_allclose(nu, [0.5, -0.5])


def test_stripe82_estimate_counts_shared_frames():
    s = pl.estimate_stripe82(300, 3, n_chunks=4, bands=["r"])
    # 300 objects x 3 passes per strip; some objects lie in both strips' overlap, so >= 300 x 3 stamps,
    # and far fewer frames than stamps would need without sharing only if objects share fields
    assert s["objects_with_frames"] == 300
    assert s["stamps_planned"] >= 900 and s["frames"] <= s["stamps_planned"]
    assert s["duplicate_fields_dropped"] > 0  # the overlap of consecutive fields
    assert s["naive_object_epoch_band_frames"] == 900


# --- chunk jobs -------------------------------------------------------------------------------------
def test_chunk_killed_and_resumed_gives_identical_stamps(tmp_path):
    class Killed(BaseException):
        pass

    with local_server() as srv:
        serve_frames(srv, ranges=True)
        plan, _ = make_plan(tmp_path, srv, n_chunks=1)
        ref = run(plan, tmp_path / "ref", srv, tmp_path / "frames_ref")
        srv.requests.clear()
        srv.headers.clear()
        fetch = ar.frame_fetcher(cfg(srv))
        calls = []

        def dying_fetch(url, dest):
            fetch(url, dest)
            calls.append(url)
            if len(calls) == 3:
                raise Killed()  # killed after the 3rd download, before its stamps were cut

        with pytest.raises(Killed):
            run(plan, tmp_path / "killed", srv, tmp_path / "frames", fetch=dying_fetch)
        work = tmp_path / "killed" / "work"
        assert len((work / "journal.jsonl").read_text().splitlines()) == 2
        assert not (tmp_path / "killed" / "stamps.npy").exists()
        # a kill in the middle of a write: half a stamp and half a journal line
        with open(work / "stamps.f32", "ab") as f:
            f.write(b"\x00" * 1000)
        with open(work / "journal.jsonl", "a") as f:
            f.write('{"frame": "frame-r-0')
        summary = run(plan, tmp_path / "killed", srv, tmp_path / "frames")
        frame_gets = [p for p in srv.requests if "/frames/" in p]
    assert summary["frames_done_before_resume"] == 2 and summary["frames_fetched"] == 5
    assert summary["frames_reused_on_disk"] == 1  # the frame downloaded just before the kill
    assert sorted(frame_gets) == sorted(set(frame_gets)) and len(frame_gets) == 8  # no frame fetched twice
    a_img, a_meta = outputs(tmp_path / "ref")
    b_img, b_meta = outputs(tmp_path / "killed")
    np.testing.assert_array_equal(a_img, b_img)
    pd.testing.assert_frame_equal(a_meta, b_meta)
    assert ref["stamps"] == summary["stamps"] == len(b_img) == 2 * 8  # 679, 680 on every frame; 700 off the edge
    assert summary["stamps_off_frame"] == 8
    assert not work.exists() and not list((tmp_path / "frames").rglob("*.bz2"))  # frames deleted after cutting


def test_chunk_killed_by_sigkill_resumes(tmp_path):
    """A real kill (SIGKILL of the process) mid-chunk; the re-run finishes without re-fetching a frame
    the journal records, with the same stamps as an uninterrupted run."""
    with local_server() as srv:
        serve_frames(srv, ranges=True, delay=0.4)
        plan, _ = make_plan(tmp_path, srv, n_chunks=1)
        plan_csv = tmp_path / "plan.csv"
        plan.to_csv(plan_csv, index=False)
        objects_df().to_csv(tmp_path / "objects.csv", index=False)
        (tmp_path / "cfg.json").write_text(json.dumps(cfg(srv)))
        script = f"""
import json, sys, pandas as pd
from transientrepro.sdss import archive as ar, chunks as ch
from transientrepro.sdss.plan import read_plan
c = json.load(open({str(tmp_path / 'cfg.json')!r}))
ch.run_chunk(read_plan({str(plan_csv)!r}), pd.read_csv({str(tmp_path / 'objects.csv')!r}), {str(tmp_path / 'out')!r},
             {str(tmp_path / 'frames')!r}, fetch=ar.frame_fetcher(c), shape=tuple(c['frame_shape']),
             mjd_range=c['mjd_range'], seasons=c['seasons'], frame_url_template=c['frame_url'], progress=False, chunk=0)
"""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                           os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.Popen([sys.executable, "-c", script], env=env)
        journal = tmp_path / "out" / "work" / "journal.jsonl"
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if journal.exists() and len(journal.read_text().splitlines()) >= 3:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        done = [json.loads(ln)["frame"] for ln in journal.read_text().splitlines() if ln.endswith("}")]
        assert 3 <= len(done) < 8
        before = list(srv.requests)
        summary = run(plan, tmp_path / "out", srv, tmp_path / "frames")
        after = srv.requests[len(before):]
        ref = run(plan, tmp_path / "ref", srv, tmp_path / "frames_ref")
    assert summary["frames_done_before_resume"] == len(done)
    assert not any(name in p for p in after for name in done)  # journaled frames are not fetched again
    np.testing.assert_array_equal(outputs(tmp_path / "out")[0], outputs(tmp_path / "ref")[0])
    assert ref["stamps"] == summary["stamps"]


def test_overlapping_fields_one_stamp_per_object_band_epoch(tmp_path):
    """Consecutive fields of a run overlap (here 50 of 150 rows): an object in the overlap lies on both
    frames of the same exposure. The plan keeps the field nearest the object; a frame list naming both
    fields is de-duplicated by the chunk, keeping the stamp farther from the frame edge."""
    obj = dict(CID=900, RA=RA0 + 45 * SCALE, DEC=DEC0 + 5 * SCALE, Classification="SNIa")  # rows ~120 of 101, ~20 of 102
    objs = [obj]
    runs = RUNS[:2]
    with local_server() as srv:
        for r, m in runs:
            for f in (FIELD, FIELD + 1):
                for b in "gr":
                    srv.add(frame_path(r, b, field=f), frame_bytes_field(r, m, b, f))
        flist = tmp_path / "wf.fits"
        flist.write_bytes(window_flist(runs=runs, fields=(FIELD, FIELD + 1)))
        plan, s = pl.make_plan(objects_df(objs), cfg(srv), window_flist=flist)
        assert s["duplicate_fields_dropped"] == 2  # one per run
        assert set(plan.field) == {FIELD} and len(plan) == 2 * 2  # 2 epochs x 2 bands, nearest field only
        # a frame list naming both fields (no plan de-duplication): the chunk keeps one stamp per band and epoch
        both = pd.DataFrame([dict(object=900, run=r, camcol=CAMCOL, field=f, band=b, rerun="301", mjd=m, chunk=0)
                             for r, m in runs for f in (FIELD, FIELD + 1) for b in "gr"])
        summary = ch.run_chunk(both, objects_df(objs), tmp_path / "chunk", tmp_path / "frames",
                               fetch=ar.frame_fetcher(cfg(srv)), shape=SHAPE, frame_url_template=cfg(srv)["frame_url"],
                               progress=False, chunk=0)
    img, meta = outputs(tmp_path / "chunk")
    assert summary["stamps_cut"] == 8 and summary["duplicate_stamps_dropped"] == 4 and len(img) == 4
    assert set(meta.field) == {FIELD}  # field 101: the object is ~30 rows from its edge, ~20 from 102's
    assert meta.groupby(["cid", "band", "run"]).size().max() == 1


def test_bad_frames_skipped_named_and_counted(tmp_path):
    with local_server() as srv:
        serve_frames(srv)
        good = frame_bytes(6281, 54010.1102, "g")
        srv.add(frame_path(6281, "g"), good[: len(good) // 2])  # complete transfer of a cut bzip2 file
        del srv.routes[frame_path(6283, "r")]  # 404
        plan, _ = make_plan(tmp_path, srv, n_chunks=1)
        summary = run(plan, tmp_path / "c0", srv, tmp_path / "frames")
        gets_404 = srv.requests.count(frame_path(6283, "r"))
        gathered = ch.gather_chunks([tmp_path / "c0"], objects_df(), tmp_path / "layout", lightcurves=None,
                                    progress=False)
        ch.write_bad_frames(gathered, tmp_path / "bad_frames.csv")
    assert summary["frames_bad"] == 2 and summary["frames_ok"] == 6
    bad = {b["frame"]: b["reason"] for b in summary["bad_frames"]}
    assert set(bad) == {"frame-g-006281-2-0101", "frame-r-006283-2-0101"}
    assert "bzip2 stream is incomplete" in bad["frame-g-006281-2-0101"]
    assert "HTTP 404" in bad["frame-r-006283-2-0101"] and gets_404 == 1
    assert summary["stamps"] == 2 * 6
    csv = pd.read_csv(tmp_path / "bad_frames.csv")
    assert sorted(csv.frame) == sorted(bad) and list(csv.columns) == ["chunk", "frame", "reason"]
    assert gathered["frames_bad"] == 2 and gathered["objects_written"] == 2
    st = sf.read_stamps(sf.stamp_path(tmp_path / "layout" / "stamps", 679))
    assert len(st.images) == 6 and np.all(np.diff(st.mjd) >= 0)
    assert not list((tmp_path / "frames").rglob("*.bz2"))


def test_too_many_bad_frames_stop_the_chunk_and_the_network_down_is_fatal(tmp_path):
    with local_server() as srv:
        serve_frames(srv)
        for run_, _ in (RUNS[0], RUNS[3]):  # runs 5866 and 5872 come first in the chunk's order
            del srv.routes[frame_path(run_, "g")]
            del srv.routes[frame_path(run_, "r")]
        plan, _ = make_plan(tmp_path, srv, n_chunks=1)
        with pytest.raises(ch.ChunkError, match=r"4 of 4 frames bad"):
            run(plan, tmp_path / "c", srv, tmp_path / "frames", max_bad_fraction=0.5, min_frames_for_bad_check=4)
        assert len((tmp_path / "c" / "work" / "journal.jsonl").read_text().splitlines()) == 4
    # the server is gone (connection refused): not a bad frame, the job stops and journals nothing
    with pytest.raises(dl.DownloadError, match="failed after"):
        run(plan, tmp_path / "c", srv, tmp_path / "frames", max_bad_fraction=1.0)
    assert len((tmp_path / "c" / "work" / "journal.jsonl").read_text().splitlines()) == 4


def test_network_down_is_fatal_not_a_bad_frame():
    assert not ch._is_bad_frame_error(dl.DownloadError("download of x failed after 4 attempt(s): URLError"))
    assert not ch._is_bad_frame_error(dl.HTTPDownloadError("HTTP 503", status=503))
    assert ch._is_bad_frame_error(dl.HTTPDownloadError("HTTP 404", status=404))
    assert ch._is_bad_frame_error(ar.ArchiveError("bzip2 stream is incomplete"))


def test_gather_matches_a_single_chunk(tmp_path):
    """Two chunk jobs gathered give the same layout as one chunk doing all frames."""
    with local_server() as srv:
        serve_frames(srv)
        plan, _ = make_plan(tmp_path, srv, n_chunks=2)
        for i in range(2):
            run(plan[plan.chunk == i], tmp_path / f"c{i}", srv, tmp_path / "frames")
        run(plan.assign(chunk=0), tmp_path / "all", srv, tmp_path / "frames")
    ch.gather_chunks([tmp_path / "c0", tmp_path / "c1"], objects_df(), tmp_path / "two", lightcurves=None,
                     progress=False)
    ch.gather_chunks([tmp_path / "all"], objects_df(), tmp_path / "one", lightcurves=None, progress=False)
    for cid in (679, 680):
        a = sf.read_stamps(sf.stamp_path(tmp_path / "two" / "stamps", cid))
        b = sf.read_stamps(sf.stamp_path(tmp_path / "one" / "stamps", cid))
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.mjd, b.mjd)
    pd.testing.assert_frame_equal(sf.read_catalog(tmp_path / "two" / "catalog.csv"),
                                  sf.read_catalog(tmp_path / "one" / "catalog.csv"))


# --- through Snakemake: the plan target alone, then parallel chunk jobs ------------------------------
@pytest.mark.slow
def test_plan_target_and_parallel_chunk_jobs_via_snakemake(tmp_path):
    import yaml

    from test_download_sdss import smp_tarball

    repo = Path(__file__).resolve().parents[1]
    with local_server() as srv:
        serve_frames(srv, delay=0.3)
        srv.add("/sn/master_data.txt", mrt_master_table(OBJECTS), content_type="text/plain")
        srv.add("/sn/SMP_Data.tar.gz", smp_tarball())
        srv.add("/wf/window_flist.fits", window_flist())
        config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
        config["sdss"]["source"] = "sdss"
        config["sdss"]["archive"].update(cfg(srv), release_url=srv.base + "/sn/",
                                         window_flist_url=srv.base + "/wf/window_flist.fits", rule_retries=0)
        download_workflow(tmp_path, "f'{SDSS_RAW}/catalog.csv'", config)
        args = ["--cores", "2", "--configfile", "cfg.yaml", "--nolock"]
        plan_run = run_snakemake(["sdss_plan", *args], cwd=tmp_path, timeout=240)
        assert plan_run.returncode == 0, plan_run.stderr[-4000:]
        assert "SDSS frame download plan" in plan_run.stdout and "frames to download" in plan_run.stdout
        assert not any("/frames/" in r for r in srv.requests)  # the plan alone fetches no frame
        full = run_snakemake([*args, "--quiet", "rules"], cwd=tmp_path, timeout=300)
        assert full.returncode == 0, full.stderr[-6000:]
        frame_gets = [r for r in srv.requests if "/frames/" in r]
    arch = tmp_path / "resources" / "sdss" / "archive"
    sums = [json.loads((arch / "chunks" / f"chunk_{i}" / "summary.json").read_text()) for i in range(2)]
    assert all(s["frames_done"] == 4 for s in sums) and len(frame_gets) == len(set(frame_gets)) == 8
    # the two chunk jobs ran at the same time (2 cores): their working intervals overlap
    assert max(s["started_at"] for s in sums) < min(s["finished_at"] for s in sums)
    summary = json.loads((arch / "download_summary.json").read_text())
    assert summary["chunks"] == 2 and summary["stamps"] == 16 and summary["frames_bad"] == 0
    # the gathered layout feeds the unchanged SDSS ingest
    from transientrepro.sdss.ingest import ingest

    res = tmp_path / "resources" / "sdss"
    outs = [tmp_path / "ingest" / n for n in ("objects.parquet", "stamps.h5", "lightcurves.parquet")]
    s = ingest(res / "catalog.csv", res / "stamps", res / "lightcurves.csv", *outs, progress=False)
    assert s["n_objects"] == 2 and s["n_images"] == 16
    assert (tmp_path / "benchmarks" / "download" / "sdss_frames_chunk_1.tsv").exists()


def test_run_list_read_by_content_and_downloaded_resumably(tmp_path):
    """The run list is validated while still named .<name>.part: FITS is recognised by content."""
    hdu = fits.BinTableHDU.from_columns([fits.Column("RUN", "I", array=[5866]), fits.Column("MJD", "J", array=[53704])])
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    with local_server() as srv:
        url = srv.add("/photoRunAll-dr10.fits", buf.getvalue(), ranges=True, reset_after=3000, resets=1)
        out = dl.download(url, tmp_path / "photoRunAll-dr10.fits", timeout=5, retries=1, backoff=0, progress=False,
                          validate=pl.read_run_list)
    rl = pl.read_run_list(out)
    assert rl["run"].tolist() == [5866] and rl["mjd"].tolist() == [53704]
    bad = tmp_path / "runs.csv"
    bad.write_text("run,camcol\n1,1\n")
    with pytest.raises(ar.ArchiveError, match="needs columns run and mjd"):
        pl.read_run_list(bad)
