"""Cross-validated TPE tuning of t2 (§4.5, §5.2): the CV objective, workers sharing one optuna
JournalStorage study, and the gather step that writes ``best_params.json``."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Mapping

import numpy as np

from ..metrics import flat_weighted_log_loss
from .data import T2Data, load_gp, load_split, split_data, stratified_subset
from .params import class_codes_and_names
from .scaling import fit_and_apply
from .training import _sample_weights, class_weights, configure_tensorflow

log = logging.getLogger(__name__)


def reset_optimizer(model, learning_rate: float) -> None:
    """Zero the optimizer's state (step counter, moments) and restore the initial learning rate."""
    opt = model.optimizer
    for v in opt.variables:
        if v is opt._learning_rate or v.path.endswith("learning_rate"):
            v.assign(float(learning_rate))
        else:
            v.assign(np.zeros(v.shape, dtype=v.dtype))


def cv_score(
    data: T2Data,
    hyperparameters: Mapping[str, Any],
    n_folds: int,
    epochs: int,
    batch_size: int,
    seed: int,
    n_classes: int,
    s: Mapping[str, Any] | None = None,
) -> float:
    """Mean over ``n_folds`` stratified folds of the eq. (13) log-loss of a model trained
    ``epochs`` epochs on the other folds (the TPE objective; data already scaled). ``s`` are the
    ``t2:`` settings whose model/optimiser/loss switches apply (defaults when None)."""
    import warnings

    import keras
    from sklearn.model_selection import StratifiedKFold

    from .model import build_and_compile
    from .stream import predict
    from .params import settings

    s = settings(None) if s is None else s
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(folds.split(np.zeros(len(data.y)), data.y))
    # One model per trial: every fold starts from the same initial weights and a fresh Adam state,
    # which is equivalent to rebuilding it but reuses the traced training function (fast on CPU).
    keras.utils.set_random_seed(seed)
    model = build_and_compile(data.X.shape[1], data.X.shape[2], n_classes, hyperparameters, s, n_aux=data.aux.shape[1])
    initial = model.get_weights()
    for k, (tr, te) in enumerate(splits):
        model.set_weights(initial)
        reset_optimizer(model, hyperparameters["learning_rate"])
        cw = class_weights(data.y[tr], n_classes) if s["loss"] == "class_weighted" else None
        model.fit(
            data.inputs(tr),
            keras.utils.to_categorical(data.y[tr], n_classes),
            epochs=epochs,
            batch_size=batch_size,
            sample_weight=_sample_weights(cw, data.y[tr]),
            shuffle=True,
            verbose=0,
        )
        p = predict(model, data.take(te), jit_compile=bool(s.get("jit_compile", True)))
        scores.append(flat_weighted_log_loss(data.y[te], p, n_classes))
    keras.backend.clear_session()
    score = float(np.mean(scores))
    if not np.isfinite(score):
        raise FloatingPointError(f"non-finite CV log-loss for {dict(hyperparameters)}")
    return score


def tuning_subset(train: T2Data, fraction: float, seed: int) -> T2Data:
    """The seeded stratified ``fraction`` of the training set used for tuning (§5.2: 10%)."""
    if fraction >= 1.0:
        return train
    _, idx = stratified_subset(train.y, fraction, seed)
    # in memory even when the training set is streamed: the tuning subset is a fraction of it
    return T2Data(np.asarray(train.X[idx], dtype=np.float32), train.aux[idx], train.y[idx], train.object_id[idx], train.codes)


def tune_worker(
    train: T2Data,
    s: Mapping[str, Any],
    storage_path: str | os.PathLike,
    study_name: str,
    worker: int,
    seed: int,
    n_classes: int,
) -> dict[str, Any]:
    """Run this worker's TPE trials in the shared JournalStorage study; returns a JSON-able record."""
    from ..tuning import run_worker
    from .params import check_hyperparameters, divisibility_constraint

    t = s["tuning"]
    sub = tuning_subset(train, float(t["validation_fraction"]), seed)
    log.info("worker %d: tuning on %d objects (%d-fold CV, %d epochs)", worker, len(sub), t["n_folds"], t["epochs"])
    fixed = dict(s["hyperparameters"])

    def objective(params: Mapping[str, Any]) -> float:
        hp = check_hyperparameters({**fixed, **params}, where="tuning trial")
        return cv_score(sub, hp, int(t["n_folds"]), int(t["epochs"]), int(t["batch_size"]), seed, n_classes, s)

    t0 = time.perf_counter()
    done = run_worker(
        objective,
        t["space"],
        storage_path,
        study_name,
        n_trials=int(t["n_trials"]),
        seed=seed,
        worker_id=worker,
        n_startup_trials=int(t["n_startup_trials"]),
        constraint=divisibility_constraint,
        enqueue=pinned_first_trial(s) if (s["enqueue_pinned"] and worker == 0) else None,
    )
    import optuna

    from ..tuning import journal_storage

    study = optuna.load_study(study_name=study_name, storage=journal_storage(storage_path))
    mine = [
        {"number": tr.number, "state": tr.state.name, "value": tr.value, "params": tr.params}
        for tr in study.trials
        if tr.user_attrs.get("worker_id") == worker
    ]
    return {
        "worker": worker,
        "study": study_name,
        "storage": str(storage_path),
        "completed_trials": done,
        "trials": mine,
        "n_objects": len(sub),
        "seconds": time.perf_counter() - t0,
    }


