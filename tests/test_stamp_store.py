"""The SDSS stamp store (stamps.h5): written object by object with bounded memory, atomic and
byte-reproducible, validated when opened, read lazily by ConvEntion, the baselines and the ablation's
window diagnostics with the same numbers as the in-memory path (issue 11, item 4, SDSS half)."""
from __future__ import annotations

import hashlib
import tracemalloc

import h5py
import numpy as np
import pandas as pd
import pytest

from transientrepro.baselines.run import build_frame_data
from transientrepro.convention import preprocess as pp
from transientrepro.convention.ablation import window_diagnostics
from transientrepro.convention.data import ScaledRows, build_sequence_data, synthetic_ingest
from transientrepro.gp_store import LazyRows
from transientrepro.sdss.ingest import ingest
from transientrepro.sdss.simulate import SimConfig, simulate
from transientrepro.sdss.stamp_store import (
    CHUNK_STAMPS,
    StampStoreError,
    load_stamp_arrays,
    load_stamps,
    save_stamps,
    stamp_writer,
)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_ingest(n_objects=90, stamp=16, max_epochs=14, seed=2)


@pytest.fixture()
def store(synthetic, tmp_path):
    objects, stamps = synthetic
    save_stamps(tmp_path / "stamps.h5", stamps, chunk_stamps=64)
    return tmp_path / "stamps.h5"


def test_round_trip_layout_and_lazy_images(synthetic, store):
    _, stamps = synthetic
    st = load_stamps(store)
    assert isinstance(st["images"], LazyRows) and st["images"].shape == stamps["images"].shape
    assert st.attrs == {"store_version": 1, "stamp_size": 16, "n_objects": 90, "n_images": len(stamps["images"])}
    for k in ("obj_index", "mjd", "band", "offsets", "cid"):
        assert isinstance(st[k], np.ndarray) and st[k].dtype == stamps[k].dtype, k
        np.testing.assert_array_equal(st[k], stamps[k])
    a, b = int(st["offsets"][7]), int(st["offsets"][8])
    np.testing.assert_array_equal(st["images"][a:b], stamps["images"][a:b])
    np.testing.assert_array_equal(load_stamp_arrays(store)["images"], stamps["images"])
    with h5py.File(store) as f:  # chunked along stamps, uncompressed
        assert f["images"].chunks == (64, 16, 16) and f["images"].compression is None
    st.close()


def test_rewrite_is_byte_identical(synthetic, tmp_path):
    _, stamps = synthetic
    save_stamps(tmp_path / "a.h5", stamps)
    save_stamps(tmp_path / "b.h5", stamps)
    assert md5(tmp_path / "a.h5") == md5(tmp_path / "b.h5")
    other = {**stamps, "images": stamps["images"] + np.float32(1)}
    save_stamps(tmp_path / "c.h5", other)
    assert md5(tmp_path / "a.h5") != md5(tmp_path / "c.h5")


