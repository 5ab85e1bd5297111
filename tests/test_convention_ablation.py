"""ConvEntion ablation stage: run names, one switch flipped at a time, the gathered table, a tiny run."""
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT
from transientrepro.convention import ablation, ablation_figures
from transientrepro.convention.data import synthetic_ingest
from transientrepro.io import read_json, write_json, write_parquet
from transientrepro.sdss.stamp_store import save_stamps

torch.set_num_threads(1)


def _section():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["convention"]


def test_runs_flip_one_switch_from_the_recipe():
    sec = _section()
    runs = ablation.runs(sec)
    assert runs[0] == "recipe" and len(runs) == len(set(runs))
    labels = ablation.recipe_settings(sec)
    assert labels["feature_channels"] == "D8" and labels["window"] == "peak" and labels["sublayers"] == "released"
    assert "window__uniform" in runs and "window__drop_then_window" in runs and "window__peak" not in runs
    assert "selection__test_fold" in runs and "feature_channels__D64" in runs
    for run in runs[1:]:
        flipped = ablation.run_section(sec, run, seed=5)
        base = ablation.run_section(sec, "recipe", seed=5)
        switch = run.split("__")[0]
        changed = {sw for sw, s in ablation.SWITCHES.items() if s.label(flipped) != s.label(base)}
        assert changed == {switch}, run  # exactly the named switch differs
    d64 = ablation.run_section(sec, "feature_channels__D64", 1)
    assert d64["model"]["cnn_channels"][-1] == 64 and d64["model"]["d_ff"] == 128
    rs = ablation.run_section(sec, "recipe", 7)
    assert rs["seed"] == 7 and rs["train"]["n_ensembles"] == sec["ablation"]["n_ensembles"]
    assert "ablation" not in rs and sec["train"]["n_ensembles"] == 3  # the config is not modified
    with pytest.raises(ValueError, match="unknown switch"):
        ablation.run_section(sec, "width__wide", 1)
    with pytest.raises(ValueError, match="unknown setting"):
        ablation.run_section(sec, "window__random", 1)


def test_gather_puts_the_recipe_rows_under_every_switch(tmp_path):
    sec = _section()
    sec["ablation"]["switches"] = ["window", "selection"]
    paths = []
    for run in ablation.runs(sec):
        for seed in (1, 2):
            p = tmp_path / run / f"seed{seed}" / "summary.json"
            acc = 0.5 + 0.01 * seed + (0.1 if run == "recipe" else 0.0)
            write_json({"run": run, "seed": seed, "accuracy": acc, "f1_macro": acc - 0.1, "balanced_accuracy": acc - 0.05,
                        "seconds": 1.0}, p)
            paths.append(p)
    table, details = ablation.gather(paths, sec)
    assert list(table.columns) == ["switch", "setting", "seed", "accuracy", "f1_macro", "balanced_accuracy"]
    assert set(table["switch"]) == {"window", "selection"}
    w = table[table["switch"] == "window"]
    assert sorted(set(w["setting"])) == ["drop_then_window", "peak", "uniform"] and len(w) == 6
    assert np.allclose(w[w["setting"] == "peak"]["accuracy"], [0.61, 0.62])
    assert details["is_recipe"].sum() == 4
    summ = ablation_figures.summary_table(table)
    assert set(summ.columns) >= {"accuracy_mean", "accuracy_std", "n_seeds"} and (summ["n_seeds"] == 2).all()
    recipe = ablation_figures.recipe_from_details(details)
    assert recipe == {"window": "peak", "selection": "best_val"}
    deltas = ablation_figures.paired_deltas(table, recipe)
    assert np.allclose(deltas["delta_accuracy"], -0.1) and (deltas["n_seeds"] == 2).all() and len(deltas) == 4
    fig = ablation_figures.plot(table, recipe)
    assert len(fig.axes) == 3


def test_tiny_ablation_run(tmp_path):
    objects, stamps = synthetic_ingest(n_objects=60, stamp=16, max_epochs=6, seed=9)
    write_parquet(objects, tmp_path / "objects.parquet")
    save_stamps(tmp_path / "stamps.h5", stamps)
    sec = _section()
    sec.update(M=6)
    sec["model"].update(cnn_channels=[4, 4, 4, 8], classifier_hidden=8)
    sec["train"].update(n_folds=2, batch_size=8)
    sec["ablation"].update(epochs_pretrain=1, epochs_finetune=1, n_ensembles=1, n_folds=2)
    s = ablation.run_ablation(tmp_path / "objects.parquet", tmp_path / "stamps.h5", sec, "window__uniform", 3,
                              tmp_path / "run", partition_seed=1)
    assert 0 <= s["accuracy"] <= 1 and 0 <= s["balanced_accuracy"] <= 1 and s["run"] == "window__uniform"
    m = read_json(tmp_path / "run" / "metrics.json")
    assert m["section"]["window"] == "uniform" and m["train"]["seed"] == 3 and m["n_ensembles"] == 1
    assert read_json(tmp_path / "run" / "summary.json") == s
    assert isinstance(pd.read_parquet(tmp_path / "run" / "predictions.parquet"), pd.DataFrame)


def test_window_diagnostics_peak_windows_hold_the_sn_more_often():
    objects, stamps = synthetic_ingest(n_objects=80, stamp=8, max_epochs=12, seed=4)
    objects["PeakMJD"] = 40.0  # the synthetic SNe peak at t = 40 d
    sec = _section()
    sec.update(M=6, scaling="linear")
    d = ablation.window_diagnostics(objects, stamps, sec, n_draws=3, partition_seed=1)
    assert list(d.columns) == ["window", "stage", "n_objects", "share_with_peak", "mean_span_fraction"]
    assert len(d) == 6 and (d["n_objects"] > 5).all()
    assert d[["share_with_peak", "mean_span_fraction"]].apply(lambda c: c.between(0, 1)).all().all()
    get = d.set_index(["window", "stage"])["share_with_peak"]
    assert get["peak", "train"] > get["uniform", "train"]
    assert get["peak", "eval"] == get["uniform", "eval"]  # same evaluation window (brightest-centred)
