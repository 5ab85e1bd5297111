"""`transientrepro predict` on the real 10-object PLAsTiCC fixture with a small trained t2 model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from transientrepro.cli import main
from transientrepro.io import save_npz, write_parquet
from transientrepro.t2.data import make_synthetic_gp
from transientrepro.t2.params import class_codes_and_names
from transientrepro.t2.predict import PredictError, classify
from transientrepro.t2.training import run_training
from transientrepro.t2.tuning import gather_tuning

FIX = Path(__file__).parent / "data" / "plasticc_kaggle_training_sample10"
GP = {"n_points": 20, "engine": "batched", "device": "cpu", "time_grid": "transient", "normalisation": "none"}
CFG = {"tune": False, "hyperparameters": {"d": 8, "h": 2, "d_ff": 16, "N": 1, "dropout": 0.1, "learning_rate": 0.01},
       "epochs": 2, "batch_size": 32, "scaling": "dataset_band", "aux_scaling": "robust"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    gp, split = make_synthetic_gp(n=140, L=20, seed=5)
    save_npz(d / "gp.npz", **gp)
    write_parquet(split, d / "split.parquet")
    gather_tuning("t2", CFG, 1, d / "study.journal", d / "best.json", d / "trials.csv")
    run_training(d / "gp.npz", d / "split.parquet", d / "best.json", "t2", CFG, 1, d / "t2" / "model.keras",
                 d / "history.csv", d / "t2" / "train_info.json", threads=1)
    (d / "config.yaml").write_text(yaml.safe_dump({"gp": GP}))
    return d


def test_predict_cli_one_row_per_object_probabilities_sum_to_one(model, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    rc = main(["predict", "--model", str(model / "t2" / "model.keras"), "--lightcurves", str(FIX / "training_set.csv"),
               "--metadata", str(FIX / "training_set_metadata.csv"), "--config", str(model / "config.yaml"),
               "--out", str(out), "--threads", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "t2 inference:" in printed and "objects/s" in printed and "GP (batched)" in printed
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    meta = pd.read_csv(FIX / "training_set_metadata.csv")
    assert table["object_id"].tolist() == sorted(meta["object_id"].tolist())  # one row per object, none lost
    codes, names = class_codes_and_names()
    ok = table["gp_failure"].isna()
    assert ok.sum() >= 8
    p = table.loc[ok, [f"p_{c}" for c in codes]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert set(table.loc[ok, "predicted"]) <= set(codes)
    assert (table.loc[ok, "predicted"].to_numpy() == np.asarray(codes)[p.argmax(axis=1)]).all()
    assert table["true_class"].tolist() == meta.sort_values("object_id")["target"].tolist()


def test_unlabelled_metadata_and_wrong_gp_grid(model, tmp_path):
    meta = pd.read_csv(FIX / "training_set_metadata.csv").drop(columns="target")
    meta.to_csv(tmp_path / "meta.csv", index=False)
    table, t = classify(FIX / "training_set.csv", tmp_path / "meta.csv", model / "t2" / "model.keras", GP, threads=1)
    assert len(table) == 10 and "true_class" not in table.columns and t["n_objects"] == 10
    with pytest.raises(PredictError, match="n_points = 30"):
        classify(FIX / "training_set.csv", tmp_path / "meta.csv", model / "t2" / "model.keras", dict(GP, n_points=30), threads=1)
    with pytest.raises(PredictError, match="train_info.json not found"):
        classify(FIX / "training_set.csv", tmp_path / "meta.csv", model / "t2" / "model.keras", GP,
                 train_info_path=tmp_path / "nope.json")
