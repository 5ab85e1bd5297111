"""The HDF5 GP store (gp.h5): written chunk by chunk with bounded memory, read lazily; t2 reading
only its split's rows, and streaming a split from disk (issue 11, item 4)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from transientrepro.gp import PER_OBJECT_KEYS
from transientrepro.gp_store import GPStore, GPStoreError, LazyRows, load_gp_arrays, open_gp_arrays
from transientrepro.gp_store import write_store as _write_store
from transientrepro.io import save_npz, write_parquet
from transientrepro.t2.data import StreamedX, T2DataError, load_gp, load_split, make_synthetic_gp, split_data
from transientrepro.t2.scaling import apply_scaling, fit_and_apply, fit_scaling
from transientrepro.t2.params import settings


def write_store(paths, out):
    return _write_store(paths, out, keys=PER_OBJECT_KEYS + ("X",), finite=("X", "z", "z_err"))


def concatenate(chunks):
    """The reference: every chunk's per-object arrays and X in memory, sorted by object_id."""
    ids = np.concatenate([c["object_id"] for c in chunks])
    order = np.argsort(ids, kind="stable")
    return {k: np.concatenate([c[k] for c in chunks])[order] for k in PER_OBJECT_KEYS + ("X",)}


def fake_chunk(ids, L=10, M=6, seed=0, **attrs):
    rng = np.random.default_rng(seed)
    n = len(ids)
    d = {k: rng.normal(size=n).astype(np.float32) for k in PER_OBJECT_KEYS}
    d.update(object_id=np.asarray(ids, np.int64), target=np.full(n, 42, np.int64), success=np.ones(n, bool),
             n_obs=np.full(n, 50, np.int64), t_grid=rng.normal(size=(n, L)).astype(np.float32),
             X=rng.normal(size=(n, L, M)).astype(np.float32))
    d.update({"attr_normalisation": np.array("max_abs"), "attr_n_points": np.int64(L), "attr_time_grid": np.array("observed")})
    d.update(attrs)
    return d


def chunk_files(tmp_path, chunks):
    paths = []
    for i, c in enumerate(chunks):
        save_npz(tmp_path / f"chunk_{i}.npz", **c)
        paths.append(tmp_path / f"chunk_{i}.npz")
    return paths


def test_store_equals_concatenate_sorted_with_attrs(tmp_path):
    chunks = [fake_chunk([5, 1, 9, 30], seed=1), fake_chunk([], seed=2), fake_chunk([2, 7, 31, 8, 3], seed=3)]
    merged = write_store(chunk_files(tmp_path, chunks), tmp_path / "gp.h5")
    ref = concatenate(chunks)
    got = load_gp_arrays(tmp_path / "gp.h5")
    assert got["object_id"].tolist() == [1, 2, 3, 5, 7, 8, 9, 30, 31] == merged["object_id"].tolist()
    for k in PER_OBJECT_KEYS + ("X",):
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
        assert got[k].dtype == ref[k].dtype, k
    assert str(got["attr_normalisation"]) == "max_abs" and int(got["attr_n_points"]) == 10
    write_store(chunk_files(tmp_path, chunks), tmp_path / "again.h5")  # deterministic: byte-identical
    assert (tmp_path / "again.h5").read_bytes() == (tmp_path / "gp.h5").read_bytes()
    lazy = open_gp_arrays(tmp_path / "gp.h5")
    assert isinstance(lazy, GPStore) and isinstance(lazy["X"], LazyRows) and isinstance(lazy["z"], np.ndarray)


@pytest.mark.parametrize("problem,match", [
    ("attrs", "attr_n_points"), ("duplicate", "more than one chunk"), ("missing", "lacks array"), ("shape", "shape"),
    ("nonfinite", r"chunk 1 .*non-finite X .*object_id 3"),
])
def test_store_refuses_bad_chunks_and_writes_nothing(tmp_path, problem, match):
    a = fake_chunk([1, 2])
    b = {"attrs": fake_chunk([3], attr_n_points=np.int64(99)), "duplicate": fake_chunk([2, 4]),
         "missing": {k: v for k, v in fake_chunk([3]).items() if k != "t_grid"},
         "shape": fake_chunk([3], L=12, attr_n_points=np.int64(10)),
         "nonfinite": fake_chunk([3, 4])}[problem]
    if problem == "nonfinite":
        b["X"][0, 5, 2] = np.nan
    with pytest.raises(GPStoreError, match=match):
        write_store(chunk_files(tmp_path, [a, b]), tmp_path / "gp.h5")
    assert not (tmp_path / "gp.h5").exists()
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*gp.h5*"))