def pinned_first_trial(s: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configured (Table 2) hyperparameters restricted to the search space's names: the study's
    first trial, so the search can only find something better than the pinned values (by CV).
    A pinned value outside a categorical space's choices is left out (TPE samples that name)."""
    space = s["tuning"]["space"]
    out = {}
    for k, spec in space.items():
        v = s["hyperparameters"][k]
        if spec["type"] == "categorical" and v not in spec["choices"]:
            log.warning("pinned %s=%r is not among the search choices %s; not enqueued", k, v, spec["choices"])
            continue
        if spec["type"] in ("int", "float") and not (spec["low"] <= v <= spec["high"]):
            log.warning("pinned %s=%r is outside the search range [%s, %s]; not enqueued", k, v, spec["low"], spec["high"])
            continue
        out[k] = v
    return out or None


def study_name(variant: str, s: Mapping[str, Any], seed: int) -> str:
    """``<variant>-<hash>``: the hash covers everything that defines the search (space, folds,
    epochs, subset, scaling, concat, seed), so a changed configuration starts a fresh study in the
    same journal file instead of mixing incomparable trials; reruns with the same configuration add
    trials to the same study."""
    import hashlib
    import json

    t = s["tuning"]
    key = {k: t[k] for k in ("space", "n_folds", "epochs", "batch_size", "validation_fraction")}
    from .training import RECIPE_KEYS

    key.update({k: s[k] for k in RECIPE_KEYS if k not in ("epochs", "batch_size")})
    key.update(seed=int(seed), fixed=s["hyperparameters"], enqueue=bool(s["enqueue_pinned"]))
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{variant}-{digest}"


def run_tune_worker(gp_path, split_path, variant, t2_config, seed, worker, storage_path, out_json, threads=None):
    """One tuning worker of ``variant``: scaled training data, TPE trials, ``worker_<k>.json``."""
    from ..io import write_json
    from .params import settings

    s = settings(t2_config)
    configure_tensorflow(seed + int(worker), threads, deterministic=bool(s["deterministic"]), attention_kernel=s["attention_kernel"])
    codes, _ = class_codes_and_names()
    data = split_data(load_gp(gp_path), load_split(split_path), variant, str(gp_path), s["stream_above_mb"])
    train_data = data["train"]
    fit_and_apply(train_data, s)
    record = tune_worker(train_data, s, storage_path, study_name(variant, s, seed), int(worker), int(seed), len(codes))
    record["variant"] = variant
    write_json(record, out_json)
    return record


def gather_tuning(variant, t2_config, seed, storage_path, out_best, out_trials):
    """``best_params.json`` (+ ``trials.csv``): the study's best trial, or with ``t2.tune: false``
    the pinned hyperparameters of the config (Table 2 at paper scale)."""
    import pandas as pd

    from ..io import write_csv, write_json
    from ..tuning import best_params, trials_table
    from .params import check_hyperparameters, settings

    s = settings(t2_config)
    pinned = dict(s["hyperparameters"])
    if s["tune"]:
        name = study_name(variant, s, seed)
        best = best_params(storage_path, name)
        hp = check_hyperparameters({**pinned, **best["params"]}, where=f"best trial of {storage_path}")
        record = {"variant": variant, "source": "tuned", "hyperparameters": hp, "cv_log_loss": best["value"],
                  "best_trial": best["trial"], "n_trials": best["n_trials"], "n_complete": best["n_complete"],
                  "workers": best["workers"], "storage": str(storage_path), "study": name}
        table = trials_table(storage_path, name)
    else:
        record = {"variant": variant, "source": "pinned (config t2.hyperparameters)", "hyperparameters": pinned}
        table = pd.DataFrame([{"number": None, "value": None, **{f"params_{k}": v for k, v in pinned.items()}, "state": "PINNED"}])
    write_csv(table, out_trials)
    write_json(record, out_best)
    return record
