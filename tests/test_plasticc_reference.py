"""The feature-based reference classifier scores well above chance on simulated data (can fail)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pandas as pd

from transientrepro.plasticc.features import lightcurve_features, reference_classifier, sample_pool
from transientrepro.plasticc.loaders import load_plasticc, true_class
from transientrepro.plasticc.simulate import simulate_to_dir

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data/plasticc_kaggle_training_metadata/training_set_metadata.csv"


def test_reference_classifier_above_chance(tmp_path):
    raw = simulate_to_dir(tmp_path, REF, n_test_files=1, seed=3, n_train=14, n_test=420, min_per_class=20)
    meta, lc = load_plasticc([raw["plasticc_test_lightcurves_01"]], [raw["plasticc_test_metadata"]])
    meta["target"] = true_class(meta)
    feats = lightcurve_features(lc, meta)
    assert feats.shape[0] == 420 and np.isfinite(feats["hostgal_photoz"]).all()
    res = reference_classifier(lc, meta, seed=0, test_fraction=0.3, n_estimators=200)
    assert res["n_test"] == 126 and res["n_train"] == 294 and res["n_classes_in_test"] == 14
    assert res["chance_log_loss"] == np.log(14)
    assert res["log_loss"] < res["chance_log_loss"] - 0.8, res
    assert res["accuracy"] > 0.35, res
    # ... and shuffled labels bring it back to about chance (the features carry the signal)
    shuffled = meta.assign(target=np.random.default_rng(0).permutation(meta["target"].to_numpy()))
    res_shuf = reference_classifier(lc, shuffled, seed=0, test_fraction=0.3, n_estimators=200)
    assert res_shuf["log_loss"] > res["log_loss"] + 0.5


def test_sample_pool_stratified():
    meta = pd.DataFrame({"object_id": np.arange(1000), "target": np.repeat([90, 42, 64], [700, 250, 50])})
    s = sample_pool(meta, 100, seed=1)
    assert s["target"].value_counts().to_dict() == {90: 70, 42: 25, 64: 5}
    assert sample_pool(meta, None, seed=1) is meta
    pd.testing.assert_frame_equal(s, sample_pool(meta, 100, seed=1))


def test_reference_is_scored_on_the_t2_split_test_objects(tmp_path):
    from transientrepro.plasticc.features import reference_on_split

    raw = simulate_to_dir(tmp_path, REF, n_test_files=1, seed=4, n_train=14, n_test=280, min_per_class=15)
    meta, lc = load_plasticc([raw["plasticc_test_lightcurves_01"]], [raw["plasticc_test_metadata"]])
    meta["target"] = true_class(meta)
    rng = np.random.default_rng(1)
    ids = meta["object_id"].to_numpy()
    split = pd.DataFrame({"object_id": ids, "split": np.where(rng.random(len(ids)) < 0.3, "test", "train")})
    res, pred = reference_on_split(lc, meta, split, seed=0, n_estimators=50)
    test_ids = set(split.loc[split.split == "test", "object_id"])
    assert set(pred["object_id"]) == test_ids and res["n_test"] == len(test_ids)
    assert res["n_train"] == len(ids) - len(test_ids)
    p = pred.filter(like="p_").to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert 0 < res["balanced_accuracy"] <= 1 and res["log_loss"] < np.log(14)
    res_small, _ = reference_on_split(lc, meta, split, seed=0, n_estimators=50, n_train=60)
    assert abs(res_small["n_train"] - 60) <= 14 and res_small["n_test"] == len(test_ids)
    bad = pd.concat([split, pd.DataFrame({"object_id": [999999999], "split": ["test"]})])
    with pytest.raises(ValueError, match="999999999"):
        reference_on_split(lc, meta, bad, seed=0, n_estimators=10)
