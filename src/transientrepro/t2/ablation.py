"""Ablation of t2's paper-vs-code switches (issue 9): each switch flipped singly from the authors'
recipe (the ``t2`` and ``gp`` config sections as configured), on one simulated data set and one split
(the run's ``gp.npz`` and ``split.parquet``), for several seeds; plus a learning curve of t2 and of the
reference classifier on the same test objects.

A run is named ``recipe`` or ``<switch>__<setting>`` (one switch set to its other reading, the rest as
the recipe). Every run trains t2 (with redshift) with the pinned hyperparameters (no tuning: the search
is not one of the switches), on a class-stratified subset of ``n_train`` training objects (the same
objects for every run and seed: ``t2.ablation.subset_seed``), and scores the whole test split.
The seed changes the initial weights, the hold-out and the batch order.

``gp_window`` needs the GP arrays of the other window (``gp.time_grid``): the workflow builds them once
(``results/plasticc/ablation/gp_<time_grid>/gp.npz``); the same object ids are used in both.

``t2_ablation.csv`` columns: ``switch, setting, n_train, seed, log_loss, balanced_accuracy, accuracy``.
For every switch it holds the recipe's rows (labelled with the recipe's setting of that switch) and
the flipped runs' rows; ``switch = learning_curve`` holds t2 (setting ``t2``) and the reference
classifier (setting ``reference``) at each training-set size.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any, Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

RECIPE = "recipe"
SEP = "__"
COLUMNS = ("switch", "setting", "n_train", "seed", "log_loss", "balanced_accuracy", "accuracy")
LEARNING_CURVE = "learning_curve"

#: switch -> setting -> overrides of the t2 section (``gp_time_grid`` selects the GP arrays).
#: The first setting is the authors' code, the second the paper's text (or this project's old reading).
SWITCHES: dict[str, dict[str, dict[str, Any]]] = {
    "gp_window": {"transient": {"gp_time_grid": "transient"}, "observed": {"gp_time_grid": "observed"}},
    "scaling": {"dataset_band": {"scaling": "dataset_band"}, "max_abs": {"scaling": "max_abs"}},
    "aux_scaling": {"robust": {"aux_scaling": "robust"}, "none": {"aux_scaling": "none"}},
    "positional_encoding": {"vaswani": {"positional_encoding": "vaswani"}, "paper_eq9": {"positional_encoding": "paper_eq9"}},
    "aux_layout": {"interleaved": {"aux_layout": "interleaved"}, "per_feature": {"aux_layout": "per_feature"}},
    "clipnorm": {"1.0": {"clipnorm": 1.0}, "null": {"clipnorm": None}},
    "loss": {"batch_flat": {"loss": "batch_flat"}, "class_weighted": {"loss": "class_weighted"}},
    "lr_schedule": {
        "authors": {"lr_reduce_factor": 0.1, "lr_reduce_monitor": "loss", "lr_reduce_cooldown": 5},
        "paper": {"lr_reduce_factor": 0.9, "lr_reduce_monitor": "val_loss", "lr_reduce_cooldown": 0},
    },
    "overfit_ratio_stop": {"2.0": {"overfit_ratio_stop": 2.0}, "null": {"overfit_ratio_stop": None}},
    "batch_size": {"auto": {"batch_size": "auto"}, "64": {"batch_size": 64}},
    "validation": {"holdout": {"validation": "holdout"}, "test_set_optimistic": {"validation": "test_set_optimistic"}},
}

ABLATION_DEFAULTS: dict[str, Any] = {
    "seeds": [1, 2, 3],
    "n_train": 1000,
    "sizes": [300, 1000, 3000],
    "epochs": 40,
    "subset_seed": 0,
    "switches": list(SWITCHES),
    "reference_n_estimators": 300,
}


def ablation_settings(t2_section: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(ABLATION_DEFAULTS)
    out.update(t2_section.get("ablation") or {})
    for name in out["switches"]:
        if name not in SWITCHES:
            raise ValueError(f"t2.ablation.switches: unknown switch {name!r}; expected one of {sorted(SWITCHES)}")
    return out


def _matches(section: Mapping[str, Any], overrides: Mapping[str, Any]) -> bool:
    return all(section.get(k) == v for k, v in overrides.items())


def recipe_label(section: Mapping[str, Any], switch: str) -> str:
    """The recipe's setting of ``switch`` (``section`` holds ``gp_time_grid``), or ``other``."""
    for name, ov in SWITCHES[switch].items():
        if _matches(section, ov):
            return name
    return "other"