def test_store_writing_memory_is_one_chunk_not_the_data(tmp_path):
    """Python-side allocations while gathering 8 chunks stay below ~3 chunks' worth (numpy reports to
    tracemalloc); concatenating would need the whole X twice."""
    chunks = [fake_chunk(np.arange(k * 1000, (k + 1) * 1000), L=100, seed=k) for k in range(8)]
    paths = chunk_files(tmp_path, chunks)
    chunk_bytes = chunks[0]["X"].nbytes  # 2.4 MB; all X = 19 MB
    del chunks
    tracemalloc.start()
    write_store(paths, tmp_path / "gp.h5")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 3 * chunk_bytes, f"peak {peak / 1e6:.1f} MB for chunks of {chunk_bytes / 1e6:.1f} MB"
    assert len(load_gp_arrays(tmp_path / "gp.h5")["object_id"]) == 8000


@pytest.fixture()
def store(tmp_path):
    chunks = [fake_chunk(np.arange(0, 40, 2), seed=4), fake_chunk(np.arange(1, 41, 2), seed=5)]
    write_store(chunk_files(tmp_path, chunks), tmp_path / "gp.h5")
    return GPStore(tmp_path / "gp.h5"), concatenate(chunks)["X"]


def test_lazy_rows_index_like_numpy(store):
    s, ref = store
    X = s["X"]
    X.block_rows = 3  # many blocks
    assert X.shape == ref.shape and len(X) == 40 and X.ndim == 3 and X.nbytes == ref.nbytes
    mask = np.arange(40) % 3 == 0
    for key in (5, -1, slice(None), slice(3, 17), slice(2, 30, 4), slice(30, 2, -3), mask, np.array([7, 2, 2, 39, 0]),
                np.array([], dtype=np.int64), [4, 1]):
        np.testing.assert_array_equal(X[key], ref[key], err_msg=str(key))
    np.testing.assert_array_equal(X[np.array([3, 1]), :, 2], ref[np.array([3, 1]), :, 2])
    np.testing.assert_array_equal(np.asarray(X), ref)
    sub = X.subset(np.array([30, 4, 11, 20]))
    np.testing.assert_array_equal(sub[np.array([2, 0])], ref[[11, 30]])
    np.testing.assert_array_equal(sub.subset(slice(1, 3))[:], ref[[4, 11]])
    with pytest.raises(IndexError):
        X[np.array([40])]
    with pytest.raises(IndexError):
        X[np.ones(39, bool)]


def test_damaged_store_is_named(tmp_path, store):
    bad = tmp_path / "bad.h5"
    bad.write_bytes((tmp_path / "gp.h5").read_bytes()[:2000])
    with pytest.raises(T2DataError, match="bad.h5"):
        load_gp(bad)


@pytest.fixture()
def synthetic(tmp_path):
    """make_synthetic_gp's arrays as a real gp.h5 (two chunks) and as a .npz, with their split."""
    gp, split = make_synthetic_gp(n=120, L=16, seed=3)
    extra = {k: np.zeros(len(gp["object_id"]), np.float32) for k in PER_OBJECT_KEYS if k not in gp}
    extra["t_grid"] = np.zeros((len(gp["object_id"]), 16), np.float32)
    full = {**gp, **extra, "attr_normalisation": np.array("none"), "attr_n_points": np.int64(16)}
    full.pop("time")
    half = [{k: (v if k.startswith("attr_") else v[sl]) for k, v in full.items()} for sl in (slice(0, 70), slice(70, None))]
    write_store(chunk_files(tmp_path, half), tmp_path / "gp.h5")
    save_npz(tmp_path / "gp.npz", **full)
    write_parquet(split, tmp_path / "split.parquet")
    return tmp_path


def test_split_data_from_store_reads_rows_and_streams(synthetic):
    split = load_split(synthetic / "split.parquet")
    ref = split_data(load_gp(synthetic / "gp.npz"), split, "t2")
    mem = split_data(load_gp(synthetic / "gp.h5"), split, "t2", stream_above_mb=1000)
    st = split_data(load_gp(synthetic / "gp.h5"), split, "t2", stream_above_mb=0)
    for name in ("train", "test"):
        assert isinstance(mem[name].X, np.ndarray) and st[name].streamed and not mem[name].streamed
        np.testing.assert_array_equal(mem[name].X, ref[name].X)
        np.testing.assert_array_equal(st[name].X[np.arange(len(st[name]))], ref[name].X)
        np.testing.assert_array_equal(st[name].object_id, ref[name].object_id)
    # the robust per-band scaler: a streamed fit on every object equals the in-memory fit; a sampled one says so
    exact = fit_scaling(ref["train"].X, "dataset_band")
    assert fit_scaling(st["train"].X, "dataset_band")["center"] == exact["center"]
    sampled = fit_scaling(st["train"].X, "dataset_band", max_objects=20)
    assert sampled["fit_objects"] == 20 and sampled["center"] != exact["center"]
    lazy = apply_scaling(st["train"].X, exact)
    assert isinstance(lazy, StreamedX)
    np.testing.assert_allclose(lazy[np.array([4, 0])], apply_scaling(ref["train"].X, exact)[[4, 0]], rtol=1e-6)
    s = settings({"scaling": "dataset_band"})
    fitted = fit_and_apply(st["test"], s)
    assert st["test"].streamed and fitted["scaling"]["fit_objects"] == len(st["test"])


