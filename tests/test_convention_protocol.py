"""ConvEntion protocol: pre-train -> fine-tune weight transfer, a tiny end-to-end run writing every
output, model selection on an inner validation split that never reads the test fold's labels, the
losses and optimisers, the workflow stage functions and the optuna tuning (2 tiny trials)."""
import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_synthetic_ingest

from transientrepro.convention.data import build_sequence_data
from transientrepro.convention.model import ConvEntion, ModelConfig
from transientrepro.convention.fitting import focal_loss_released, make_optimizer
from transientrepro.convention.protocol import (
    TrainConfig,
    fit_fold,
    inner_split,
    load_pretrained,
    make_folds,
    run_protocol,
)
from transientrepro.convention import stages
from transientrepro.io import read_json

torch.set_num_threads(1)

TINY_MODEL = {"K": 2, "cnn_channels": [2, 4, 4, 4], "cnn_kernels": [3, 3, 3, 3], "cnn_strides": [2, 1, 1, 1],
              "cnn_paddings": [1, 1, 1, 1], "L": 1, "T": 2, "d_ff": 4, "attention_kernel": 3, "classifier_hidden": 8}
SECTION = {
    "seed": 3, "M": 6, "crop": "brightest", "model": TINY_MODEL,
    "train": {"lr": 0.003, "batch_size": 16, "epochs_pretrain": 1, "epochs_finetune": 1, "n_folds": 2, "n_ensembles": 2},
    "augment": {"p_drop": 0.1, "rotate90": True, "flip": True, "shift": True},
    "tuning": {"variant": "convention_ugriz", "study_name": "convention", "n_workers": 1, "n_trials": 2,
               "n_startup_trials": 2, "epochs": 1,
               "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                         "T": {"type": "categorical", "choices": [1, 2]}, "M": {"type": "categorical", "choices": [4, 6]}}},
}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    d = tmp_path_factory.mktemp("ingest")
    objects, stamps = write_synthetic_ingest(d, n_objects=70, seed=11)
    return d / "objects.parquet", d / "stamps.h5", objects, stamps


def _factory(data, model=TINY_MODEL):
    cfg = ModelConfig.from_mapping(model)
    return lambda c: ConvEntion(cfg, c, data.stamp_size, data.M)


def test_load_pretrained_copies_tensors_and_reinitialises_head():
    cfg = ModelConfig.from_mapping(TINY_MODEL)
    torch.manual_seed(0)
    pre = ConvEntion(cfg, 4, 8, 6)
    torch.manual_seed(1)
    same = ConvEntion(cfg, 4, 8, 6)
    loaded, skipped = load_pretrained(same, pre.state_dict())
    assert skipped == []
    for k, v in pre.state_dict().items():
        assert torch.equal(same.state_dict()[k], v), k
    torch.manual_seed(2)
    three = ConvEntion(cfg, 3, 8, 6)
    fresh_head = {k: three.state_dict()[k].clone() for k in three.head_parameter_names()}
    loaded, skipped = load_pretrained(three, pre.state_dict())
    assert sorted(skipped) == sorted(three.head_parameter_names())
    for k in three.head_parameter_names():
        assert torch.equal(three.state_dict()[k], fresh_head[k])  # head left at its fresh initialisation
    for k in loaded:
        assert torch.equal(three.state_dict()[k], pre.state_dict()[k])


def test_make_folds_stratified_and_rare_classes():
    y = np.array([0] * 20 + [1] * 10 + [2] * 3)
    f = make_folds(y, 5, 0)
    assert set(f) == set(range(5))
    for k in range(5):
        assert 0 < (f == k).sum() <= 8
    with pytest.raises(ValueError, match="exceeds the 3 spectroscopic"):
        make_folds(np.array([0, 1, 1]), 5, 0)


def test_make_folds_is_sklearn_stratified_kfold():
    """Pins the fold assignment (other stages rebuild ConvEntion's folds from it)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.random.default_rng(5).integers(0, 4, 200)
    f = make_folds(y, 5, 42)
    for k, (_, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=42).split(np.zeros(200), y)):
        assert np.array_equal(np.flatnonzero(f == k), np.sort(te))


def test_inner_split_is_stratified_and_disjoint():
    rows = np.arange(100, 160)
    labels = np.array([0] * 30 + [1] * 20 + [2] * 9 + [3])
    fit, val = inner_split(rows, labels, 0.2, 7)
    assert not set(fit) & set(val) and set(fit) | set(val) == set(rows)
    lab = dict(zip(rows, labels))
    assert [sum(lab[r] == c for r in val) for c in range(4)] == [6, 4, 2, 0]  # none from a singleton class
    assert np.array_equal(inner_split(rows, labels, 0.2, 7)[1], val)
    assert not np.array_equal(inner_split(rows, labels, 0.2, 8)[1], val)


def test_focal_loss_and_optimisers_as_released():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.1, 0.3, 0.2]])
    y = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert torch.isclose(focal_loss_released(logits, y, 2.0), (1 - torch.exp(-ce)) ** 2 * ce)
    assert torch.isclose(focal_loss_released(logits, y, 0.0), ce)
    model = torch.nn.Linear(3, 2)
    opt = make_optimizer(model, TrainConfig.from_mapping({"optimizer": "adamw", "lr": 0.002}))
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["weight_decay"] == 0.1339 and opt.defaults["amsgrad"] and opt.defaults["lr"] == 0.002
    assert isinstance(make_optimizer(model, TrainConfig()), torch.optim.Adam)


def _poisoned_fold(ingest, selection, eval_every_epoch=True):
    """Fit fold 0 twice: with the true labels and with the test fold's labels all changed."""
    _, _, objects, stamps = ingest
    data = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, seed=3)
    spec = data.spec_rows
    folds = make_folds(data.labels[spec], 2, 3)
    tr, te = spec[folds != 0], spec[folds == 0]
    poison = data.labels.copy()
    poison[te] = (poison[te] + 1) % data.n_classes
    bad = dataclasses.replace(data, labels=poison)
    cfg = TrainConfig.from_mapping({**SECTION["train"], "epochs_finetune": 3, "n_ensembles": 2, "seed": 3, "lr": 0.01,
                                    "batch_size": 8, "selection": selection, "eval_every_epoch": eval_every_epoch})
    factory = _factory(data)
    return fit_fold(factory, data, tr, te, cfg, 0), fit_fold(factory, bad, tr, te, cfg, 0), tr, te