def base_section(t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe: the t2 section (no tuning, ablation keys removed) + ``gp_time_grid``."""
    sec = {k: copy.deepcopy(v) for k, v in t2_section.items() if k not in ("ablation", "tuning", "variants", "tune")}
    sec["gp_time_grid"] = gp_section.get("time_grid", "observed")
    return sec


def runs(t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> list[str]:
    """``recipe`` and one run per (switch, setting other than the recipe's)."""
    abl = ablation_settings(t2_section)
    base = base_section(t2_section, gp_section)
    out = [RECIPE]
    for name in abl["switches"]:
        current = recipe_label(base, name)
        out += [f"{name}{SEP}{s}" for s in SWITCHES[name] if s != current]
    return out


def run_jobs(t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """Every (run, n_train, seed): each run at ``n_train`` plus the recipe at every learning-curve size."""
    abl = ablation_settings(t2_section)
    jobs = [(r, int(abl["n_train"]), int(s)) for r in runs(t2_section, gp_section) for s in abl["seeds"]]
    jobs += [(RECIPE, int(n), int(s)) for n in abl["sizes"] if int(n) != int(abl["n_train"]) for s in abl["seeds"]]
    return jobs


def extra_time_grids(t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> list[str]:
    """GP windows other than the run's that the ablation needs (built by the workflow)."""
    out = []
    for r in runs(t2_section, gp_section):
        name, _, setting = r.partition(SEP)
        if name == "gp_window":
            out.append(SWITCHES[name][setting]["gp_time_grid"])
    return out


def run_section(t2_section: Mapping[str, Any], gp_section: Mapping[str, Any], run: str) -> dict[str, Any]:
    """The t2 settings of one run (recipe with at most one switch flipped; ablation epochs)."""
    abl = ablation_settings(t2_section)
    sec = base_section(t2_section, gp_section)
    if run != RECIPE:
        name, _, setting = run.partition(SEP)
        if name not in SWITCHES or setting not in SWITCHES[name]:
            raise ValueError(f"ablation run {run!r}: unknown switch or setting")
        sec.update(copy.deepcopy(SWITCHES[name][setting]))
    sec["epochs"] = int(abl["epochs"])
    return sec


def subset_ids(train_ids: np.ndarray, train_y: np.ndarray, n_train: int, subset_seed: int) -> np.ndarray:
    """The ``n_train`` training object ids of every run (class-stratified, seeded, sorted)."""
    from .data import stratified_subset

    if n_train >= len(train_ids):
        return np.sort(train_ids)
    _, idx = stratified_subset(train_y, n_train / len(train_ids), subset_seed)
    return np.sort(train_ids[idx])


def _restrict(gp: Mapping[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    """The per-object arrays of ``gp`` for the objects ``ids`` only (run-level ``attr_*`` kept)."""
    n = len(gp["object_id"])
    keep = np.isin(gp["object_id"], ids)
    return {k: (v[keep] if (not k.startswith("attr_") and np.ndim(v) >= 1 and len(v) == n) else v) for k, v in gp.items()}


def _select(data, ids: np.ndarray):
    from .data import T2Data

    m = np.isin(data.object_id, ids)
    return T2Data(data.X[m], data.aux[m], data.y[m], data.object_id[m], data.codes)


def run_one(gp_paths: Mapping[str, str], split_path: str, t2_section: Mapping[str, Any], gp_section: Mapping[str, Any],
            run: str, n_train: int, seed: int, threads: int | None = None) -> dict[str, Any]:
    """Train and score one ablation run; returns its record (metrics + settings + timing).

    ``gp_paths``: time_grid -> gp.npz (the run's own window and any other the switch needs). The
    objects are those present in every one of them, so all runs see the same objects.
    """
    from ..metrics import classification_metrics
    from .data import load_gp, load_split, split_data
    from .params import class_codes_and_names, settings
    from .scaling import apply_fitted, fit_and_apply
    from .training import configure_tensorflow, train
    from .stream import predict

    abl = ablation_settings(t2_section)
    sec = run_section(t2_section, gp_section, run)
    grid = sec.pop("gp_time_grid")
    s = settings(sec)
    configure_tensorflow(seed, threads, deterministic=bool(s["deterministic"]), attention_kernel=s["attention_kernel"])
    codes, names = class_codes_and_names()
    split = load_split(split_path)
    gps = {k: load_gp(p) for k, p in gp_paths.items()}
    common = None
    for g in gps.values():
        common = g["object_id"] if common is None else np.intersect1d(common, g["object_id"])
    data = split_data(_restrict(gps[grid], common), split[split["object_id"].isin(common)], "t2", gp_paths[grid])
    # the same training subset for every run: chosen on the recipe's GP objects common to all
    train_all = data["train"]
    ids = subset_ids(train_all.object_id, train_all.y, int(n_train), int(abl["subset_seed"]))
    tr, te = _select(train_all, ids), data["test"]
    fitted = fit_and_apply(tr, s)
    apply_fitted(te, fitted)
    t0 = time.perf_counter()
    model, history, info = train(tr, s["hyperparameters"], s, seed, len(codes), test=te if s["validation"] == "test_set_optimistic" else None)
    proba = predict(model, te, jit_compile=bool(s.get("jit_compile", True))).astype(np.float64)
    m = classification_metrics(te.y, proba, names)
    name, _, setting = run.partition(SEP)
    rec = {
        "run": run, "n_train": int(len(tr)), "n_train_requested": int(n_train), "seed": int(seed), "n_test": int(len(te)),
        "log_loss": float(m["log_loss"]), "balanced_accuracy": float(m["balanced_accuracy"]), "accuracy": float(m["accuracy"]),
        "epochs_run": info["epochs_run"], "best_epoch": info["best_epoch"], "seconds": time.perf_counter() - t0,
        "gp_time_grid": grid, "settings": {k: s[k] for k in sorted(s) if k not in ("tuning",)},
    }
    log.info("ablation %s n=%d seed=%d: log-loss %.4f, balanced accuracy %.3f, accuracy %.3f (%d epochs)",
             run, len(tr), seed, rec["log_loss"], rec["balanced_accuracy"], rec["accuracy"], rec["epochs_run"])
    return rec


def reference_row(metadata_path: str, chunk_paths: list[str], split_path: str, gp_path: str, t2_section: Mapping[str, Any],
                  n_train: int, seed: int) -> dict[str, Any]:
    """The reference classifier trained on the same ``n_train`` training objects as t2's runs and
    scored on the same test objects."""
    from ..plasticc.features import load_pool_lightcurves, reference_on_split
    from .data import load_gp, load_split, split_data

    abl = ablation_settings(t2_section)
    split = load_split(split_path)
    gp = load_gp(gp_path)
    data = split_data(gp, split, "t2_noz", gp_path)
    ids = subset_ids(data["train"].object_id, data["train"].y, int(n_train), int(abl["subset_seed"]))
    keep = np.concatenate([ids, data["test"].object_id])
    sp = split[split["object_id"].isin(keep)]
    meta = pd.read_parquet(metadata_path)
    meta = meta[meta["object_id"].isin(keep)]
    lc = load_pool_lightcurves(chunk_paths, meta["object_id"].to_numpy())
    res, _ = reference_on_split(lc, meta, sp, seed=int(seed), n_estimators=int(abl["reference_n_estimators"]))
    return {"run": "reference", "n_train": int(res["n_train"]), "n_train_requested": int(n_train), "seed": int(seed),
            "n_test": int(res["n_test"]), "log_loss": res["log_loss"], "balanced_accuracy": res["balanced_accuracy"],
            "accuracy": res["accuracy"]}


def gather(records: list[Mapping[str, Any]], t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> pd.DataFrame:
    """The ``t2_ablation.csv`` table from the run records (see module docstring)."""
    abl = ablation_settings(t2_section)
    base = base_section(t2_section, gp_section)
    n0 = int(abl["n_train"])
    rows = []
    t2_recs = [r for r in records if r["run"] != "reference"]
    for name in abl["switches"]:
        label = recipe_label(base, name)
        for r in t2_recs:
            if r["n_train_requested"] != n0:
                continue
            if r["run"] == RECIPE:
                rows.append({"switch": name, "setting": label, **_metrics(r)})
            elif r["run"].partition(SEP)[0] == name:
                rows.append({"switch": name, "setting": r["run"].partition(SEP)[2], **_metrics(r)})
    for r in records:
        if r["run"] in (RECIPE, "reference"):
            rows.append({"switch": LEARNING_CURVE, "setting": "t2" if r["run"] == RECIPE else "reference", **_metrics(r)})
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.sort_values(["switch", "setting", "n_train", "seed"], kind="stable").reset_index(drop=True)


def _metrics(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"n_train": int(r["n_train"]), "seed": int(r["seed"]), "log_loss": float(r["log_loss"]),
            "balanced_accuracy": float(r["balanced_accuracy"]), "accuracy": float(r["accuracy"])}


def summary(df: pd.DataFrame, t2_section: Mapping[str, Any], gp_section: Mapping[str, Any]) -> pd.DataFrame:
    """Per switch and setting at the ablation size: mean ± std over seeds, and the paired difference
    (same seed) to the recipe, mean ± std."""
    base = base_section(t2_section, gp_section)
    n0 = df[df["switch"] != LEARNING_CURVE]
    out = []
    for name, g in n0.groupby("switch", sort=False):
        label = recipe_label(base, name)
        rec = g[g["setting"] == label].set_index("seed")
        for setting, h in g.groupby("setting", sort=False):
            h = h.set_index("seed")
            d = (h["log_loss"] - rec["log_loss"]).dropna()
            out.append({"switch": name, "setting": setting, "is_recipe": setting == label, "n_seeds": len(h),
                        "log_loss_mean": h["log_loss"].mean(), "log_loss_std": h["log_loss"].std(ddof=1),
                        "delta_log_loss_mean": d.mean() if setting != label else 0.0,
                        "delta_log_loss_std": d.std(ddof=1) if setting != label else 0.0,
                        "balanced_accuracy_mean": h["balanced_accuracy"].mean(), "accuracy_mean": h["accuracy"].mean()})
    lc = df[df["switch"] == LEARNING_CURVE].groupby(["setting", "n_train"])
    for (setting, n), h in lc:
        out.append({"switch": LEARNING_CURVE, "setting": setting, "is_recipe": setting == "t2", "n_seeds": len(h),
                    "n_train": n, "log_loss_mean": h["log_loss"].mean(), "log_loss_std": h["log_loss"].std(ddof=1),
                    "balanced_accuracy_mean": h["balanced_accuracy"].mean(), "accuracy_mean": h["accuracy"].mean()})
    return pd.DataFrame(out)