def _rewrite(src, dst, **changes):
    """A copy of the store ``src`` with datasets / attributes replaced (None: removed)."""
    with h5py.File(src) as f, h5py.File(dst, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        for k in f:
            if k not in changes:
                g.create_dataset(k, data=f[k][...])
        for k, v in changes.items():
            if k.startswith("attr_"):
                g.attrs[k[5:]] = v
            elif v is not None:
                g.create_dataset(k, data=v)
    return dst


def test_broken_store_raises_naming_file_and_problem(synthetic, store, tmp_path):
    _, stamps = synthetic
    off = stamps["offsets"].copy()
    band = stamps["band"].copy()
    band[5] = 7
    cases = {
        "offsets": ({"offsets": np.concatenate([[0, 0], off[2:]])}, r"inconsistent offsets .* object 0 \(CID 1000\) has no stamp"),
        "last": ({"offsets": np.concatenate([off[:-1], [off[-1] + 3]])}, r"inconsistent offsets .*n_images"),
        "band": ({"band": band}, r"band id 7 at stamp row 5 outside 1..5"),
        "obj": ({"obj_index": np.roll(stamps["obj_index"], 1)}, r"obj_index 89 at stamp row 0, offsets put it in object 0"),
        "missing": ({"mjd": None}, r"missing array\(s\) \['mjd'\]"),
        "version": ({"attr_store_version": 99}, r"stamp store version 99, expected 1"),
        "size": ({"attr_stamp_size": 32}, r"images of size 16, attribute stamp_size 32"),
    }
    for name, (changes, msg) in cases.items():
        p = _rewrite(store, tmp_path / f"{name}.h5", **changes)
        with pytest.raises(StampStoreError, match=rf"{name}\.h5: {msg}"):
            load_stamps(p)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5" * 100)
    with pytest.raises(StampStoreError, match=r"junk\.h5: not a readable HDF5 stamp store"):
        load_stamps(tmp_path / "junk.h5")
    with pytest.raises(StampStoreError, match=r"nope\.h5: stamp store not found"):
        load_stamps(tmp_path / "nope.h5")


def test_failed_write_leaves_nothing_and_keeps_the_old_file(synthetic, tmp_path):
    _, stamps = synthetic
    out = tmp_path / "stamps.h5"
    img, mjd, band = np.ones((3, 8, 8), np.float32), np.arange(3.0), np.array([1, 2, 3], np.int8)
    with pytest.raises(StampStoreError, match=r"stamps\.h5: object 1 \(CID 11\): stamp size 4, the store's is 8"):
        with stamp_writer(out, [10, 11]) as w:
            w.append(img, mjd, band)
            w.append(np.ones((2, 4, 4), np.float32), mjd[:2], band[:2])
    with pytest.raises(StampStoreError, match=r"object 0 \(CID 10\): band id 6 at stamp 2 outside 1..5"):
        with stamp_writer(out, [10]) as w:
            w.append(img, mjd, np.array([1, 2, 6]))
    with pytest.raises(StampStoreError, match=r"1 objects appended, 2 CIDs given"):
        with stamp_writer(out, [10, 11]) as w:
            w.append(img, mjd, band)
    with pytest.raises(RuntimeError, match="disk full"):  # any error of the caller
        with stamp_writer(out, [10, 11]) as w:
            w.append(img, mjd, band)
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    save_stamps(out, stamps)
    before = md5(out)
    with pytest.raises(StampStoreError, match=r"object 0 \(CID 1000\): no stamp"):
        save_stamps(out, {**stamps, "offsets": np.concatenate([[0], stamps["offsets"]])[:-1],
                          "cid": stamps["cid"]})
    assert md5(out) == before and [p.name for p in tmp_path.iterdir()] == ["stamps.h5"]


def _reference(objects, stamps, bands, task, scaling):
    """The pre-store computation: the selected images in memory, scaled and z-scored whole."""
    ref = build_sequence_data(objects, stamps, bands, task, M=6, scaling=scaling, stream_above_mb=None)
    raw = stamps["images"][ref.image_rows]
    obj = np.repeat(np.arange(len(ref.labels)), np.diff(ref.offsets))
    rows = np.flatnonzero(ref.partition[obj] == "Train")
    if scaling == "asinh":
        raw = pp.asinh_scale(raw, ref.band, pp.noise_scale(raw, ref.band, rows))
    stats = pp.band_norm_stats(raw, ref.band, rows)
    return ref, stats, pp.normalise(raw, ref.band, stats)


@pytest.mark.parametrize("scaling,bands", [("linear", "ugriz"), ("asinh", "ugriz"), ("asinh", "g")])
def test_lazy_sequences_equal_the_in_memory_ones(synthetic, store, scaling, bands):
    objects, stamps = synthetic
    ref, stats, norm = _reference(objects, stamps, bands, "4class", scaling)
    np.testing.assert_array_equal(ref.norm_stats, stats)
    np.testing.assert_array_equal(ref.images, norm)
    st = load_stamps(store)
    lazy = build_sequence_data(objects, st, bands, "4class", M=6, scaling=scaling, stream_above_mb=0)
    mem = build_sequence_data(objects, st, bands, "4class", M=6, scaling=scaling, stream_above_mb=1000)
    assert isinstance(lazy.images, ScaledRows) and isinstance(mem.images, np.ndarray)
    for d in (lazy, mem):
        np.testing.assert_allclose(d.norm_stats, stats, rtol=1e-12)
        np.testing.assert_array_equal(d.image_rows, ref.image_rows)
        assert d.meta == ref.meta
    np.testing.assert_array_equal(mem.images, norm)
    np.testing.assert_array_equal(np.asarray(lazy.images), norm)
    for i in (0, 5, len(ref.labels) - 1):
        np.testing.assert_array_equal(lazy.sequence(i)[0], ref.sequence(i)[0])
    # training items (augmented, shifted) and evaluation items are the same batches
    for train in (True, False):
        a = ref.dataset(ref.pretrain_rows, train=train, seed=4, augment=None)
        b = lazy.dataset(lazy.pretrain_rows, train=train, seed=4, augment=None)
        for j in range(len(a)):
            (xa, ba, ma), ya = a[j]
            (xb, bb, mb), yb = b[j]
            assert ya == yb and np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ba.numpy(), bb.numpy())


