"""Ingest (raw CSVs -> metadata.parquet + light-curve chunks) and the Table 1 class-count summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transientrepro.plasticc.classes import CLASS_CODES
from transientrepro.plasticc.ingest import assign_chunks, ingest_plasticc
from transientrepro.plasticc.loaders import PlasticcFormatError
from transientrepro.plasticc.simulate import METADATA_COLUMNS, simulate_to_dir
from transientrepro.plasticc.summary import class_count_table

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data/plasticc_kaggle_training_metadata/training_set_metadata.csv"
FIX = ROOT / "tests/data/plasticc_kaggle_training_sample10"


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return simulate_to_dir(tmp_path_factory.mktemp("raw"), REF, n_test_files=3, seed=11, n_train=30, n_test=120,
                           min_per_class=4)


def _ingest(raw, out, n_chunks=3, chunksize=5000, **kw):
    tests = [raw[f"plasticc_test_lightcurves_{i:02d}"] for i in (1, 2, 3)]
    chunks = [out / f"lightcurves_{c}.parquet" for c in range(n_chunks)]
    rep = ingest_plasticc({"train": raw["plasticc_train_metadata"], "test": raw["plasticc_test_metadata"]},
                          {"train": [raw["plasticc_train_lightcurves"]], "test": tests},
                          out / "metadata.parquet", chunks, chunksize=chunksize, **kw)
    return rep, chunks


def test_assign_chunks_balanced_and_deterministic():
    ids = np.array([50, 3, 7, 1000, 12, 8, 9])
    ch = assign_chunks(ids, 3)
    assert ch.tolist() == assign_chunks(ids.copy(), 3).tolist()
    assert sorted(np.bincount(ch).tolist()) == [2, 2, 3]
    assert ch[np.argsort(ids)].tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="n_chunks"):
        assign_chunks(ids, 0)


def test_ingest_round_trip(raw, tmp_path):
    rep, chunks = _ingest(raw, tmp_path)
    meta = pd.read_parquet(tmp_path / "metadata.parquet")
    assert list(meta.columns) == METADATA_COLUMNS + ["split", "chunk"]
    assert meta["object_id"].is_unique and len(meta) == 150
    assert meta["split"].value_counts().to_dict() == {"test": 120, "train": 30}
    assert set(meta["target"]) == set(CLASS_CODES)        # true class, though the raw test target is blinded
    assert (meta["target"] == meta["true_target"]).all()
    raw_rows = sum(len(pd.read_csv(raw[k])) for k in raw if "lightcurves" in k)
    seen = []
    n_rows = 0
    for c, f in enumerate(chunks):
        lc = pd.read_parquet(f)
        assert list(lc.columns) == ["object_id", "mjd", "passband", "flux", "flux_err", "detected_bool"]
        assert [str(t) for t in lc.dtypes] == ["int64", "float64", "int8", "float64", "float64", "int8"]
        key = lc[["object_id", "mjd"]].to_numpy()
        assert (np.diff(key[:, 0]) >= 0).all()
        same = np.diff(key[:, 0]) == 0
        assert (np.diff(key[:, 1])[same] >= 0).all()
        ids = set(lc["object_id"])
        assert ids == set(meta.loc[meta["chunk"] == c, "object_id"])
        seen.append(ids)
        n_rows += len(lc)
    assert set().union(*seen) == set(meta["object_id"]) and sum(map(len, seen)) == len(meta)
    assert n_rows == raw_rows == rep["n_rows"]
    assert max(rep["objects_per_chunk"]) - min(rep["objects_per_chunk"]) <= 1
    # values survive exactly (vs a direct read of one object)
    oid = int(meta["object_id"].iloc[5])
    direct = pd.concat([pd.read_csv(raw[k]) for k in raw if "lightcurves" in k])
    direct = direct[direct["object_id"] == oid].sort_values("mjd", kind="stable")
    got = pd.concat([pd.read_parquet(f) for f in chunks])
    got = got[got["object_id"] == oid]
    np.testing.assert_array_equal(got["flux"].to_numpy(), direct["flux"].to_numpy())
    # chunk-size independent
    rep2, chunks2 = _ingest(raw, tmp_path / "b", chunksize=10 ** 7)
    for a, b in zip(chunks, chunks2):
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))


def test_ingest_real_kaggle_fixture(tmp_path):
    rep = ingest_plasticc({"train": FIX / "training_set_metadata.csv"}, {"train": [FIX / "training_set.csv"]},
                          tmp_path / "metadata.parquet", [tmp_path / f"lc_{c}.parquet" for c in range(2)])
    assert rep["n_objects"] == 10 and rep["n_rows"] == 3279 and rep["objects_per_chunk"] == [5, 5]
    meta = pd.read_parquet(tmp_path / "metadata.parquet")
    assert (meta["ddf_bool"] == 1).all() and (meta["split"] == "train").all()


def test_ingest_drops_anomaly_classes_and_checks_objects(tmp_path):
    meta = pd.read_csv(FIX / "training_set_metadata.csv")
    meta.loc[meta["object_id"] == 730, "target"] = 991
    p = tmp_path / "meta.csv"
    meta.to_csv(p, index=False)
    out = [tmp_path / "o" / f"lc_{c}.parquet" for c in range(2)]
    rep = ingest_plasticc({"train": p}, {"train": [FIX / "training_set.csv"]}, tmp_path / "o" / "m.parquet", out)
    assert rep["dropped_classes"] == {"991": 1} and rep["n_objects"] == 9 and rep["n_rows"] == 3279 - 330
    assert 730 not in set(pd.concat(pd.read_parquet(f) for f in out)["object_id"])
    with pytest.raises(PlasticcFormatError, match=r"meta.csv, object_id 730, data row 3: class 991"):
        ingest_plasticc({"train": p}, {"train": [FIX / "training_set.csv"]}, tmp_path / "x" / "m.parquet",
                        [tmp_path / "x" / "lc_0.parquet"], drop_unknown_classes=False)
    assert not (tmp_path / "x" / "m.parquet").exists()
    meta9 = pd.read_csv(FIX / "training_set_metadata.csv")
    q = tmp_path / "meta9.csv"
    meta9[meta9["object_id"] != 1920].to_csv(q, index=False)
    with pytest.raises(PlasticcFormatError, match=r"training_set.csv, object_id 1920, data row 2770: light curve of "
                                                  r"an object absent"):
        ingest_plasticc({"train": q}, {"train": [FIX / "training_set.csv"]}, tmp_path / "y" / "m.parquet",
                        [tmp_path / "y" / "lc_0.parquet"])
    assert not list((tmp_path / "y").glob("*.parquet"))      # nothing half-written


def test_class_count_table(raw, tmp_path):
    _ingest(raw, tmp_path, n_chunks=1)
    meta = pd.read_parquet(tmp_path / "metadata.parquet")
    t = class_count_table(meta)
    assert list(t.columns) == ["class", "code", "n", "percent", "paper_n", "paper_percent", "train_n", "train_percent"]
    assert len(t) == 15 and t["class"].iloc[-1] == "Total"
    body = t.iloc[:-1]
    assert body["code"].tolist() == CLASS_CODES
    assert body["n"].sum() == 120 and body["train_n"].sum() == 30 and (body["n"] >= 4).all()
    assert body.set_index("code").loc[90, "paper_n"] == 1659684
    assert body.set_index("code").loc[64, "paper_percent"] == pytest.approx(0.004, abs=5e-4)
    assert t["paper_n"].iloc[-1] == 3479456
    assert body["percent"].sum() == pytest.approx(100.0, abs=0.01)
    with pytest.raises(ValueError, match="unknown class codes"):
        class_count_table(meta.assign(target=meta["target"].replace(64, 991)))
