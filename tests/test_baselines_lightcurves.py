"""Epoch grouping for the baselines: light-curve tensors (sorted times, band masks, missing bands,
repeated bands, truncation) and ugriz / g image frames."""
import numpy as np
import pytest

from transientrepro.baselines.lightcurves import (
    LightCurveError,
    build_epoch_frames,
    build_lightcurve_tensors,
    epoch_index,
    feature_names,
    transform_flux,
)


def _lc():
    # object 7: two epochs (t=100: u,g,r ; t=103: g), rows deliberately unsorted, one g repeated.
    # object 3: one epoch with z only, plus a NaN-flux row that must be dropped.
    obj = np.array([7, 7, 3, 7, 7, 3, 7])
    mjd = np.array([103.0, 100.1, 50.0, 100.0, 100.2, 50.1, 100.05])
    band = np.array([1, 0, 4, 1, 2, 2, 1])
    flux = np.array([5.0, 1.0, 9.0, 2.0, 3.0, np.nan, 4.0])
    err = np.array([1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    return obj, mjd, band, flux, err


def test_epoch_index_groups_within_tolerance():
    assert epoch_index(np.array([0.0, 0.1, 0.4, 0.6, 3.0]), 0.5).tolist() == [0, 0, 0, 1, 2]
    with pytest.raises(LightCurveError, match="sorted"):
        epoch_index(np.array([1.0, 0.0]), 0.5)


def test_lightcurve_tensor_construction():
    obj, mjd, band, flux, err = _lc()
    scales = np.ones(5)
    t = build_lightcurve_tensors(obj, mjd, band, flux, err, objects=np.array([7, 3]), max_len=4, scales=scales)
    assert t.X.shape == (2, 4, 16) and t.X.dtype == np.float32
    assert t.feature_names == feature_names(5) and len(t.feature_names) == 16
    assert t.lengths.tolist() == [2, 1]
    assert t.object_ids.tolist() == [7, 3]
    x7 = t.X[0]
    # masks: epoch 0 has u, g, r ; epoch 1 has g only
    assert x7[0, 10:15].tolist() == [1, 1, 1, 0, 0]
    assert x7[1, 10:15].tolist() == [0, 1, 0, 0, 0]
    # g observed twice in epoch 0 (flux 2 and 4, err 1): inverse-variance mean 3, err 1/sqrt(2)
    assert x7[0, 1] == pytest.approx(transform_flux(3.0, 1.0))
    assert x7[0, 6] == pytest.approx(transform_flux(1 / np.sqrt(2), 1.0))
    assert x7[0, 0] == pytest.approx(transform_flux(1.0, 1.0)) and x7[1, 1] == pytest.approx(transform_flux(5.0, 1.0))
    # missing bands are zero in flux and error
    assert x7[0, 3] == 0 and x7[0, 8] == 0
    # times sorted: dt of first epoch 0, second epoch log1p(103 - 100)
    assert x7[0, 15] == 0 and x7[1, 15] == pytest.approx(np.log1p(3.0))
    assert np.all(np.diff(t.mjd[0, :2]) > 0) and np.isnan(t.mjd[0, 2:]).all()
    # padding is all zero
    assert not t.X[0, 2:].any() and not t.X[1, 1:].any()
    # the NaN-flux g row of object 3 was dropped: only z is observed
    assert t.X[1, 0, 10:15].tolist() == [0, 0, 0, 0, 1]


def test_lightcurve_truncation_and_errors():
    obj, mjd, band, flux, err = _lc()
    t = build_lightcurve_tensors(obj, mjd, band, flux, err, objects=np.array([7]), max_len=1)
    assert t.lengths.tolist() == [1] and t.X.shape == (1, 1, 16)
    with pytest.raises(LightCurveError, match="object 99 has no valid observation"):
        build_lightcurve_tensors(obj, mjd, band, flux, err, objects=np.array([99]), max_len=4)
    bad = band.copy()
    bad[2] = 7
    with pytest.raises(LightCurveError, match="band index 7 at row 2 .object 3."):
        build_lightcurve_tensors(obj, mjd, bad, flux, err, objects=np.array([7]), max_len=4)
    with pytest.raises(LightCurveError, match="'flux' has length"):
        build_lightcurve_tensors(obj, mjd, band, flux[:3], err, objects=np.array([7]), max_len=4)
    with pytest.raises(LightCurveError, match="max_len"):
        build_lightcurve_tensors(obj, mjd, band, flux, err, objects=np.array([7]), max_len=0)


def test_epoch_frames_ugriz_and_g():
    # object 0: epoch A (t=10: bands 1,2,3), epoch B (t=12: band 2, band 2 again) ; object 1: band 5 only
    obj = np.array([0, 0, 0, 0, 0, 1, 0])
    mjd = np.array([10.0, 10.0, 10.01, 12.0, 12.1, 5.0, 12.05])
    band = np.array([1, 2, 3, 2, 5, 5, 2])
    f = build_epoch_frames(obj, mjd, band, objects=np.array([0, 1]), bands=(1, 2, 3, 4, 5), max_len=10)
    assert f.n_channels == 5
    assert f.frame_offsets.tolist() == [0, 2, 3]
    got = sorted(zip(f.frame.tolist(), f.channel.tolist(), f.image_index.tolist()))
    # repeated g in epoch B keeps its first stamp (row 3)
    assert got == [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 1, 3), (1, 4, 4), (2, 4, 5)]
    g = build_epoch_frames(obj, mjd, band, objects=np.array([0]), bands=(2,), max_len=10)
    assert g.n_channels == 1 and g.lengths().tolist() == [2]
    assert sorted(g.image_index.tolist()) == [1, 3]
    with pytest.raises(LightCurveError, match="object index 1 has no stamp in bands 'g'"):
        build_epoch_frames(obj, mjd, band, objects=np.array([1]), bands=(2,), max_len=10)
    short = build_epoch_frames(obj, mjd, band, objects=np.array([0]), bands=(1, 2, 3, 4, 5), max_len=1)
    assert short.lengths().tolist() == [1] and sorted(short.channel.tolist()) == [0, 1, 2]


def test_epoch_frames_bad_band_is_named():
    with pytest.raises(LightCurveError, match=r"stamps.h5: band index 6 at row 1 \(object 0\) outside 1..5"):
        build_epoch_frames(np.array([0, 0]), np.array([1.0, 2.0]), np.array([1, 6]), objects=np.array([0]), bands=(1,), max_len=3)
    with pytest.raises(LightCurveError, match="non-finite mjd at row 0"):
        build_epoch_frames(np.array([0]), np.array([np.nan]), np.array([1]), objects=np.array([0]), bands=(1,), max_len=3)