def test_lazy_frames_and_window_diagnostics_equal_the_in_memory_ones(synthetic, store):
    objects, stamps = synthetic
    st = load_stamps(store)
    ref = build_sequence_data(objects, stamps, "ugriz", "4class", M=len(stamps["images"]), scaling="asinh")
    lazy = build_sequence_data(objects, st, "ugriz", "4class", M=len(stamps["images"]), scaling="asinh", stream_above_mb=0)
    fa = build_frame_data(ref, stamps, "ugriz", max_len=5, epoch_tol=0.5)
    fb = build_frame_data(lazy, st, "ugriz", max_len=5, epoch_tol=0.5)
    assert isinstance(fb.images, LazyRows) and fa.meta == fb.meta
    np.testing.assert_array_equal(np.asarray(fa.images), np.asarray(fb.images))
    for train in (True, False):
        a, b = fa.dataset(fa.spec_rows, train=train, seed=1), fb.dataset(fb.spec_rows, train=train, seed=1)
        for j in range(len(a)):
            assert np.array_equal(a[j][0][0].numpy(), b[j][0][0].numpy()) and a[j][1] == b[j][1]
    objects = objects.assign(PeakMJD=40.0)
    section = {"M": 6, "scaling": "asinh", "ablation": {"variant": "convention_ugriz"}}
    pd.testing.assert_frame_equal(window_diagnostics(objects, stamps, {**section, "stream_above_mb": None}, n_draws=3),
                                  window_diagnostics(objects, st, {**section, "stream_above_mb": 0}, n_draws=3))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdss_raw")
    simulate(SimConfig(seed=5, n_objects=24, stamp_size=32, min_per_class=2), out, progress=False)
    return out


def _ingest(raw, out, n):
    """Ingest of the first ``n`` catalog objects."""
    cat = pd.read_csv(raw / "catalog.csv").iloc[:n]
    cat.to_csv(out / "catalog.csv", index=False)
    lc = pd.read_csv(raw / "lightcurves.csv")
    lc[lc["CID"].isin(cat["CID"])].to_csv(out / "lightcurves.csv", index=False)
    return ingest(out / "catalog.csv", raw / "stamps", out / "lightcurves.csv", out / "objects.parquet",
                  out / "stamps.h5", out / "lightcurves.parquet", progress=False, strict_extra_files=False)


def test_ingest_is_byte_identical_and_its_memory_does_not_grow_with_the_objects(raw, tmp_path):
    peaks, sizes = {}, {}
    for n in (12, 24):
        out = tmp_path / f"n{n}"
        out.mkdir()
        _ingest(raw, out, n)  # warm-up (imports, caches), then measured
        tracemalloc.start()
        s = _ingest(raw, out, n)
        _, peaks[n] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes[n] = s["n_images"] * 32 * 32 * 4
    again = tmp_path / "again"
    again.mkdir()
    _ingest(raw, again, 24)
    assert md5(again / "stamps.h5") == md5(tmp_path / "n24" / "stamps.h5")
    assert sizes[24] > 1.8 * sizes[12]  # twice the stamps ...
    assert peaks[24] < 1.3 * peaks[12], f"peak {peaks[24] / 1e6:.1f} MB for 24 objects, {peaks[12] / 1e6:.1f} MB for 12"
    # ... and less than the stamp cube itself (the former concatenation held it ~twice)
    assert peaks[24] < 0.5 * sizes[24], f"peak {peaks[24] / 1e6:.1f} MB, stamps {sizes[24] / 1e6:.1f} MB"
    st = load_stamp_arrays(tmp_path / "n24" / "stamps.h5")
    assert len(st["images"]) == sizes[24] // (32 * 32 * 4) > CHUNK_STAMPS  # several chunks were written