def _same_states(a, b):
    return all(torch.equal(x[k], y[k]) for x, y in zip(a["states"], b["states"]) for k in x)


def test_inner_validation_selection_never_reads_test_fold_labels(ingest):
    clean, poisoned, tr, te = _poisoned_fold(ingest, "best_val")
    assert clean["n_val"] > 0 and clean["n_fit"] + clean["n_val"] == len(tr)
    assert clean["selected_epochs"] == poisoned["selected_epochs"]
    assert _same_states(clean, poisoned)  # the kept weights are bit-identical
    for a, b in zip(clean["curves"], poisoned["curves"]):
        pd.testing.assert_frame_equal(a[["val_loss", "val_accuracy"]], b[["val_loss", "val_accuracy"]])
        assert not a["test_loss"].equals(b["test_loss"])  # the poisoning is visible in the monitoring only
    np.testing.assert_array_equal(clean["proba"]["selected"][0], poisoned["proba"]["selected"][0])
    # monitoring the test fold between epochs does not change training either
    quiet, _, _, _ = _poisoned_fold(ingest, "best_val", eval_every_epoch=False)
    assert quiet["selected_epochs"] == clean["selected_epochs"] and _same_states(quiet, clean)


def test_test_fold_selection_reads_the_test_labels(ingest):
    """The authors' (optimistic) option selects on the test fold: its criterion sees the poisoning."""
    clean, poisoned, tr, te = _poisoned_fold(ingest, "test_fold")
    assert clean["n_val"] == len(te) and clean["n_fit"] == len(tr)
    assert all(not a["val_loss"].equals(b["val_loss"]) for a, b in zip(clean["curves"], poisoned["curves"]))