def test_streamed_training_and_prediction(synthetic, tmp_path):
    """A split streamed from gp.h5 trains through keras batches, and its predictions equal the in-memory
    ones for the same weights."""
    import keras

    from transientrepro.t2.model import build_and_compile
    from transientrepro.t2.stream import batches, predict
    from transientrepro.t2.training import configure_tensorflow, train

    configure_tensorflow(1, 1)
    s = settings({"scaling": "dataset_band", "epochs": 2, "batch_size": 16, "early_stopping_patience": 5})
    hp = {"d": 8, "h": 2, "d_ff": 16, "N": 1, "dropout": 0.0, "learning_rate": 0.01}
    split = load_split(synthetic / "split.parquet")
    st = split_data(load_gp(synthetic / "gp.h5"), split, "t2", stream_above_mb=0)
    mem = split_data(load_gp(synthetic / "gp.h5"), split, "t2", stream_above_mb=None)
    fitted = fit_and_apply(st["train"], s)
    fit_and_apply(mem["train"], s)
    model, history, info = train(st["train"], hp, s, 1, 14)
    assert info["epochs_run"] == 2 and np.isfinite(history["val_flat_log_loss"]).all()
    assert info["n_fit"] + info["n_val"] == len(st["train"])
    np.testing.assert_allclose(predict(model, st["train"]), predict(model, mem["train"]), atol=1e-6)
    # the epoch order is a seeded permutation redrawn every epoch, and every object is seen once
    y = keras.utils.to_categorical(st["train"].y, 14)
    b = batches(st["train"], np.arange(len(st["train"])), 16, y, shuffle_seed=0)
    seen = np.concatenate([b[i][0]["aux"][:, 0] for i in range(len(b))])
    np.testing.assert_array_equal(np.sort(seen), np.sort(st["train"].aux[:, 0]))
    first = b.order.copy()
    b.on_epoch_end()
    assert not np.array_equal(first, b.order)
    assert fitted["scaling"]["method"] == "dataset_band"
    m2 = build_and_compile(16, 6, 14, hp, s, n_aux=2)
    assert predict(m2, st["test"], batch_size=7).shape == (len(st["test"]), 14)


def test_training_and_evaluation_stages_stream_from_the_store(synthetic, tmp_path):
    """run_training / run_evaluation on gp.h5 with every split streamed write the usual outputs."""
    import json

    from transientrepro.t2.evaluate import run_evaluation
    from transientrepro.t2.training import run_training
    from transientrepro.t2.tuning import gather_tuning

    cfg = {"tune": False, "hyperparameters": {"d": 8, "h": 2, "d_ff": 16, "N": 1, "dropout": 0.1, "learning_rate": 0.01},
           "epochs": 2, "batch_size": 32, "scaling": "dataset_band", "stream_above_mb": 0, "scaling_fit_max_objects": 30,
           "cam_max_objects": 10}
    gather_tuning("t2", cfg, 1, tmp_path / "study.journal", tmp_path / "best.json", tmp_path / "trials.csv")
    info = run_training(synthetic / "gp.h5", synthetic / "split.parquet", tmp_path / "best.json", "t2", cfg, 1,
                        tmp_path / "model.keras", tmp_path / "history.csv", tmp_path / "info.json", threads=1)
    assert info["scaling"]["fit_objects"] == 30 and info["epochs_run"] == 2
    m = run_evaluation(synthetic / "gp.h5", synthetic / "split.parquet", tmp_path / "model.keras", tmp_path / "info.json",
                       "t2", cfg, 1, tmp_path / "metrics.json", tmp_path / "pred.parquet", tmp_path / "cams.npz",
                       tmp_path / "pc.csv", threads=1)
    assert json.loads((tmp_path / "metrics.json").read_text())["n_test"] == m["n_test"] > 0
    assert m["cam_n_objects"] == 10 and np.isfinite(m["log_loss"])
    preds = pd.read_parquet(tmp_path / "pred.parquet")
    assert len(preds) == m["n_test"]
