"""SDSS ingest round-trip, validation errors, partition and Table 1/5 summaries."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from transientrepro.gp_store import LazyRows
from transientrepro.sdss.fitsio import SdssDataError, read_stamps, stamp_path, write_stamps
from transientrepro.sdss.ingest import ingest, load_stamps
from transientrepro.sdss.stamp_store import load_stamp_arrays
from transientrepro.sdss.partition import assign_partitions, partition
from transientrepro.sdss.simulate import SimConfig, simulate
from transientrepro.sdss.summary import class_counts_table, partition_counts_table

N = 40


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdss_raw")
    simulate(SimConfig(seed=3, n_objects=N, stamp_size=32, min_per_class=3), out, progress=False)
    return out


def _run(raw, out, **kw):
    return ingest(raw / "catalog.csv", raw / "stamps", raw / "lightcurves.csv", out / "objects.parquet",
                  out / "stamps.h5", out / "lightcurves.parquet", progress=False, **kw)


@pytest.fixture(scope="module")
def ingested(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("sdss_ingest")
    summary = _run(raw, out, stamp_size=32)
    return out, summary


def _copy(raw, tmp_path):
    dst = tmp_path / "raw"
    shutil.copytree(raw, dst)
    return dst


def test_roundtrip(raw, ingested):
    out, summary = ingested
    objects = pd.read_parquet(out / "objects.parquet")
    d = load_stamp_arrays(out / "stamps.h5")
    assert isinstance(load_stamps(out / "stamps.h5")["images"], LazyRows)  # read lazily
    assert set(d) == {"images", "obj_index", "mjd", "band", "offsets", "cid"}
    assert d["images"].dtype == np.float32 and d["images"].shape[1:] == (32, 32)
    assert d["obj_index"].dtype == np.int32 and d["band"].dtype == np.int8 and d["offsets"].dtype == np.int64
    assert d["mjd"].dtype == np.float64 and d["cid"].dtype == np.int64
    off = d["offsets"]
    assert off[0] == 0 and off[-1] == len(d["images"]) == summary["n_images"]
    assert np.array_equal(d["cid"], objects["CID"].to_numpy()) and len(off) == len(objects) + 1
    assert set(np.unique(d["band"])) <= {1, 2, 3, 4, 5}
    assert np.all(np.any(d["images"] != 0, axis=(1, 2)))  # no empty images
    assert np.array_equal(np.diff(off), objects["n_images"].to_numpy())
    for j in range(len(objects)):
        sl = slice(off[j], off[j + 1])
        assert np.all(d["obj_index"][sl] == j)
        key = d["mjd"][sl] * 10 + d["band"][sl]
        assert np.all(np.diff(d["mjd"][sl]) >= 0) and np.all(np.diff(key) > 0)
    # identical to what the FITS reader returns
    j = 5
    st = read_stamps(stamp_path(raw / "stamps", objects["CID"][j]))
    np.testing.assert_array_equal(d["images"][off[j]:off[j + 1]], st.images)
    np.testing.assert_array_equal(d["band"][off[j]:off[j + 1]], st.band)
    lc = pd.read_parquet(out / "lightcurves.parquet")
    assert list(lc.columns) == ["CID", "mjd", "band", "flux", "flux_err"]
    assert len(lc) == len(d["images"]) and lc["band"].between(1, 5).all()


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_missing_and_corrupt_fits(raw, tmp_path):
    r = _copy(raw, tmp_path)
    cids = pd.read_csv(r / "catalog.csv")["CID"].tolist()
    stamp_path(r / "stamps", cids[0]).unlink()
    with pytest.raises(SdssDataError, match=rf"{cids[0]}\.fits: stamp file not found"):
        _run(r, tmp_path / "o1")
    stamp_path(r / "stamps", cids[0]).write_bytes(b"this is not a FITS file" * 100)
    with pytest.raises(SdssDataError, match=rf"{cids[0]}\.fits: cannot open as FITS"):
        _run(r, tmp_path / "o2")
    assert not (tmp_path / "o2" / "stamps.h5").exists()  # nothing half-written
    assert not [p for p in (tmp_path / "o2").iterdir() if "stamps" in p.name]  # no temporary file either
    good = stamp_path(raw / "stamps", cids[1]).read_bytes()
    stamp_path(r / "stamps", cids[0]).unlink()
    stamp_path(r / "stamps", cids[1]).write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(SdssDataError, match=rf"{cids[1]}\.fits \(CID {cids[1]}\): HDU \d .*unreadable data"):
        read_stamps(stamp_path(r / "stamps", cids[1]))


def test_wrong_shape_unknown_filter_cid_mismatch(raw, tmp_path):
    r = _copy(raw, tmp_path)
    cid = int(pd.read_csv(r / "catalog.csv")["CID"].iloc[1])
    p = stamp_path(r / "stamps", cid)
    with pytest.raises(SdssDataError, match=r"stamp shape .* expected \(16, 16\)"):
        read_stamps(p, stamp_size=16)
    good = read_stamps(p)
    write_stamps(p, cid=cid, ra=good.ra, dec=good.dec, images=good.images[:, :30, :30], mjd=good.mjd, band=good.band)
    with pytest.raises(SdssDataError, match=rf"CID {cid}.*HDU 1 .*stamp shape \(30, 30\)"):
        _run(r, tmp_path / "o", stamp_size=32)
    with fits.open(p) as f:
        hdus = fits.HDUList([h.copy() for h in f])
    hdus[2].header["FILTER"] = "y"
    hdus.writeto(p, overwrite=True)
    with pytest.raises(SdssDataError, match=r"HDU 2 .*unknown FILTER 'y'"):
        read_stamps(p)
    with pytest.raises(SdssDataError, match=r"unknown band/FILTER"):
        write_stamps(p, cid=cid, ra=0, dec=0, images=good.images, mjd=good.mjd, band=["q"] * len(good.mjd))
    write_stamps(p, cid=cid + 1, ra=good.ra, dec=good.dec, images=good.images, mjd=good.mjd, band=good.band)
    with pytest.raises(SdssDataError, match=rf"header CID {cid + 1} != catalog CID {cid}"):
        _run(r, tmp_path / "o3")


def test_nonfinite_and_empty_policy(raw, tmp_path):
    r = _copy(raw, tmp_path)
    cid = int(pd.read_csv(r / "catalog.csv")["CID"].iloc[2])
    p = stamp_path(r / "stamps", cid)
    st = read_stamps(p)
    imgs = st.images.copy()
    imgs[0, :2, :] = np.nan  # 64 px = 6% -> masked
    imgs[1, :, :] = np.nan  # all NaN -> dropped
    imgs[2] = 0.0  # empty -> dropped
    write_stamps(p, cid=cid, ra=st.ra, dec=st.dec, images=imgs, mjd=st.mjd, band=st.band)
    s = _run(r, tmp_path / "o")
    assert s["n_dropped_images"] == 2 and s["n_masked_pixels"] == 64
    objects = pd.read_parquet(tmp_path / "o" / "objects.parquet")
    row = objects[objects["CID"] == cid].iloc[0]
    assert row["n_images"] == len(st.mjd) - 2
    d = load_stamp_arrays(tmp_path / "o" / "stamps.h5")
    assert np.isfinite(d["images"]).all()
    with pytest.raises(SdssDataError, match=rf"CID {cid}.*non-finite pixel"):
        _run(r, tmp_path / "o2", nonfinite="error")


def test_catalog_and_lightcurve_errors(raw, tmp_path):
    r = _copy(raw, tmp_path)
    cat = pd.read_csv(r / "catalog.csv")
    bad = cat.copy()
    bad.loc[3, "Classification"] = "Comet"
    bad.to_csv(r / "catalog.csv", index=False)
    with pytest.raises(ValueError, match=rf"CID {cat['CID'][3]}: unknown Classification 'Comet'"):
        _run(r, tmp_path / "o")
    cat.iloc[:-1].to_csv(r / "catalog.csv", index=False)  # a stamp file without catalog row
    with pytest.raises(SdssDataError, match=rf"not in .*catalog.csv: \['{cat['CID'].iloc[-1]}'\]"):
        _run(r, tmp_path / "o")
    cat.to_csv(r / "catalog.csv", index=False)
    lc = pd.read_csv(r / "lightcurves.csv")
    lc.loc[10, "FILTER"] = "Y"
    lc.to_csv(r / "lightcurves.csv", index=False)
    with pytest.raises(SdssDataError, match=r"lightcurves.csv: row 12: unknown FILTER 'Y'"):
        _run(r, tmp_path / "o")


def test_partition_and_summaries(ingested):
    out, _ = ingested
    objects = pd.read_parquet(out / "objects.parquet")
    p = partition(objects, seed=1)
    assert set(p.columns) >= {"CID", "label4", "label3", "partition"}
    assert "Unknown" not in set(p["label"]) and len(p) == (objects["label"] != "Unknown").sum()
    assert set(p["label4"]) <= {"AGN", "SNIa", "SNOther", "Variable"}
    assert set(p["label3"]) <= {"AGN", "SN", "Variable"}
    assert (p.loc[p["label"].str.endswith("_PT"), "partition"] == "Train").all()
    spec = p["label"].isin(["SNIa", "SNOther"])
    assert (p.loc[spec, "partition"] != "Train").all()
    assert p.equals(partition(objects.sample(frac=1, random_state=0), seed=1))  # order-independent
    # folds: Train fixed, test blocks of the SNe disjoint over 5 folds and covering the pool
    parts = [partition(objects, 1, fold=k) for k in range(5)]
    for q in parts[1:]:
        assert (q["partition"] == "Train").equals(parts[0]["partition"] == "Train")
    for q in parts:  # every fold keeps >= 1 FineTune and >= 1 Test object per class present
        ct = pd.crosstab(q["label4"], q["partition"])
        assert (ct.loc[["AGN", "SNIa", "SNOther", "Variable"], ["FineTune", "Test"]] >= 1).all().all()
    a = assign_partitions(objects, 1)
    assert len(a) == len(objects) and set(a[(objects["label"] == "Unknown").to_numpy()]) == {""}
    assert np.array_equal(a[(objects["label"] != "Unknown").to_numpy()],
                          p.set_index("CID").loc[objects.loc[objects["label"] != "Unknown", "CID"], "partition"].to_numpy())
    t1 = class_counts_table(objects)
    assert list(t1.columns) == ["class", "n", "paper_n", "fraction", "paper_fraction"]
    assert t1["n"].sum() == N and t1.set_index("class").loc["SNIa_PT", "paper_n"] == 1448
    t5 = partition_counts_table(p)
    assert list(t5["class"]) == ["AGN", "SNIa", "Variable", "SNOther"]
    assert t5[["Train", "FineTune", "Test"]].to_numpy().sum() == len(p)
    assert t5.set_index("class").loc["Variable", "paper_Test"] == 645


def test_partition_fractions_at_scale():
    rng = np.random.default_rng(0)
    labels = (["AGN"] * 906 + ["SNIa"] * 499 + ["SNOther"] * 89 + ["Unknown"] * 2009 + ["Variable"] * 3225
              + ["SNOther_PT"] * 2041 + ["SNIa_PT"] * 1448)
    df = pd.DataFrame({"CID": rng.permutation(len(labels)) + 1, "label": labels})
    t5 = partition_counts_table(partition(df, seed=0)).set_index("class")
    for c in t5.index:
        for part in ("Train", "FineTune", "Test"):
            assert abs(t5.loc[c, part] - t5.loc[c, f"paper_{part}"]) <= 1, (c, part)
    # 5-fold CV: SN test blocks (~20% of the pool) are disjoint and cover the pool
    parts = [partition(df, 0, fold=k) for k in range(5)]
    for c in ("SNIa", "SNOther"):
        tests = [set(q.loc[(q["partition"] == "Test") & (q["label"] == c), "CID"]) for q in parts]
        for a in range(5):
            for b in range(a + 1, 5):
                assert not (tests[a] & tests[b]), (c, a, b)
        assert len(set().union(*tests)) >= (df["label"] == c).sum() - 5
