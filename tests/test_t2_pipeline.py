"""t2 end to end on a tiny synthetic gp.npz: train, evaluate, every output; and clear input errors."""
import json

import numpy as np
import pandas as pd
import pytest

from transientrepro.io import load_npz, save_npz, write_parquet
from transientrepro.t2.evaluate import run_evaluation
from transientrepro.t2.params import T2ConfigError, class_codes_and_names, paper_n_params, settings
from transientrepro.t2.data import T2DataError, load_gp, load_split, make_synthetic_gp, split_data, stratified_subset
from transientrepro.t2.scaling import apply_scaling, fit_scaling
from transientrepro.t2.training import run_training
from transientrepro.t2.tuning import gather_tuning

CFG = {
    "tune": False,
    "hyperparameters": {"d": 8, "h": 2, "d_ff": 16, "N": 1, "dropout": 0.1, "learning_rate": 0.01},
    "epochs": 2,
    "batch_size": 32,
    "early_stopping_patience": 1,
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("t2")
    gp, split = make_synthetic_gp(n=140, L=20, seed=2)
    save_npz(d / "gp.npz", **gp)
    write_parquet(split, d / "split.parquet")
    return d


@pytest.mark.parametrize("variant,concat", [("t2", "L"), ("t2_noz", "L"), ("t2", "M")])
def test_train_and_evaluate_writes_all_outputs(data_dir, tmp_path, variant, concat):
    d = data_dir
    CFG = dict(globals()["CFG"], concat=concat)
    gather_tuning(variant, CFG, 1, tmp_path / "study.journal", tmp_path / "best_params.json", tmp_path / "trials.csv")
    info = run_training(d / "gp.npz", d / "split.parquet", tmp_path / "best_params.json", variant, CFG, 1,
                        tmp_path / "model.keras", tmp_path / "history.csv", tmp_path / "train_info.json", threads=1)
    assert 1 <= info["epochs_run"] <= 2
    hist = pd.read_csv(tmp_path / "history.csv")
    assert {"epoch", "loss", "val_loss", "val_flat_log_loss", "learning_rate"} <= set(hist.columns)
    m = run_evaluation(d / "gp.npz", d / "split.parquet", tmp_path / "model.keras", tmp_path / "train_info.json", variant, CFG, 1,
                       tmp_path / "metrics.json", tmp_path / "predictions.parquet", tmp_path / "cams.npz", tmp_path / "pc.csv", threads=1)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("log_loss", "roc_auc_micro", "roc_auc_macro", "pr_auc_micro", "pr_auc_per_class", "accuracy",
                "confusion_matrix", "confusion_matrix_normalised", "n_params", "paper_n_params", "hyperparameters",
                "n_train", "n_test", "seed", "epochs_run", "train_seconds"):
        assert key in metrics, key
    n_aux = 2 if variant == "t2" else 0
    m_eff = 6 + n_aux if concat == "M" else 6
    assert metrics["n_params"] == metrics["paper_n_params"] == paper_n_params(m_eff, 14, 8, 2, 16, 1)
    assert np.isfinite(metrics["log_loss"]) and metrics["log_loss"] > 0
    codes, _ = class_codes_and_names()
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    assert list(preds.columns) == ["object_id", "y_true", "y_pred"] + [f"p_{c}" for c in codes]
    assert len(preds) == metrics["n_test"]
    np.testing.assert_allclose(preds[[f"p_{c}" for c in codes]].sum(axis=1), 1.0, atol=1e-5)
    assert set(preds["y_true"]) <= set(codes)
    cams = load_npz(tmp_path / "cams.npz")
    l_extra = n_aux if concat == "L" else 0
    assert cams["cams"].shape == (metrics["n_test"], 20 + l_extra)
    np.testing.assert_allclose(cams["cams"].sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(cams["object_id"], preds["object_id"].to_numpy())
    if variant == "t2" and concat == "L":
        assert 0 < metrics["redshift_activation_mean"] < 1
        np.testing.assert_allclose(metrics["redshift_activation_mean"], cams["redshift_share"].mean(), rtol=1e-6)
    else:
        assert "redshift_activation_mean" not in metrics
    pc = pd.read_csv(tmp_path / "pc.csv")
    assert pc["config"].tolist() == ["run", "paper_settings"]
    assert (pc["built_n_params"] == pc["paper_n_params"]).all() and pc["match"].all()
    table2 = pc.loc[1]
    if table2["M"] == 6 and table2["C"] == 14:  # the §3.7 count at Table 2's values
        assert table2["built_n_params"] == {"L": 13390, "M": 13454}[concat if variant == "t2" else "L"]


def test_training_is_deterministic(data_dir, tmp_path):
    d = data_dir
    cfg = dict(CFG, epochs=1)
    gather_tuning("t2_noz", cfg, 1, tmp_path / "j", tmp_path / "best.json", tmp_path / "trials.csv")
    losses = []
    for k in range(2):
        run_training(d / "gp.npz", d / "split.parquet", tmp_path / "best.json", "t2_noz", cfg, 3,
                     tmp_path / f"m{k}.keras", tmp_path / f"h{k}.csv", tmp_path / f"i{k}.json", threads=1)
        losses.append(pd.read_csv(tmp_path / f"h{k}.csv")["loss"].to_numpy())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_data_errors_name_object_and_file(tmp_path):
    gp, split = make_synthetic_gp(n=28, L=8, seed=1)
    bad = dict(gp, target=gp["target"].copy())
    bad["target"][3] = 991
    with pytest.raises(T2DataError, match=r"target code 991 of object_id 1003 \(row 3\)"):
        split_data(bad, split, "t2", "gp.npz")
    with pytest.raises(T2DataError, match="not in the split table, first object_id 1000"):
        split_data(gp, split.iloc[1:], "t2", "gp.npz")
    nan = dict(gp, X=gp["X"].copy())
    nan["X"][5, 2, 1] = np.nan
    save_npz(tmp_path / "gp.npz", **nan)
    with pytest.raises(T2DataError, match=r"non-finite X .* first object_id 1005 \(row 5\)"):
        load_gp(tmp_path / "gp.npz")
    save_npz(tmp_path / "short.npz", **{k: v for k, v in gp.items() if k != "z_err"})
    with pytest.raises(T2DataError, match="missing array 'z_err'"):
        load_gp(tmp_path / "short.npz")
    s2 = split.copy()
    s2.loc[4, "split"] = "validation"
    write_parquet(s2, tmp_path / "split.parquet")
    with pytest.raises(T2DataError, match="row 4 .*'validation'"):
        load_split(tmp_path / "split.parquet")
    with pytest.raises(T2DataError, match="GP file not found"):
        load_gp(tmp_path / "absent.npz")
    with pytest.raises(T2ConfigError, match="t2.concat"):
        settings({"concat": "Q"})
    with pytest.raises(T2ConfigError, match="unknown t2 variant"):
        split_data(gp, split, "t3", "gp.npz")


def test_split_drops_gp_failures_and_keeps_aux(tmp_path):
    gp, split = make_synthetic_gp(n=28, L=8, seed=1)
    extra = pd.DataFrame({"object_id": [99999], "split": ["test"]})  # in split, no GP row
    parts = split_data(gp, pd.concat([split, extra], ignore_index=True), "t2", "gp.npz")
    assert len(parts["train"]) + len(parts["test"]) == 28
    assert parts["train"].aux.shape[1] == 2
    np.testing.assert_allclose(parts["train"].aux[:, 0], gp["z"][np.isin(gp["object_id"], parts["train"].object_id)])
    assert split_data(gp, split, "t2_noz", "gp.npz")["test"].aux.shape[1] == 0


def test_scaling_and_stratified_subset():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(50, 10, 6)).astype("float32")
    sc = fit_scaling(X, "dataset_band")
    Xs = apply_scaling(X, sc)
    np.testing.assert_allclose(np.median(Xs.reshape(-1, 6), axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.subtract(*np.percentile(Xs.reshape(-1, 6), [75, 25], axis=0)), 1.0, atol=1e-4)
    Xo = apply_scaling(X, fit_scaling(X, "object"))
    np.testing.assert_allclose(np.median(Xo.reshape(50, -1), axis=1), 0.0, atol=1e-5)
    y = np.repeat(np.arange(5), [10, 20, 2, 1, 7])
    rest, sub = stratified_subset(y, 0.3, 0)
    assert len(np.intersect1d(rest, sub)) == 0 and len(rest) + len(sub) == len(y)
    assert np.bincount(y[sub], minlength=5).tolist() == [3, 6, 1, 0, 2]
    assert stratified_subset(y, 0.3, 0)[1].tolist() == sub.tolist()
