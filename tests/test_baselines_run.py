"""Baselines end to end on a tiny synthetic SDSS-like ingest: data adapters (epoch frames,
light-curve tensors), ConvEntion's protocol, and every output file of a model directory."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from transientrepro.baselines.models import PAPER_ARCHITECTURES, BaselineConfigError
from transientrepro.baselines.lightcurves import LightCurveError
from transientrepro.baselines.run import (
    MODELS,
    build_frame_data,
    build_lightcurve_data,
    output_files,
    parse_model,
    run_baseline,
)
from transientrepro.convention.data import build_sequence_data, default_partition, synthetic_ingest
from transientrepro.convention.preprocess import task_labels
from transientrepro.io import read_json
from transientrepro.sdss.stamp_store import save_stamps

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

SECTION = {
    "max_len": 5,
    "epoch_tol": 0.5,
    "crop": "brightest",
    "architectures": {
        "lstm_lightcurves": {"hidden": 8, "num_layers": 1, "bidirectional": True, "dropout": 0.05, "pooling": "mean"},
        "cnn_gru": {"conv_channels": [4, 8], "pool_after": [0, 1], "pool": 2, "fc": 8, "hidden": 8, "num_layers": 1, "dropout": 0.3},
        "cnn_lstm": {"conv_channels": [4, 8], "pool_after": [0], "pool": 2, "fc": 8, "hidden": 8, "num_layers": 2, "dropout": 0.3},
    },
    "train": {"epochs_pretrain": 1, "epochs_finetune": 1, "n_folds": 2, "n_ensembles": 2, "batch_size": 16, "device": "cpu"},
    "augment": {"p_drop": 0.2, "rotate90": True, "flip": True, "shift": True},
}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    d = tmp_path_factory.mktemp("ingest")
    objects, stamps = synthetic_ingest(n_objects=48, stamp=12, max_epochs=8, seed=3)
    objects["partition"] = default_partition(objects, task_labels(objects["label"].tolist(), "4class")[0], 0)
    # light curves: central-pixel flux of every stamp (the ingest's columns)
    flux = stamps["images"][:, 5:7, 5:7].sum(axis=(1, 2)).astype(np.float64)
    lc = pd.DataFrame({"CID": stamps["cid"][stamps["obj_index"]], "mjd": stamps["mjd"], "band": stamps["band"],
                       "flux": flux, "flux_err": np.full(len(flux), 0.6)})
    objects.to_parquet(d / "objects.parquet")
    lc.to_parquet(d / "lightcurves.parquet")
    save_stamps(d / "stamps.h5", stamps)
    return d, objects, stamps, lc


def test_parse_model_names():
    assert parse_model("cnn_gru_g_3class").arch == "cnn_gru"
    assert parse_model("cnn_gru_g_3class").bands == "g" and parse_model("cnn_gru_g_3class").task == "3class"
    assert parse_model("cnn_lstm_ugriz").task == "4class"
    assert parse_model("lstm_lightcurves").bands == "ugriz"
    for bad in ("cnn_gru_r", "cnn_gru_g_5class", "transformer"):
        with pytest.raises(BaselineConfigError, match="config baselines.models"):
            parse_model(bad)


def test_paper_yaml_matches_paper_architectures_and_models():
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["baselines"]
    assert paper["architectures"] == PAPER_ARCHITECTURES
    assert tuple(paper["models"]) == MODELS
    emb = yaml.safe_load((ROOT / "config/config.yaml").read_text())["baselines"]
    assert set(emb["models"]) <= set(MODELS)


def test_frame_adapter_groups_bands_into_epochs(ingest):
    _, objects, stamps, _ = ingest
    seq = build_sequence_data(objects, stamps, "ugriz", "4class", M=10_000)
    fd = build_frame_data(seq, stamps, "ugriz", max_len=4, epoch_tol=0.5)
    assert fd.n_channels == 5 and fd.n_classes == 4
    ds = fd.dataset(fd.spec_rows, train=False)
    (x, mask), y = ds[0]
    assert x.shape == (4, 5, 12, 12) and mask.dtype == torch.bool and 0 <= y < 4
    i = int(fd.spec_rows[0])
    n_ep = int(fd.epoch[fd.offsets[i + 1] - 1]) + 1
    assert int(mask.sum()) == min(n_ep, 4)
    assert not x[~mask].any()  # padding frames are zero
    # a missing band of an epoch is a zero image: per valid frame, non-zero channels = bands observed
    a, b = int(fd.offsets[i]), int(fd.offsets[i + 1])
    if n_ep <= 4:
        for e in range(n_ep):
            observed = set(fd.channel[a:b][fd.epoch[a:b] == e].tolist())
            nonzero = {c for c in range(5) if x[e, c].abs().sum() > 0}
            assert nonzero == observed
    # g only: one channel; training items are augmented but keep shapes
    g = build_frame_data(build_sequence_data(objects, stamps, "g", "3class", M=10_000), stamps, "g", 4, 0.5)
    from transientrepro.convention.augment import AugmentConfig
    (xg, mg), _ = g.dataset(g.pretrain_rows, train=True, seed=1, augment=AugmentConfig(p_drop=0.5))[0]
    assert xg.shape == (4, 1, 12, 12) and g.class_names == ("AGN", "SN", "Variable")
    with pytest.raises(LightCurveError, match="missing array 'mjd'"):
        build_frame_data(seq, {k: v for k, v in stamps.items() if k != "mjd"}, "ugriz", 4, 0.5)


def test_lightcurve_adapter(ingest):
    _, objects, stamps, lc = ingest
    seq = build_sequence_data(objects, stamps, "ugriz", "4class", M=10_000)
    ld = build_lightcurve_data(seq, lc, max_len=3, epoch_tol=0.5)
    assert ld.n_features == 16 and ld.X.shape[0] == len(seq.object_ids)
    (x, mask), y = ld.dataset(ld.spec_rows)[0]
    assert x.shape == (3, 16) and int(mask.sum()) == min(int(ld.lengths[ld.spec_rows[0]]), 3)
    with pytest.raises(LightCurveError, match="missing columns \\['flux_err'\\]"):
        build_lightcurve_data(seq, lc.drop(columns="flux_err"), 3, 0.5)
    with pytest.raises(LightCurveError, match="has no valid observation"):
        build_lightcurve_data(seq, lc[lc["CID"] != seq.object_ids[0]], 3, 0.5)


@pytest.mark.parametrize("model", ["lstm_lightcurves", "cnn_gru_ugriz", "cnn_lstm_g_3class"])
def test_run_baseline_writes_every_output(ingest, tmp_path, model):
    d = ingest[0]
    out = tmp_path / model
    params_csv = tmp_path / f"parameter_counts_baselines_{model}.csv"
    m = run_baseline(model, d / "objects.parquet", d / "stamps.h5", d / "lightcurves.parquet", SECTION, out, params_csv, seed=5)
    for name in output_files(SECTION):
        assert (out / name).is_file(), name
    saved = read_json(out / "metrics.json")
    for key in ("accuracy", "accuracy_std", "f1_macro", "f1_macro_std", "recall_per_class", "confusion_matrix_normalised",
                "confusion_matrix_normalised_std", "n_params", "n_params_paper_settings", "n_folds", "n_ensembles",
                "hyperparameters", "seconds"):
        assert key in saved, key
    assert saved["n_folds"] == 2 and saved["n_ensembles"] == 2 and 0 <= saved["accuracy"] <= 1
    n_classes = 3 if model.endswith("3class") else 4
    assert np.asarray(saved["confusion_matrix_normalised"]).shape == (n_classes, n_classes)
    pred = pd.read_parquet(out / "predictions.parquet")
    assert pred["object_id"].is_unique and set(pred["fold"]) == {0, 1}
    assert np.allclose(pred[[c for c in pred.columns if c.startswith("p_")]].sum(axis=1), 1.0, atol=1e-5)
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 2 * 2 * 1  # folds x ensembles x epochs
    params = pd.read_csv(params_csv)
    assert list(params.columns) == ["model", "config", "hyperparameters", "built_n_params", "paper_n_params"]
    assert params["config"].tolist() == ["run", "paper_settings"]
    assert params["built_n_params"].iloc[0] == m["n_params"]
    assert params["built_n_params"].iloc[1] > 50_000
    # deterministic given the seeds
    if model == "cnn_gru_ugriz":
        again = run_baseline(model, d / "objects.parquet", d / "stamps.h5", None, SECTION, tmp_path / "again",
                             tmp_path / "again.csv", seed=5)
        assert again["accuracy"] == m["accuracy"] and again["f1_macro"] == m["f1_macro"]


def test_baselines_and_convention_share_the_table5_partition(ingest):
    """Baselines and ConvEntion both take the partition from build_sequence_data, i.e. the SDSS
    stage's assign_partitions, which must agree row by row with its partition() table."""
    from transientrepro.sdss.partition import assign_partitions, partition

    objects = ingest[1].drop(columns="partition")
    rows = np.asarray(assign_partitions(objects, 7)).astype(str)
    assert len(rows) == len(objects)
    assert set(rows) <= {"Train", "FineTune", "Test", ""}
    assert (rows[objects["label"].to_numpy() == "Unknown"] == "").all()
    ref = partition(objects, 7).set_index("CID")["partition"]
    known = objects["label"].to_numpy() != "Unknown"
    assert (rows[known] == ref.loc[objects.loc[known, "CID"]].to_numpy()).all()


def test_lstm_without_lightcurves_is_a_clear_error(ingest, tmp_path):
    d = ingest[0]
    with pytest.raises(BaselineConfigError, match="lightcurves.parquet"):
        run_baseline("lstm_lightcurves", d / "objects.parquet", d / "stamps.h5", None, SECTION, tmp_path / "x", tmp_path / "x.csv")
    with pytest.raises(BaselineConfigError, match="missing entry 'cnn_gru'"):
        run_baseline("cnn_gru_g", d / "objects.parquet", d / "stamps.h5", None, {**SECTION, "architectures": {}},
                     tmp_path / "y", tmp_path / "y.csv")
