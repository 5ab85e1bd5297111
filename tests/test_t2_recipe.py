"""t2 as its authors trained it (issue 9): every paper-vs-code switch changes what it claims to."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

keras = pytest.importorskip("keras")

from transientrepro import gp  # noqa: E402
from transientrepro.t2 import ablation  # noqa: E402
from transientrepro.t2.data import make_synthetic_gp, split_data  # noqa: E402
from transientrepro.t2.layers import AuxConcat, positional_encoding  # noqa: E402
from transientrepro.t2.losses import BatchFlatLogLoss  # noqa: E402
from transientrepro.t2.params import T2ConfigError, authors_batch_size, settings  # noqa: E402
from transientrepro.t2.scaling import apply_aux_scaling, apply_fitted, apply_scaling, fit_and_apply, fit_aux_scaling, fit_scaling  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "plasticc_kaggle_training_sample10"


# --- 1. GP window -------------------------------------------------------------------------------

def _transient_object():
    """The fixture object whose window drops the most observations (a real transient)."""
    lc = pd.read_csv(DATA / "training_set.csv").rename(columns={"detected": "detected_bool"})
    cfg = gp.GPConfig(time_grid="transient", transient_window=50.0)
    oid = max(lc.object_id.unique(), key=lambda o: len(lc[lc.object_id == o]) - len(gp.transient_window(lc[lc.object_id == o], cfg)))
    return int(oid), lc[lc.object_id == oid]


def test_transient_window_keeps_points_within_50_days_of_the_detections():
    oid, obj = _transient_object()
    det = obj[obj.detected_bool == 1].mjd
    cfg = gp.GPConfig(time_grid="transient", transient_window=50.0)
    kept = gp.transient_window(obj, cfg)
    assert 0 < len(kept) < len(obj)
    assert kept.mjd.min() > det.min() - 50 and kept.mjd.max() < det.max() + 50
    outside = obj[(obj.mjd <= det.min() - 50) | (obj.mjd >= det.max() + 50)]
    assert len(kept) + len(outside) == len(obj)
    # the fit and the grid use only the kept points
    r = gp.interpolate_object(oid, obj, gp.GPConfig(time_grid="transient", n_points=20))
    assert r["n_obs"] == len(kept)
    assert r["t0_mjd"] == pytest.approx(kept.mjd.min())
    assert r["t_grid"][-1] == pytest.approx(kept.mjd.max() - kept.mjd.min())
    full = gp.interpolate_object(oid, obj, gp.GPConfig(time_grid="observed", n_points=20))
    assert full["n_obs"] == len(obj) and full["t_grid"][-1] > r["t_grid"][-1]
    # other windows leave the observations alone; an object without detections keeps everything
    assert len(gp.transient_window(obj, gp.GPConfig(time_grid="observed"))) == len(obj)
    assert len(gp.transient_window(obj.assign(detected_bool=0), cfg)) == len(obj)


def test_batched_engine_honours_the_transient_window():
    oid, obj = _transient_object()
    cfg = gp.GPConfig(time_grid="transient", n_points=20, engine="batched", device="cpu")
    (row,) = gp.interpolate.interpolate_objects([(oid, obj)], cfg)
    ref = gp.interpolate_object(oid, obj, gp.GPConfig(time_grid="transient", n_points=20))
    assert row["n_obs"] == ref["n_obs"]
    np.testing.assert_allclose(row["X"], ref["X"], atol=1e-3 * np.abs(ref["X"]).max())


# --- 2. scaling -----------------------------------------------------------------------------------

def test_dataset_band_and_robust_aux_scaling_are_fitted_on_training_objects_only():
    g, split = make_synthetic_gp(n=140, L=20, seed=3)
    d = split_data(g, split, "t2")
    tr, te = d["train"], d["test"]
    raw_te_X, raw_tr_aux = te.X.copy(), tr.aux.copy()
    s = settings({"scaling": "dataset_band", "aux_scaling": "robust"})
    fitted = fit_and_apply(tr, s)
    flat = tr.X.reshape(-1, tr.X.shape[-1])
    np.testing.assert_allclose(np.median(flat, axis=0), 0.0, atol=1e-5)  # per passband, on training objects
    np.testing.assert_allclose(np.median(tr.aux, axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(fitted["aux_scaling"]["center"], np.median(raw_tr_aux, axis=0), rtol=1e-6)
    apply_fitted(te, fitted)
    c, sc = np.asarray(fitted["scaling"]["center"]), np.asarray(fitted["scaling"]["scale"])
    np.testing.assert_allclose(te.X, (raw_te_X - c) / sc, rtol=1e-4, atol=1e-5)


def test_max_abs_scaling_divides_each_object_by_its_peak():
    X = np.random.default_rng(0).normal(size=(5, 7, 6)).astype(np.float32)
    Y = apply_scaling(X, fit_scaling(X, "max_abs"))
    np.testing.assert_allclose(np.abs(Y).reshape(5, -1).max(axis=1), 1.0, rtol=1e-6)
    assert apply_aux_scaling(np.ones((3, 2)), fit_aux_scaling(np.ones((3, 2)), "none")).tolist() == [[1, 1]] * 3


# --- 3. positional encoding ------------------------------------------------------------------------

def test_vaswani_positional_encoding_matches_the_formula():
    L, d = 102, 32
    P = positional_encoding(L, d, "vaswani")
    for p in (0, 1, 7, 101):
        for i in range(d // 2):
            w = p / 10000 ** (2 * i / d)
            assert P[p, 2 * i] == pytest.approx(math.sin(w), abs=1e-12)
            assert P[p, 2 * i + 1] == pytest.approx(math.cos(w), abs=1e-12)
    assert not np.allclose(P, positional_encoding(L, d, "paper_eq9"))
    with pytest.raises(ValueError):
        positional_encoding(4, 4, "other")


# --- aux layout -------------------------------------------------------------------------------------

def test_interleaved_aux_layout_is_the_authors_tile_and_reshape():
    x = np.zeros((1, 3, 6), np.float32)
    aux = np.array([[0.5, 0.01]], np.float32)
    out = keras.ops.convert_to_numpy(AuxConcat("L", "interleaved")([x, aux]))
    assert out.shape == (1, 5, 6)
    np.testing.assert_allclose(out[0, 3], [0.5, 0.01] * 3)
    np.testing.assert_allclose(out[0, 4], [0.5, 0.01] * 3)
    per = keras.ops.convert_to_numpy(AuxConcat("L", "per_feature")([x, aux]))
    np.testing.assert_allclose(per[0, 3], [0.5] * 6)
    np.testing.assert_allclose(per[0, 4], [0.01] * 6)


# --- 5. loss ----------------------------------------------------------------------------------------

def test_batch_flat_log_loss_against_a_hand_computation():
    C = 4
    y = np.array([0, 0, 0, 2])  # class 0 three times, class 2 once; classes 1 and 3 absent
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.4, 0.2, 0.2, 0.2], [0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.6, 0.2]])
    hand = -(1 / C) * ((math.log(0.7) + math.log(0.4) + math.log(0.5)) / 3 + math.log(0.6) / 1)
    got = float(keras.ops.convert_to_numpy(BatchFlatLogLoss()(keras.utils.to_categorical(y, C), p)))
    assert got == pytest.approx(hand, rel=1e-5)
    # the authors' formula: -mean_c(mean_i(y log p) / (N_c / B)), absent classes 0
    yt = keras.utils.to_categorical(y, C)
    w = yt.sum(0) / len(y)
    per = (yt * np.log(np.clip(p, 1e-15, 1 - 1e-15))).mean(0)
    authors = -np.mean(np.divide(per, w, out=np.zeros_like(per), where=w > 0))
    assert got == pytest.approx(authors, rel=1e-5)


# --- 4. optimiser, 6. schedule, 7. stopping ------------------------------------------------------------

def test_compiled_model_carries_clipnorm_and_loss():
    from transientrepro.t2.model import build_and_compile

    hp = {"d": 8, "h": 2, "d_ff": 8, "N": 1, "dropout": 0.0, "learning_rate": 0.01}
    m = build_and_compile(10, 6, 14, hp, settings({"clipnorm": 1.0, "loss": "batch_flat"}), n_aux=2)
    assert m.optimizer.clipnorm == 1.0 and isinstance(m.loss, BatchFlatLogLoss)
    m2 = build_and_compile(10, 6, 14, hp, settings({"clipnorm": None, "loss": "class_weighted"}), n_aux=2)
    assert m2.optimizer.clipnorm is None and not isinstance(m2.loss, BatchFlatLogLoss)


def _train(over, n=140, test=False):
    from transientrepro.t2.training import configure_tensorflow, train

    configure_tensorflow(0, 1)
    g, split = make_synthetic_gp(n=n, L=16, seed=1)
    d = split_data(g, split, "t2")
    s = settings({"hyperparameters": {"d": 8, "h": 2, "d_ff": 8, "N": 1, "dropout": 0.0, "learning_rate": 0.01},
                  "batch_size": 32, **over})
    fitted = fit_and_apply(d["train"], s)
    apply_fitted(d["test"], fitted)
    return train(d["train"], s["hyperparameters"], s, 0, 14, test=d["test"] if test else None), d


def test_overfit_ratio_stop_and_cooldown_and_optimistic_validation():
    # a threshold below any ratio stops after the first epoch (the authors' DetectOverfittingCallback)
    (model, hist, info), _ = _train({"epochs": 5, "overfit_ratio_stop": 1e-6})
    assert info["epochs_run"] == 1 and "val_train_loss_ratio" in hist
    # the optimistic option watches the test set itself
    (model, hist, info), d = _train({"epochs": 1, "validation": "test_set_optimistic"}, test=True)
    assert info["n_val"] == len(d["test"]) and info["n_fit"] == len(d["train"])
    with pytest.raises(ValueError, match="test split"):
        _train({"epochs": 1, "validation": "test_set_optimistic"})
    # factor 0.1 on the training loss with patience 1: the LR falls; cooldown 5 keeps it from falling twice
    (model, hist, info), _ = _train({"epochs": 6, "lr_reduce_factor": 0.1, "lr_reduce_patience": 1,
                                     "lr_reduce_monitor": "val_flat_log_loss", "lr_reduce_cooldown": 5,
                                     "early_stopping_patience": 50})
    lrs = np.round(np.log10(np.asarray(hist["learning_rate"]) / 0.01)).astype(int)
    assert lrs.min() >= -1  # at most one reduction in 6 epochs with cooldown 5 after the first


def test_authors_batch_size():
    assert authors_batch_size(3137) == 16   # 3137 mod 16/32/64 = 1: ratios 16, 32, 64 -> 16
    assert authors_batch_size(20000) == 96  # mod 96/128/256 = 32: ratios 3, 4, 8 -> 96
    assert settings({"batch_size": "auto"})["batch_size"] == "auto"
    with pytest.raises(T2ConfigError):
        settings({"batch_size": "big"})


def test_bad_switch_values_are_named():
    for key, bad in (("loss", "mse"), ("positional_encoding", "rope"), ("aux_layout", "x"), ("validation", "test")):
        with pytest.raises(T2ConfigError, match=f"t2.{key}"):
            settings({key: bad})


# --- 8. tuning: Table 2 is the first trial -------------------------------------------------------------

def test_pinned_values_are_the_studys_first_trial(tmp_path):
    import optuna

    from transientrepro.tuning import journal_storage, run_worker

    space = {"d": {"type": "categorical", "choices": [16, 32]}, "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}
    seen = []
    run_worker(lambda p: seen.append(dict(p)) or 1.0, space, tmp_path / "s.journal", "s", n_trials=2, seed=0,
               enqueue={"d": 32, "learning_rate": 0.01733092})
    assert seen[0] == {"d": 32, "learning_rate": 0.01733092}
    run_worker(lambda p: seen.append(dict(p)) or 1.0, space, tmp_path / "s.journal", "s", n_trials=1, seed=1,
               enqueue={"d": 32, "learning_rate": 0.01733092})  # a rerun does not queue it twice
    study = optuna.load_study(study_name="s", storage=journal_storage(tmp_path / "s.journal"))
    assert sum(t.user_attrs.get("enqueued", False) for t in study.trials) == 1


def test_pinned_first_trial_skips_values_outside_the_space():
    from transientrepro.t2.tuning import pinned_first_trial

    s = settings({"tuning": {"space": {"d": {"type": "categorical", "choices": [64]},
                                       "learning_rate": {"type": "float", "low": 1e-2, "high": 1e-1, "log": True}}}})
    assert pinned_first_trial(s) == {"learning_rate": 0.017}


# --- configs -----------------------------------------------------------------------------------------

def test_paper_config_is_the_authors_recipe():
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    t2, g = cfg["t2"], cfg["gp"]
    assert (g["time_grid"], g["transient_window"], g["normalisation"]) == ("transient", 50.0, "none")
    assert (t2["scaling"], t2["aux_scaling"], t2["positional_encoding"], t2["aux_layout"]) == ("dataset_band", "robust", "vaswani", "interleaved")
    assert (t2["loss"], t2["clipnorm"], t2["hyperparameters"]["learning_rate"]) == ("batch_flat", 1.0, 0.01733092)
    assert (t2["lr_reduce_factor"], t2["lr_reduce_monitor"], t2["lr_reduce_cooldown"], t2["lr_reduce_patience"]) == (0.1, "loss", 5, 5)
    assert (t2["epochs"], t2["early_stopping_patience"], t2["overfit_ratio_stop"]) == (400, 50, 2.0)
    assert t2["validation"] == "holdout"  # the optimistic test-set stopping is never a default
    assert t2["tuning"]["space"]["N"]["choices"] == [1, 2, 4, 8]


# --- ablation ----------------------------------------------------------------------------------------

def test_ablation_flips_one_switch_at_a_time():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    runs = ablation.runs(cfg["t2"], cfg["gp"])
    assert runs[0] == ablation.RECIPE and len(runs) == 1 + len(ablation.SWITCHES)
    base = ablation.run_section(cfg["t2"], cfg["gp"], ablation.RECIPE)
    for r in runs[1:]:
        sec = ablation.run_section(cfg["t2"], cfg["gp"], r)
        changed = {k for k in set(sec) | set(base) if sec.get(k) != base.get(k)}
        name = r.partition(ablation.SEP)[0]
        assert changed and changed <= set(ablation.SWITCHES[name][r.partition(ablation.SEP)[2]]), (r, changed)
    jobs = ablation.run_jobs(cfg["t2"], cfg["gp"])
    abl = ablation.ablation_settings(cfg["t2"])
    assert len({s for _, _, s in jobs}) >= 3
    assert {n for r, n, _ in jobs if r == ablation.RECIPE} == set(abl["sizes"]) | {abl["n_train"]}


def test_ablation_gather_has_every_switch_and_the_learning_curve():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    abl = ablation.ablation_settings(cfg["t2"])
    recs = []
    for r, n, s in ablation.run_jobs(cfg["t2"], cfg["gp"]):
        recs.append({"run": r, "n_train": n, "n_train_requested": n, "seed": s, "log_loss": 1.0 + 0.01 * s,
                     "balanced_accuracy": 0.5, "accuracy": 0.6})
    recs += [{"run": "reference", "n_train": n, "n_train_requested": n, "seed": s, "log_loss": 1.1, "balanced_accuracy": 0.5,
              "accuracy": 0.6} for n in abl["sizes"] for s in abl["seeds"]]
    df = ablation.gather(recs, cfg["t2"], cfg["gp"])
    assert list(df.columns) == list(ablation.COLUMNS)
    assert set(df["switch"]) == set(ablation.SWITCHES) | {ablation.LEARNING_CURVE}
    for name in ablation.SWITCHES:
        g = df[df.switch == name]
        assert g.setting.nunique() == 2 and (g.groupby("setting").seed.nunique() >= 3).all()
    lc = df[df.switch == ablation.LEARNING_CURVE]
    assert set(lc.setting) == {"t2", "reference"} and lc.n_train.nunique() == 3
    summ = ablation.summary(df, cfg["t2"], cfg["gp"])
    assert (summ[~summ.is_recipe & (summ.switch != ablation.LEARNING_CURVE)].delta_log_loss_mean.abs() < 1e-12).all()
