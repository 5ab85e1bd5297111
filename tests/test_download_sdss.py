"""SDSS-II SN survey download tests: master table (CDS/MRT), window_flist, bz2 corrected frames with an
SDSS-like header/WCS and SMP light curves, served by a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import bz2
import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from transientrepro import download as dl
from transientrepro.sdss import archive as ar
from transientrepro.sdss import fitsio as sf
from conftest import run_snakemake
from test_download_helpers import download_workflow, local_server

pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")

SHAPE = (150, 200)  # (NAXIS2, NAXIS1): small frames for speed; real ones are 1489 x 2048
SCALE = 0.396 / 3600.0

# The first columns of the real byte-by-byte description of master_data.txt (Sako et al. 2018).
MRT_COLUMNS = [
    (1, 5, "I5", "CID", "Candidate ID"),
    (6, 17, "F12.6", "RA", "J2000 Right ascension (degrees)"),
    (18, 28, "F11.6", "DEC", "J2000 Declination (degrees)"),
    (29, 33, "I5", "Nsearchepoch", "? Number of search detections"),
    (34, 46, "A13", "IAUName", "? IAU name"),
    (47, 57, "A11", "Classification", "? Classification"),
    (58, 63, "F6.1", "Peakrmag", "? Measured peak r-band magnitude"),
    (64, 73, "F10.2", "MJDatPeakrmag", "? MJD of measured peak r-band magnitude"),
    (74, 78, "I5", "NepochSNR5", "? Number of detections above S/N=5"),
    (79, 83, "I5", "nSNspec", "? Number of SN spectra"),
    (84, 88, "I5", "nGALspec", "? Number of host galaxy spectra"),
    (89, 98, "F10.6", "zspecHelio", "? Spectroscopic redshift (heliocentric)"),
    (99, 108, "F10.6", "zspecerrHelio", "? Spectroscopic redshift uncertainty (heliocentric)"),
    (109, 118, "F10.6", "zCMB", "? Spectroscopic redshift (CMB)"),
    (119, 128, "F10.6", "zerrCMB", "? Spectroscopic redshift uncertainty (CMB)"),
]


def mrt_master_table(rows: list[dict]) -> bytes:
    lines = [
        "Title:   The Data Release of the Sloan Digital Sky Survey-II Supernova Survey",
        "Authors: Sako, M. et al.",
        "Table:   Master table",
        "=" * 80,
        "Byte-by-byte Description of file: master_data.txt",
        "-" * 80,
        "   Bytes Format Units     Label               Explanations",
        "-" * 80,
    ]
    for a, b, fmt, label, expl in MRT_COLUMNS:
        lines.append(f"{a:>5d}-{b:>4d} {fmt:<6s} ---     {label:<26s} {expl}")
    lines += ["-" * 80, "Note (1):   This is the master datafile corresponding to the columns listed in Table 1.", "-" * 80]
    for r in rows:
        out = ""
        for a, b, fmt, label, _ in MRT_COLUMNS:
            w = b - a + 1
            v = r.get(label)
            if v is None:
                s = " " * w
            elif fmt[0] == "I":
                s = f"{int(v):>{w}d}"
            elif fmt[0] == "F":
                dec = int(fmt.split(".")[1])
                s = f"{float(v):>+{w}.{dec}f}" if label == "DEC" else f"{float(v):>{w}.{dec}f}"
            else:
                s = f"{str(v):>{w}s}"
            assert len(s) == w, (label, s)
            out += s
        lines.append(out)
    return ("\n".join(lines) + "\n").encode()


OBJECTS = [  # CID, RA, DEC, Classification: two on the frames, one off them, one at a frame edge
    dict(CID=679, RA=327.4340, DEC=0.4000, Nsearchepoch=3, IAUName="2005eh", Classification="SNIa",
         Peakrmag=21.8, MJDatPeakrmag=53699.20, zspecHelio=0.124957, zspecerrHelio=0.000017, zCMB=0.123663,
         zerrCMB=0.000017),
    dict(CID=680, RA=327.4400, DEC=0.4050, Nsearchepoch=21, Classification="Variable", Peakrmag=21.6,
         MJDatPeakrmag=53685.10),
    dict(CID=682, RA=331.2395, DEC=0.8452, Nsearchepoch=2, Classification="Unknown"),
    dict(CID=700, RA=327.4340 + 99.5 * SCALE, DEC=0.4000, Nsearchepoch=2, Classification="zSNII"),
]
RA0, DEC0 = 327.4350, 0.4010  # frame centre
EPOCHS = [(5866, 53704.2131), (6281, 54010.1102)]  # (run, MJD) of two SN-survey runs
CAMCOL, FIELD = 2, 101


def frame_header(run: int, mjd: float, band: str) -> fits.Header:
    from astropy.time import Time

    h = fits.Header()
    tai = mjd * 86400.0
    date_obs, taihms = Time(mjd, format="mjd", scale="tai").isot.split("T")
    taihms = taihms[:11]
    cards = [
        ("TAI", round(tai, 2), "1st row - sec since Nov 17 1858"),
        ("RA", RA0, "1st row - RA of telescope boresight (deg)"),
        ("DEC", 0.0, "1st row - Declination of telescope boresight"),
        ("DATE-OBS", date_obs, "1st row - TAI date"),
        ("TAIHMS", taihms, "1st row - TAI time (HH:MM:SS.SS)"),
        ("ORIGIN", "SDSS", ""), ("TELESCOP", "2.5m", ""), ("TIMESYS", "TAI", ""),
        ("RUN", run, "Run number"), ("FRAME", FIELD, "Frame sequence number within the run"),
        ("CAMCOL", CAMCOL, "Column in the imaging camera"), ("STRIPE", 82, ""),
        ("FILTER", band, "filter used"), ("EXPTIME", "53.907456", "Exposure time (seconds)"),
        ("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CUNIT1", "deg", ""), ("CUNIT2", "deg", ""),
        ("CRPIX1", (SHAPE[1] + 1) / 2, ""), ("CRPIX2", (SHAPE[0] + 1) / 2, ""),
        ("CRVAL1", RA0, ""), ("CRVAL2", DEC0, ""),
        # Stripe 82 orientation: RA runs along the frame's y axis, Dec along x (CD1_1 ~ CD2_2 ~ 0)
        ("CD1_1", 1.5e-8, ""), ("CD1_2", SCALE, ""), ("CD2_1", SCALE, ""), ("CD2_2", -1.5e-8, ""),
        ("BUNIT", "nanomaggy", ""), ("NMGY", 0.00488, "Calibration factor [nMgy per count]"),
    ]
    for k, v, c in cards:
        h[k] = (v, c)
    return h


def psf_flux_model(wcs: WCS, ra: float, dec: float, amp: float):
    def f(x, y):
        px, py = wcs.world_to_pixel_values(ra, dec)
        return amp * np.exp(-0.5 * ((x - px) ** 2 + (y - py) ** 2) / 2.0 ** 2)
    return f


def frame_bytes(run: int, mjd: float, band: str, bz2_compress: bool = True) -> bytes:
    h = frame_header(run, mjd, band)
    w = WCS(h)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)
    img = np.zeros(SHAPE, np.float32) + 0.01 * (1 + "ugriz".index(band))
    img += psf_flux_model(w, OBJECTS[0]["RA"], OBJECTS[0]["DEC"], 100.0 + run % 7)(xx, yy).astype(np.float32)
    hdul = fits.HDUList([fits.PrimaryHDU(img, header=h), fits.ImageHDU(np.ones(SHAPE[1], np.float32))])
    buf = io.BytesIO()
    hdul.writeto(buf)
    return bz2.compress(buf.getvalue()) if bz2_compress else buf.getvalue()


def window_flist_bytes() -> bytes:
    cols = [
        fits.Column("RUN", "J", array=[5866, 6281, 5866]),
        fits.Column("RERUN", "3A", array=["301", "301", "301"]),
        fits.Column("CAMCOL", "J", array=[CAMCOL, CAMCOL, 5]),
        fits.Column("FIELD", "J", array=[FIELD, FIELD, 400]),
        fits.Column("RA", "D", array=[RA0, RA0, 10.0]),
        fits.Column("DEC", "D", array=[DEC0, DEC0, -1.0]),
        fits.Column("MJD", "D", array=[53704.2, 54010.1, 53704.2]),
        fits.Column("SCORE", "E", array=[1.0, 0.9, 1.0]),
    ]
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buf)
    return buf.getvalue()


def smp_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for cid in (679, 680):
            text = ("# SDSS-II SN scene-modelling photometry\n# FLAG MJD FILT MAG MAGERR FLUX FLUXERR IDCCD\n"
                    + "".join(f"0 {53700 + k:.4f} {k % 5} 22.1 0.1 {5.0 + k:.3f} 0.800 {CAMCOL}\n" for k in range(6)))
            data = text.encode()
            ti = tarfile.TarInfo(f"SMP_Data/SMP_{cid:06d}.dat")
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def serve_sdss(srv, bands="gr") -> dict:
    srv.add("/sas/dr10/boss/papers/supernova/master_data.txt", mrt_master_table(OBJECTS), content_type="text/plain")
    srv.add("/sas/dr10/boss/papers/supernova/SMP_Data.tar.gz", smp_tarball())
    srv.add("/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits", window_flist_bytes())
    for run, mjd in EPOCHS:
        for b in bands:
            srv.add(f"/sas/dr17/eboss/photoObj/frames/301/{run}/{CAMCOL}/frame-{b}-{run:06d}-{CAMCOL}-{FIELD:04d}.fits.bz2",
                    frame_bytes(run, mjd, b))
    return dict(
        frame_url=srv.base + "/sas/dr17/eboss/photoObj/frames/{rerun}/{run}/{camcol}/"
                             "frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2",
        master_rows=None, rerun="301", bands=list(bands), mjd_range=[53600, 54450], frame_shape=list(SHAPE),
        stamp_size=32, timeout_s=5, retries=1, backoff_s=0.0, keep_frames=True, classifications=[],
        max_objects=None)


def _get(srv, path, dest):
    return dl.download(srv.base + path, dest, timeout=5, retries=0, backoff=0, progress=False)


# --- unit checks ----------------------------------------------------------------------------------
def test_frame_url_matches_the_sas_pattern():
    assert ar.frame_url(2505, 3, 38, "r") == (
        "https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/2505/3/frame-r-002505-3-0038.fits.bz2")
    with pytest.raises(ValueError, match="band 'y'"):
        ar.frame_url(1, 1, 1, "y")


def test_master_table_mrt_parse_and_errors(tmp_path):
    p = tmp_path / "master_data.txt"
    p.write_bytes(mrt_master_table(OBJECTS))
    df = ar.read_master_table(p)
    assert df["CID"].tolist() == [679, 680, 682, 700]
    assert df.loc[0, "Classification"] == "SNIa" and df.loc[0, "IAUName"] == "2005eh"
    assert df.loc[0, "zspecHelio"] == pytest.approx(0.124957) and np.isnan(df.loc[1, "zspecHelio"])
    with pytest.raises(ar.ArchiveError, match="4 rows, expected 10258"):
        ar.read_master_table(p, expected_rows=ar.MASTER_TABLE_ROWS)
    bad = tmp_path / "dup.txt"
    bad.write_bytes(mrt_master_table(OBJECTS + [OBJECTS[0]]))
    with pytest.raises(ar.ArchiveError, match=r"duplicated CID\(s\) \[679\]"):
        ar.read_master_table(bad)
    junk = tmp_path / "junk.txt"
    junk.write_text("<html>503 Service Unavailable</html>\n")
    with pytest.raises(ar.ArchiveError, match="junk.txt: not a readable CDS/MRT"):
        ar.read_master_table(junk)


def test_frame_checks_truncated_bz2_shape_and_time(tmp_path):
    good = frame_bytes(5866, 53704.2131, "r")
    p = tmp_path / "frame-r-005866-2-0101.fits.bz2"
    p.write_bytes(good)
    fr = ar.read_frame(p, shape=SHAPE)
    assert fr.band == "r" and (fr.run, fr.camcol, fr.field) == (5866, CAMCOL, FIELD)
    assert fr.mjd == pytest.approx(53704.2131, abs=1e-6)
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(ar.ArchiveError, match="bzip2 stream is incomplete"):
        ar.read_frame(p, shape=SHAPE)
    p.write_bytes(good)
    with pytest.raises(ar.ArchiveError, match=r"image shape \(150, 200\).*expected \(1489, 2048\)"):
        ar.read_frame(p)  # default: the real frame shape
    h = frame_header(5866, 53704.2, "r")
    del h["TAI"], h["DATE-OBS"]
    buf = io.BytesIO()
    fits.PrimaryHDU(np.zeros(SHAPE, np.float32), header=h).writeto(buf)
    p.write_bytes(bz2.compress(buf.getvalue()))
    with pytest.raises(ar.ArchiveError, match="no usable TAI or DATE-OBS/TAIHMS"):
        ar.read_frame(p, shape=SHAPE)


def test_frame_mjd_from_date_obs_taihms():
    assert ar.frame_mjd({"DATE-OBS": "2002-09-05", "TAIHMS": "07:33:58.57"}) == pytest.approx(
        4537928038.58 / 86400, abs=2e-5)  # the two forms of a real frame header agree


def test_plan_footprint_and_date_filter():
    from transientrepro.sdss import plan as pl

    objs = pd.DataFrame(OBJECTS)
    fields = pd.DataFrame(dict(run=[5866, 6281, 5866], rerun=["301"] * 3, camcol=[2, 2, 5], field=[101, 101, 400],
                               ra=[RA0, RA0, 10.0], dec=[DEC0, DEC0, -1.0], mjd=[53704.2, 54010.1, 53704.2]))
    plan, stats = pl.build_plan(objs, fields, bands=["r"])
    assert sorted(set(plan.object)) == [679, 680, 700] and set(plan.run) == {5866, 6281}
    plan2, stats2 = pl.build_plan(objs, fields, bands=["r"], mjd_range=[53600, 53800])
    assert plan2.run.unique().tolist() == [5866]
    assert stats2["frames"] == 1 and stats2["frames_all_dates"] == 2 and stats2["objects_without_frames"] == 1


# --- end to end against the local server ------------------------------------------------------------
def test_sdss_download_end_to_end(tmp_path):
    res = tmp_path / "resources" / "sdss"
    with local_server() as srv:
        cfg = serve_sdss(srv)
        master = _get(srv, "/sas/dr10/boss/papers/supernova/master_data.txt", res / "archive" / "master_data.txt")
        smp = _get(srv, "/sas/dr10/boss/papers/supernova/SMP_Data.tar.gz", res / "archive" / "SMP_Data.tar.gz")
        flist = _get(srv, "/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits", res / "archive" / "window_flist.fits")
        summary = ar.download_sdss_dataset(res, master_path=master, smp_path=smp, window_flist=flist, frame_list=None,
                                           frame_dir=res / "archive" / "frames", cfg=cfg, progress=False)
        frame_requests = [r for r in srv.requests if "/frames/" in r]
    assert len(frame_requests) == 4  # 2 runs x 2 bands, each fetched once
    assert summary["objects_written"] == 2 and summary["objects_without_stamps"] == 2  # 682 off, 700 at the edge
    cat = sf.read_catalog(res / "catalog.csv")
    assert cat["CID"].tolist() == [679, 680]
    assert cat.set_index("CID").loc[679, "label"] == "SNIa" and cat.set_index("CID").loc[680, "label"] == "Variable"
    assert cat.set_index("CID").loc[679, "PeakMJD"] == pytest.approx(53699.20)
    assert cat.set_index("CID").loc[679, "Nepochs"] == 2
    st = sf.read_stamps(sf.stamp_path(res / "stamps", 679), expected_cid=679, stamp_size=32)
    assert st.images.shape == (4, 32, 32)
    np.testing.assert_allclose(st.mjd, [EPOCHS[0][1]] * 2 + [EPOCHS[1][1]] * 2, atol=1e-6)  # TAI/86400
    assert st.band.tolist() == [2, 3, 2, 3]  # g, r at each epoch
    assert set(st.headers) == {"g", "r"} and st.headers["g"]["FILTER"] == "g"
    w = sf.stamp_wcs(st.headers["r"])
    px, py = w.world_to_pixel_values(OBJECTS[0]["RA"], OBJECTS[0]["DEC"])
    assert (px, py) == pytest.approx((15.5, 15.5), abs=1e-6)
    # pixel values: the Gaussian source of the frame, resampled onto the north-up stamp grid
    img = st.images[1]  # r band, first epoch
    iy, ix = np.unravel_index(np.argmax(img), img.shape)
    assert abs(ix - 15.5) <= 1 and abs(iy - 15.5) <= 1
    fw = WCS(frame_header(EPOCHS[0][0], EPOCHS[0][1], "r"))
    yy, xx = np.mgrid[0:32, 0:32].astype(float)
    sra, sdec = w.pixel_to_world_values(xx, yy)
    fx, fy = fw.world_to_pixel_values(sra, sdec)
    expected = 0.03 + psf_flux_model(fw, OBJECTS[0]["RA"], OBJECTS[0]["DEC"], 100.0 + EPOCHS[0][0] % 7)(fx, fy)
    np.testing.assert_allclose(img, expected, atol=0.03 * expected.max())  # bilinear resampling error
    # orientation: north up (+y) in the stamp is +Dec
    ra_a, dec_a = w.pixel_to_world_values(15.5, 25.5)
    assert dec_a > OBJECTS[0]["DEC"] and ra_a == pytest.approx(OBJECTS[0]["RA"], abs=1e-7)
    lc = sf.read_lightcurves(res / "lightcurves.csv", cids=cat["CID"].to_numpy())
    assert len(lc) == 12 and set(lc.CID) == {679, 680}
    assert sorted((res / "archive" / "frames").rglob("*.fits.bz2"))[0].name == "frame-g-005866-2-0101.fits.bz2"
    # the downloaded layout is accepted by the SDSS ingest (helper B's reader of the simulated layout)
    from transientrepro.sdss.ingest import ingest

    outs = [tmp_path / "ingest" / n for n in ("objects.parquet", "stamps.h5", "lightcurves.parquet")]
    ingest(res / "catalog.csv", res / "stamps", res / "lightcurves.csv", *outs, stamp_size=32, progress=False)
    assert all(p.exists() for p in outs)
    assert pd.read_parquet(outs[0])["CID"].tolist() == [679, 680]


def test_sdss_missing_frame_is_skipped_and_reported(tmp_path):
    res = tmp_path / "sdss"
    with local_server() as srv:
        cfg = serve_sdss(srv, bands="g")
        cfg["bands"] = ["g", "z"]  # z frames are not served: HTTP 404
        master = _get(srv, "/sas/dr10/boss/papers/supernova/master_data.txt", res / "archive" / "master_data.txt")
        flist = _get(srv, "/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits", res / "archive" / "window_flist.fits")
        summary = ar.download_sdss_dataset(res, master_path=master, smp_path=None, window_flist=flist, frame_list=None,
                                           frame_dir=res / "archive" / "frames", cfg=cfg, progress=False)
        z_requests = [r for r in srv.requests if "frame-z-" in r]
    assert summary["frames_bad"] == 2 and summary["frames_ok"] == 2
    names = sorted(b["frame"] for b in summary["bad_frames"])
    assert names == ["frame-z-005866-2-0101", "frame-z-006281-2-0101"]
    assert all("HTTP 404" in b["reason"] for b in summary["bad_frames"])
    assert len(z_requests) == 2  # a 404 is not retried
    st = sf.read_stamps(sf.stamp_path(res / "stamps", 679))
    assert st.band.tolist() == [2, 2]  # g at both epochs; the bad z frames left no stamp
    assert not list((res / "archive" / "frames").rglob("frame-z-*"))


def test_sdss_corrupt_frame_rejected_before_move(tmp_path):
    with local_server() as srv:
        path = "/frame-r-005866-2-0101.fits.bz2"
        srv.add(path, frame_bytes(5866, 53704.2, "r")[:-50])  # complete HTTP transfer of a cut bz2 file
        dest = tmp_path / "frame-r-005866-2-0101.fits.bz2"
        with pytest.raises(ar.ArchiveError, match="bzip2 stream is incomplete"):
            dl.download(srv.base + path, dest, timeout=5, retries=0, progress=False,
                        validate=lambda tmp: ar.validate_frame_file(tmp, dest.name, SHAPE))
    assert list(tmp_path.iterdir()) == []


def test_frame_list_csv_instead_of_window_flist(tmp_path):
    res = tmp_path / "sdss"
    fl = tmp_path / "frames.csv"
    fl.write_text(f"cid,run,camcol,field,mjd\n679,{EPOCHS[0][0]},{CAMCOL},{FIELD},{EPOCHS[0][1]}\n")
    with local_server() as srv:
        cfg = serve_sdss(srv, bands="r")
        master = _get(srv, "/sas/dr10/boss/papers/supernova/master_data.txt", res / "master_data.txt")
        summary = ar.download_sdss_dataset(res, master_path=master, smp_path=None, window_flist=None, frame_list=fl,
                                           frame_dir=res / "frames", cfg=cfg, progress=False)
    assert summary["frames"] == 1 and summary["objects_written"] == 1
    st = sf.read_stamps(sf.stamp_path(res / "stamps", 679))
    assert st.images.shape == (1, 32, 32) and st.band.tolist() == [3]
    undated = tmp_path / "undated.csv"
    undated.write_text(f"cid,run,camcol,field\n679,{EPOCHS[0][0]},{CAMCOL},{FIELD}\n")
    from transientrepro.sdss.plan import PlanError

    with pytest.raises(PlanError, match="no observation date for 1 of 1 fields.*run 5866.*Refusing to plan"):
        ar.download_sdss_dataset(res, master_path=res / "master_data.txt", smp_path=None, window_flist=None,
                                 frame_list=undated, frame_dir=res / "frames2", cfg=cfg, progress=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("run,camcol\n1,1\n")
    with pytest.raises(ar.ArchiveError, match=r"lacks column\(s\) \['field'\]"):
        ar.read_frame_list(bad)


def test_smp_parse_errors():
    with pytest.raises(ar.ArchiveError, match="FILT '7' not in 0..4"):
        ar.parse_smp_file("# MJD FILT FLUX FLUXERR\n53700.1 7 1.0 0.1\n", where="SMP_000001.dat")
    with pytest.raises(ar.ArchiveError, match=r"column\(s\) \['FLUXERR'\] missing"):
        ar.parse_smp_file("# MJD FILT FLUX\n53700.1 1 1.0\n")


@pytest.mark.slow
def test_download_sdss_rules_via_snakemake(tmp_path):
    """download_sdss_file (x3) + sdss_plan + sdss_frames_chunk (x n_chunks) + sdss_frames_gather through
    Snakemake against the local server."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    with local_server() as srv:
        arch = serve_sdss(srv)
        cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
        cfg["sdss"]["source"] = "sdss"
        arch.update(release_url=srv.base + "/sas/dr10/boss/papers/supernova/",
                    window_flist_url=srv.base + "/sas/dr9/env/PHOTO_RESOLVE/window_flist.fits", rule_retries=0)
        cfg["sdss"]["archive"].update(arch)
        download_workflow(tmp_path, "f'{SDSS_RAW}/catalog.csv'", cfg)
        proc = run_snakemake(["--cores", "2", "--configfile", "cfg.yaml", "--nolock", "--quiet", "rules"],
                             cwd=tmp_path, timeout=240)
        assert proc.returncode == 0, proc.stderr[-6000:]
    res = tmp_path / "resources" / "sdss"
    assert sf.read_catalog(res / "catalog.csv")["CID"].tolist() == [679, 680]
    assert sf.read_stamps(sf.stamp_path(res / "stamps", 680), expected_cid=680).images.shape == (4, 32, 32)
    assert len(sf.read_lightcurves(res / "lightcurves.csv")) == 12
    import json

    summary = json.loads((res / "archive" / "download_summary.json").read_text())
    assert summary["frames_done"] == 4 and summary["objects_written"] == 2
    assert summary["chunks"] == cfg["sdss"]["archive"]["n_chunks"]  # some chunks are empty: still fine
    assert (tmp_path / "benchmarks" / "download" / "sdss_frames_gather.tsv").exists()


def test_test_frames_carry_consistent_time_keywords():
    h = frame_header(5866, 53704.2131, "g")
    assert ar.frame_mjd(h) == pytest.approx(ar.frame_mjd({"DATE-OBS": h["DATE-OBS"], "TAIHMS": h["TAIHMS"]}), abs=1e-6)
