"""The batched GP engine (gp.engine: batched) against george on real PLAsTiCC light curves
(tests/data/plasticc_kaggle_training_sample10): likelihood, gradient, padding, fits, failures,
and the switch through the stage's file entry point."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_gp import DATA, WL, _fake_ingest, _obj  # the same fixture objects and fake ingest
from transientrepro import gp
from transientrepro.gp import batched as bt
from transientrepro.io import load_npz


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with gp.single_threaded_blas():
        yield


@pytest.fixture(scope="module")
def lc() -> pd.DataFrame:
    return pd.read_csv(DATA / "training_set.csv")


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return pd.read_csv(DATA / "training_set_metadata.csv")


def _prepared(lc, oid, cfg, every=1):
    mjd, pb, flux, err = (a[::every] for a in _obj(lc, oid))
    m, p, f, e, amp0 = gp.george_engine.prepare_object(mjd, pb, flux, err, cfg)
    return bt.PreparedObject(m, WL[p], f, e, amp0), np.column_stack([m, WL[p]]), f, e


def _nll_grad(batch, theta, idx=None):
    idx = np.arange(len(theta)) if idx is None else idx
    nll, work = batch.value(theta, idx)
    return nll, batch.gradient(work)


# points (log A, log t_scale**2) around where fits end up: a few amplitudes and time scales
THETAS = [(np.log(3e4), np.log(20.0 ** 2)), (np.log(2e2), np.log(150.0 ** 2)), (np.log(5e5), np.log(3.0 ** 2))]


@pytest.mark.parametrize("oid", [615, 1920])
def test_likelihood_and_gradient_equal_george(lc, oid):
    """Our NLL and analytic gradient equal george's log_likelihood / grad_log_likelihood (george's
    gradient is in log(A/2), which has the same derivative as log A)."""
    cfg = gp.GPConfig()
    obj, x, flux, err = _prepared(lc, oid, cfg)
    batch = bt._Batch([obj], cfg, bt.get_backend("cpu"))
    for a, b in THETAS:
        nll, g = _nll_grad(batch, np.array([[a, b]]))
        ref = gp.build_gp(np.exp(a), np.exp(0.5 * b), cfg.wavelength_scale)
        ref.compute(x, err)
        assert nll[0] == pytest.approx(-ref.log_likelihood(flux), rel=1e-10, abs=1e-8)
        np.testing.assert_allclose(g[0], -ref.grad_log_likelihood(flux), rtol=1e-7, atol=1e-7 * np.abs(g).max())


def test_gradient_matches_finite_differences(lc):
    cfg = gp.GPConfig()
    obj, *_ = _prepared(lc, 1598, cfg, every=2)
    batch = bt._Batch([obj], cfg, bt.get_backend("cpu"))
    h = 1e-5
    for a, b in THETAS:
        theta = np.array([[a, b]])
        _, g = _nll_grad(batch, theta)
        for i in range(2):
            e = np.zeros((1, 2))
            e[0, i] = h
            fd = (_nll_grad(batch, theta + e)[0] - _nll_grad(batch, theta - e)[0]) / (2 * h)
            assert g[0, i] == pytest.approx(fd[0], rel=1e-5, abs=1e-4), (a, b, i)


def test_padding_changes_nothing(lc):
    """A short object alone, and padded in a batch beside longer ones (also as a subset of the
    batch), gives the same likelihood, gradient and prediction."""
    cfg = gp.GPConfig(n_points=20)
    be = bt.get_backend("cpu")
    short, *_ = _prepared(lc, 1920, cfg, every=5)  # 51 points
    longer = [_prepared(lc, oid, cfg, every=2)[0] for oid in (615, 730)]  # 165-176 points
    alone = bt._Batch([short], cfg, be)
    mixed = bt._Batch([longer[0], short, longer[1]], cfg, be)
    assert mixed.n_pad > len(short.mjd)
    theta = np.array([[np.log(4e2), np.log(60.0 ** 2)]])
    nll1, g1 = _nll_grad(alone, theta)
    nll3, g3 = _nll_grad(mixed, np.repeat(theta, 3, axis=0))
    nll_sub, g_sub = _nll_grad(mixed, theta, idx=np.array([1]))
    for nll, g in ((nll3[1], g3[1]), (nll_sub[0], g_sub[0])):
        assert nll == pytest.approx(nll1[0], rel=1e-12)
        np.testing.assert_allclose(g, g1[0], rtol=1e-9, atol=1e-9)
    grid = [np.linspace(short.mjd.min(), short.mjd.max(), cfg.n_points)]
    _, w1 = alone.value(theta, np.arange(1))
    m1 = alone.predict(theta, w1["alpha"], grid, np.array([short.mjd[0]]), cfg, np.arange(1))
    _, w3 = mixed.value(theta, np.array([1]))
    m3 = mixed.predict(theta, w3["alpha"], grid, np.array([short.mjd[0]]), cfg, np.array([1]))
    np.testing.assert_allclose(m3, m1, rtol=1e-10, atol=1e-10 * np.abs(m1).max())
    # and the fits: alone vs in a batch with the longer objects
    grids = [np.linspace(o.mjd.min(), o.mjd.max(), cfg.n_points) for o in (longer[0], short, longer[1])]
    (fa, ma), = bt.fit_and_predict([short], grids[1:2], cfg)
    res = bt.fit_and_predict([longer[0], short, longer[1]], grids, cfg, batch_elements=10 ** 9)
    fb, mb = res[1]
    assert (fb.amp, fb.t_scale, fb.n_evaluations) == pytest.approx((fa.amp, fa.t_scale, fa.n_evaluations), rel=1e-9)
    np.testing.assert_allclose(mb, ma, rtol=1e-8, atol=1e-8 * np.abs(ma).max())


@pytest.fixture(scope="module")
def both_engines(lc, meta):
    """The 10 real objects (every 2nd point, to stay fast) through the stage with each engine."""
    sub = lc[lc.groupby("object_id").cumcount() % 2 == 0]
    out = {}
    for engine in ("george", "batched"):
        out[engine] = gp.interpolate_lightcurves(sub, meta, gp.GPConfig(n_points=50, engine=engine, device="cpu"),
                                                 progress=False)
    return out


def test_real_fixture_same_answers_as_george(both_engines):
    (a, fa, sa), (b, fb, sb) = both_engines["george"], both_engines["batched"]
    assert sa["n_objects"] == sb["n_objects"] == 10 and fa.empty and fb.empty
    np.testing.assert_array_equal(a["object_id"], b["object_id"])
    # never worse than george by more than 1e-3 in NLL; here the same optimum to rounding
    assert np.all(a["log_likelihood"] - b["log_likelihood"] <= 1e-3)
    np.testing.assert_allclose(b["log_likelihood"], a["log_likelihood"], rtol=1e-9)
    np.testing.assert_allclose(b["t_scale"], a["t_scale"], rtol=1e-5)
    np.testing.assert_allclose(b["amp"], a["amp"], rtol=1e-5)
    mean_a = a["X"] * a["flux_scale"][:, None, None]
    mean_b = b["X"] * b["flux_scale"][:, None, None]
    peak = np.abs(mean_a).max(axis=(1, 2))
    assert np.all(np.abs(mean_b - mean_a).max(axis=(1, 2)) <= 1e-4 * peak)
    assert str(b["attr_engine"]) == "batched" and str(a["attr_engine"]) == "george"
    assert sb["engine"] == "batched" and sb["device"] == "cpu"


def test_torch_backend_gives_the_same_fits(lc):
    """The torch code path (what runs on a GPU), here on the CPU, agrees with the numpy one."""
    pytest.importorskip("torch")
    cfg = gp.GPConfig(n_points=20)
    objs = [_prepared(lc, oid, cfg, every=4)[0] for oid in (615, 745, 1926)]
    grids = [np.linspace(o.mjd.min(), o.mjd.max(), cfg.n_points) for o in objs]
    ref = bt.fit_and_predict(objs, grids, cfg, device="cpu")
    got = bt.fit_and_predict(objs, grids, cfg, device="torch-cpu")
    for (f1, m1), (f2, m2) in zip(ref, got):
        assert f2.log_likelihood == pytest.approx(f1.log_likelihood, rel=1e-9)
        assert (f2.amp, f2.t_scale) == pytest.approx((f1.amp, f1.t_scale), rel=1e-5)
        np.testing.assert_allclose(m2, m1, rtol=1e-5, atol=1e-5 * np.abs(m1).max())


def test_optimiser_failure_falls_back_like_george(lc, meta, monkeypatch):
    """L-BFGS-B stopped by its iteration cap -> kept with the initial hyperparameters and listed as
    fallback_initial_params, exactly as the george engine does."""
    monkeypatch.setattr(bt._LbfgsbState, "MAXITER", 1)
    m = meta[meta.object_id == 1598]
    arrays, fails, summary = gp.interpolate_lightcurves(lc, m, gp.GPConfig(n_points=20, engine="batched",
                                                                          device="cpu"), progress=False)
    assert summary["n_objects"] == 1 and summary["n_fallback"] == 1 and summary["n_excluded"] == 0
    assert fails.action.tolist() == ["fallback_initial_params"]
    assert "optimiser_not_converged" in fails.reason.iloc[0] and "ITERATIONS" in fails.reason.iloc[0]
    assert not arrays["success"][0]
    assert arrays["t_scale"][0] == pytest.approx(20.0)


def test_engine_switch_reaches_run_chunk(tmp_path, lc, meta):
    """run_chunk (what the workflow's gp_chunk rule calls) with gp.engine: batched fits with the
    batched engine, excludes the same bad objects, and matches george's chunk."""
    meta_path, lc_paths, _ = _fake_ingest(tmp_path, lc, meta)
    outs = {}
    for engine in ("george", "batched"):
        section = {"n_points": 30, "engine": engine, "device": "cpu", "gpu": 0, "chunk_runtime": 5}
        o = {k: tmp_path / f"{engine}.{ext}" for k, ext in (("npz", "npz"), ("failures", "csv"), ("summary", "json"))}
        s = gp.run_chunk(meta_path, lc_paths[0], 0, section, o["npz"], o["failures"], o["summary"], progress=False)
        outs[engine] = (load_npz(o["npz"]), pd.read_csv(o["failures"]), s)
    (a, fa, sa), (b, fb, sb) = outs["george"], outs["batched"]
    assert sb["engine"] == "batched" and str(b["attr_engine"]) == "batched"
    pd.testing.assert_frame_equal(fa, fb)  # the 1-point and NaN-flux objects, excluded alike
    assert len(fb) == 2 and set(fb.action) == {"excluded"}
    np.testing.assert_array_equal(a["object_id"], b["object_id"])
    np.testing.assert_allclose(b["X"], a["X"], atol=1e-4)
    np.testing.assert_allclose(b["log_likelihood"], a["log_likelihood"], rtol=1e-9)


def test_config_checks():
    with pytest.raises(gp.GPInputError, match="gp.engine"):
        gp.GPConfig(engine="celerite")
    with pytest.raises(gp.GPInputError, match="gp.device"):
        gp.GPConfig(device="tpu")
    assert gp.GPConfig.from_config({"engine": "batched", "gpu": 1}).engine == "batched"  # gpu: scheduling only
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(gp.GPInputError, match="cuda"):
            bt.get_backend("cuda")
        assert bt.resolve_device("auto") == "cpu"