def test_tiny_protocol_run_writes_every_output(ingest, tmp_path):
    objects_path, stamps_path, objects, stamps = ingest
    data = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, seed=3)
    cfg = TrainConfig.from_mapping({**SECTION["train"], "augment": SECTION["augment"], "seed": 3})
    out = tmp_path / "run"
    m = run_protocol(_factory(data), data, cfg, out, extra={"variant": "tiny"})
    names = {p.name for p in out.iterdir()}
    assert {"pretrain.pt", "pretrain_curves.csv", "metrics.json", "predictions.parquet", "curves.csv"} <= names
    assert {f"fold{f}_ens{e}.pt" for f in range(2) for e in range(2)} <= names
    metrics = read_json(out / "metrics.json")
    assert metrics["variant"] == "tiny" and metrics["n_folds"] == 2 and metrics["n_ensembles"] == 2
    for key in ("accuracy", "f1_macro", "accuracy_std", "f1_macro_std", "balanced_accuracy", "balanced_accuracy_std"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["selection"] == "best_val" and set(metrics["by_epoch"]) == {"last", "best_val"}
    for which in ("last", "best_val"):
        for level in ("ensemble", "members"):
            assert 0.0 <= metrics["by_epoch"][which][level]["balanced_accuracy"] <= 1.0
    assert metrics["by_epoch"]["best_val"]["ensemble"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert metrics["by_epoch"]["best_val"]["members"]["n"] == 2 * 2 and metrics["members"]["n"] == 4
    assert len(metrics["selected_epochs"]) == 2 and all(1 <= e <= 1 for f in metrics["selected_epochs"] for e in f)
    assert all(s["n_val"] > 0 and s["n_fit"] + s["n_val"] == s["n_train_folds"] for s in metrics["fold_sizes"])
    assert np.asarray(metrics["confusion_matrix"]).shape == (4, 4)
    assert metrics["pretrained_load"]["n_loaded"] > 0 and metrics["pretrained_load"]["skipped"] == []
    pred = pd.read_parquet(out / "predictions.parquet")
    assert len(pred) == len(data.spec_rows) and pred["object_id"].is_unique
    assert set(pred["object_id"]) == set(data.object_ids[data.spec_rows])
    p = pred[[f"p_{c}" for c in data.class_names]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    acc = float(np.mean([np.mean(g["y_pred"] == g["y_true"]) for _, g in pred.groupby("fold")]))
    assert abs(acc - m["accuracy"]) < 1e-9
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves.columns) >= {"stage", "fold", "ensemble", "epoch", "train_loss", "val_loss", "val_accuracy",
                                   "test_loss", "test_accuracy"}
    assert len(curves) == 2 * 2 * 1
    state = torch.load(out / "fold1_ens1.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_finetune_starts_from_pretrained_weights(ingest, tmp_path, monkeypatch):
    """With 0 fine-tuning epochs the fold models must equal the pre-trained network."""
    _, _, objects, stamps = ingest
    data = build_sequence_data(objects, stamps, "g", "4class", M=6, seed=3)
    cfg = TrainConfig.from_mapping({**SECTION["train"], "epochs_finetune": 0, "n_ensembles": 1, "seed": 3, "selection": "last"})
    run_protocol(_factory(data), data, cfg, tmp_path)
    pre = torch.load(tmp_path / "pretrain.pt", weights_only=True)
    fold = torch.load(tmp_path / "fold0_ens0.pt", weights_only=True)
    assert pre.keys() == fold.keys()
    for k in pre:
        assert torch.equal(pre[k], fold[k]), k


def test_stage_functions_and_param_table(ingest, tmp_path):
    objects_path, stamps_path, _, _ = ingest
    v = "convention_g_3class"
    d = tmp_path / v
    info = stages.run_pretrain(objects_path, stamps_path, v, SECTION, d / "pretrain.pt", d / "pretrain_curves.csv",
                               d / "pretrain.json")
    assert info["task"] == "3class" and info["bands"] == "g"
    m = stages.run_finetune(objects_path, stamps_path, v, SECTION, d / "pretrain.pt", d, tmp_path / "params.csv",
                            d / "pretrain.json")
    saved = read_json(d / "metrics.json")
    assert saved["class_names"] == ["AGN", "SN", "Variable"]
    assert saved["n_params"] == m["n_params"] > 0
    assert saved["n_params_paper_settings"] > 1_000_000 and saved["n_params_paper_reported"] == 1_253_000
    for key in ("recall_per_class", "confusion_matrix_std", "hyperparameters", "train_seconds"):
        assert key in saved
    assert saved["n_params_paper_settings"] == 1_252_851 and saved["n_params_table2_reading"] == 1_267_403
    table = pd.read_csv(tmp_path / "params.csv")
    assert list(table.columns) == ["model", "config", "hyperparameters", "built_n_params", "paper_n_params"]
    assert table["config"].tolist() == ["run", "paper_settings", "table2_reading"]
    assert table["built_n_params"].tolist()[1:] == [1_252_851, 1_267_403]  # 3 classes
    assert "released" in table["hyperparameters"][1] and "Table 2" in table["hyperparameters"][2]
    assert table["paper_n_params"].tolist() == [1_253_000] * 3
    with pytest.raises(ValueError, match="convention variant 'convention_r'"):
        stages.parse_variant("convention_r")


def test_tuning_two_tiny_trials(ingest, tmp_path):
    objects_path, stamps_path, _, _ = ingest
    storage = tmp_path / "study.journal"
    info = stages.run_tune_worker(objects_path, stamps_path, SECTION, storage, 0, tmp_path / "worker_0.json")
    assert len(info["trials"]) == 2
    best = stages.run_tune_gather(storage, SECTION, tmp_path / "best.json", tmp_path / "trials.csv")
    assert best["n_complete"] == 2 and set(best["params"]) == {"lr", "T", "M"}
    tuned, params = stages.tuned_section(SECTION, tmp_path / "best.json")
    assert tuned["train"]["lr"] == params["lr"] and tuned["model"]["T"] == params["T"] and tuned["M"] == params["M"]
    assert SECTION["train"]["lr"] == 0.003  # the original section is not modified
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 2
    with pytest.raises(ValueError, match="unknown parameter 'width'"):
        stages.apply_params(SECTION, {"width": 3})


def test_train_config_errors():
    with pytest.raises(ValueError, match="convention.train: unknown keys"):
        TrainConfig.from_mapping({"epochs": 3})
    with pytest.raises(ValueError, match="n_folds must be >= 2"):
        TrainConfig.from_mapping({"n_folds": 1})
    with pytest.raises(ValueError, match="selection"):
        TrainConfig.from_mapping({"selection": "best_test"})
    with pytest.raises(ValueError, match="loss"):
        TrainConfig.from_mapping({"loss": "hinge"})
    with pytest.raises(ValueError, match="inner_val_fraction"):
        TrainConfig.from_mapping({"inner_val_fraction": 1.0})
    bad = copy.deepcopy(SECTION)
    bad["augment"]["p_drop"] = 1.5
    with pytest.raises(ValueError, match="p_drop"):
        stages.train_config(bad)
