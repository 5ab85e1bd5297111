"""Data preparation, training (§4.4) and the cross-validated tuning objective (§4.5) of t2.

Inputs (contract with the GP stage): ``gp.npz`` with ``X`` float32 (N, L, 6), ``z``, ``z_err``
float32 (N,), ``target`` int (N,) PLAsTiCC codes, ``object_id`` int64 (N,); ``split.parquet`` with
``object_id`` and ``split`` in {train, test}.

Input scaling (``t2.scaling``): ``none`` (default) -- the GP stage already divides each object's GP
mean by its maximum |flux| (``gp.npz`` attribute ``attr_normalisation = max_abs``);
``dataset_band`` is the authors' preprocessing for unnormalised GP flux -- a robust scaler per
passband (median, inter-quartile range) fitted on all training-set GP samples and applied to every
object; ``object`` scales each object by the median/IQR of its own L x M grid. The fitted
centre/scale are stored with the model (train_info.json) and re-applied at evaluation. The
additional features z and z_err enter unscaled (both O(0.01-3)).

Training: Adam, categorical cross-entropy, ``ReduceLROnPlateau(factor=0.9, patience=5)``,
``EarlyStopping(restore_best_weights=True)``; the flat-weighted log-loss of eq. (13) on the
validation part (a seeded per-class random ``validation_fraction`` of the training set) is computed
after every epoch (log key ``val_flat_log_loss``) and monitored by early stopping. With
``class_weighted_loss`` each training sample is weighted ``N / (C_present N_c)`` so that the
cross-entropy is the training-set estimate of eq. (13) (flat class weights) rather than of the
plain mean log-loss.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..io import load_npz
from ..metrics import flat_weighted_log_loss
from .params import AUX_FEATURES, class_codes_and_names, variant_uses_redshift

log = logging.getLogger(__name__)


class T2DataError(ValueError):
    """The GP arrays or the split table handed to t2 are inconsistent."""


# ----------------------------------------------------------------------------------------------
# data


@dataclass
class T2Data:
    """Arrays of one split: light curves, aux features, class indices, ids."""

    X: np.ndarray  # (N, L, M) float32
    aux: np.ndarray  # (N, R) float32 (R = 0 for t2_noz)
    y: np.ndarray  # (N,) int64 class indices into codes
    object_id: np.ndarray  # (N,) int64
    codes: list[int] = field(default_factory=list)

    def inputs(self, idx: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        sl = slice(None) if idx is None else idx
        d = {"lightcurve": self.X[sl]}
        if self.aux.shape[1] > 0:
            d["aux"] = self.aux[sl]
        return d

    def __len__(self) -> int:
        return len(self.y)


def load_gp(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and check ``gp.npz``; raise :class:`T2DataError` naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise T2DataError(f"{path}: GP file not found")
    gp = load_npz(path)
    for key in ("X", "z", "z_err", "target", "object_id"):
        if key not in gp:
            raise T2DataError(f"{path}: missing array {key!r} (has {sorted(gp)})")
    X = gp["X"]
    if X.ndim != 3:
        raise T2DataError(f"{path}: X must be (N, L, M), got shape {X.shape}")
    n = X.shape[0]
    for key in ("z", "z_err", "target", "object_id"):
        if gp[key].shape != (n,):
            raise T2DataError(f"{path}: {key} must have shape ({n},), got {gp[key].shape}")
    for key in ("X", "z", "z_err"):
        bad = ~np.isfinite(gp[key].reshape(n, -1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise T2DataError(f"{path}: non-finite {key} for {bad.sum()} object(s), first object_id {int(gp['object_id'][i])} (row {i})")
    if len(np.unique(gp["object_id"])) != n:
        raise T2DataError(f"{path}: duplicate object_id values")
    return gp


def load_split(path: str | os.PathLike):
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise T2DataError(f"{path}: split file not found")
    df = pd.read_parquet(path)
    for col in ("object_id", "split"):
        if col not in df.columns:
            raise T2DataError(f"{path}: missing column {col!r} (has {list(df.columns)})")
    bad = ~df["split"].isin(["train", "test"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise T2DataError(f"{path}: split must be 'train' or 'test'; row {i} (object_id {df['object_id'].iloc[i]}) has {df['split'].iloc[i]!r}")
    if df["object_id"].duplicated().any():
        raise T2DataError(f"{path}: duplicate object_id {int(df['object_id'][df['object_id'].duplicated()].iloc[0])}")
    return df


def split_data(gp: Mapping[str, np.ndarray], split_df, variant: str, gp_path: str = "gp.npz") -> dict[str, T2Data]:
    """Train and test :class:`T2Data` of ``variant`` (t2: aux = (z, z_err); t2_noz: no aux).

    Objects of the split that have no GP row (GP failures) are dropped with a warning; GP objects
    missing from the split are an error. Unknown class codes are an error naming the object.
    """
    codes, _ = class_codes_and_names()
    code_to_idx = {c: i for i, c in enumerate(codes)}
    target = np.asarray(gp["target"]).astype(np.int64)
    unknown = ~np.isin(target, codes)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise T2DataError(
            f"{gp_path}: target code {int(target[i])} of object_id {int(gp['object_id'][i])} (row {i}) is not one of the classes {codes}"
        )
    import pandas as pd

    ids = np.asarray(gp["object_id"]).astype(np.int64)
    pos = pd.Index(split_df["object_id"].astype(np.int64).to_numpy()).get_indexer(ids)
    missing = ids[pos < 0]
    if len(missing):
        raise T2DataError(f"{gp_path}: {len(missing)} GP object(s) not in the split table, first object_id {int(missing[0])}")
    dropped = len(split_df) - len(ids)
    if dropped > 0:
        log.warning("%d object(s) of the split have no GP row (GP failures?) and are skipped", dropped)
    use_z = variant_uses_redshift(variant)
    aux = np.stack([gp[k] for k in AUX_FEATURES], axis=1).astype(np.float32) if use_z else np.zeros((len(ids), 0), np.float32)
    uniq, inverse = np.unique(target, return_inverse=True)
    y = np.array([code_to_idx[int(c)] for c in uniq], dtype=np.int64)[inverse.reshape(-1)]
    split = split_df["split"].to_numpy()[pos]
    out = {}
    for name in ("train", "test"):
        m = split == name
        if not m.any():
            raise T2DataError(f"{gp_path}: no objects in the {name!r} split")
        out[name] = T2Data(np.asarray(gp["X"][m], dtype=np.float32), aux[m], y[m], ids[m], codes)
    return out


def fit_scaling(X: np.ndarray, method: str) -> dict[str, Any]:
    """Fit the input scaling on training light curves (see module docstring)."""
    if method == "dataset_band":
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        center = np.median(flat, axis=0)
        q75, q25 = np.percentile(flat, [75, 25], axis=0)
        scale = q75 - q25
        scale = np.where(scale > 0, scale, 1.0)
        return {"method": method, "center": center.tolist(), "scale": scale.tolist()}
    if method in ("object", "none"):
        return {"method": method}
    raise ValueError(f"t2.scaling: unknown method {method!r}")


def apply_scaling(X: np.ndarray, scaling: Mapping[str, Any]) -> np.ndarray:
    method = scaling["method"]
    if method == "dataset_band":
        c = np.asarray(scaling["center"], dtype=np.float64)
        s = np.asarray(scaling["scale"], dtype=np.float64)
        if c.shape != (X.shape[-1],):
            raise T2DataError(f"scaling has {c.shape[0]} passbands but X has {X.shape[-1]}")
        return ((X - c) / s).astype(np.float32)
    if method == "object":
        flat = X.reshape(len(X), -1).astype(np.float64)
        c = np.median(flat, axis=1)
        q75, q25 = np.percentile(flat, [75, 25], axis=1)
        s = q75 - q25
        s = np.where(s > 0, s, np.where(np.abs(flat).max(axis=1) > 0, np.abs(flat).max(axis=1), 1.0))
        return ((X - c[:, None, None]) / s[:, None, None]).astype(np.float32)
    if method == "none":
        return np.asarray(X, dtype=np.float32)
    raise ValueError(f"t2.scaling: unknown method {method!r}")


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: ``(rest_idx, subset_idx)`` with ~``fraction`` of every class in the
    subset (at least one object of each class with >= 2 members, never the whole class)."""
    rng = np.random.default_rng(seed)
    sub, rest = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        elif fraction < 1.0:
            k = 0
        sub.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(sub))


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """``N / (C_present N_c)`` per class (1.0 for classes absent from y)."""
    counts = np.bincount(y, minlength=n_classes)
    present = int((counts > 0).sum())
    return {c: (len(y) / (present * counts[c]) if counts[c] else 1.0) for c in range(n_classes)}


def _sample_weights(cw: Mapping[int, float] | None, y: np.ndarray) -> np.ndarray | None:
    """Per-sample weights from class weights (same effect as Keras' class_weight, without its
    tf.data mapping step)."""
    if cw is None:
        return None
    return np.array([cw[int(c)] for c in y], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# training


def configure_tensorflow(seed: int, threads: int | None = None, deterministic: bool = True) -> None:
    """Seeds (Python, numpy, TF) and thread pools; call before building any model."""
    import keras
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:  # already initialised in this process
            pass
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - older TF
            pass


def _callbacks(x_val, y_val, n_classes: int, s: Mapping[str, Any], verbose_log: bool = True):
    import keras

    class FlatLogLoss(keras.callbacks.Callback):
        """Eq. (13) on the validation data after each epoch -> ``logs['val_flat_log_loss']``."""

        def on_epoch_end(self, epoch, logs=None):
            p = self.model.predict(x_val, batch_size=1024, verbose=0)
            logs["val_flat_log_loss"] = flat_weighted_log_loss(y_val, p, n_classes)
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in sorted(logs.items())))

    cbs = [
        FlatLogLoss(),
        keras.callbacks.ReduceLROnPlateau(
            monitor=s["lr_reduce_monitor"], factor=float(s["lr_reduce_factor"]), patience=int(s["lr_reduce_patience"]), mode="min", verbose=0
        ),
        keras.callbacks.EarlyStopping(
            monitor=s["early_stopping_monitor"], patience=int(s["early_stopping_patience"]), restore_best_weights=True, mode="min", verbose=0
        ),
    ]
    if verbose_log:
        cbs.append(EpochLog())
    return cbs


def train(
    data: T2Data,
    hyperparameters: Mapping[str, Any],
    s: Mapping[str, Any],
    seed: int,
    n_classes: int,
    L: int | None = None,
):
    """Train t2 on ``data`` (already scaled) with settings ``s`` (see :func:`params.settings`).

    Returns ``(model, history: dict[str, list], info: dict)``; info has epochs_run, best_epoch,
    train_seconds, samples_per_second, n_train, n_val.
    """
    import keras

    from .model import build_t2, compile_t2

    L = data.X.shape[1] if L is None else L
    fit_idx, val_idx = stratified_subset(data.y, float(s["validation_fraction"]), seed)
    model = build_t2(L, data.X.shape[2], n_classes, hyperparameters, n_aux=data.aux.shape[1], concat=s["concat"])
    compile_t2(model, hyperparameters["learning_rate"])
    y_fit = keras.utils.to_categorical(data.y[fit_idx], n_classes)
    y_val = keras.utils.to_categorical(data.y[val_idx], n_classes)
    cw = class_weights(data.y[fit_idx], n_classes) if s["class_weighted_loss"] else None
    x_val = data.inputs(val_idx)
    t0 = time.perf_counter()
    hist = model.fit(
        data.inputs(fit_idx),
        y_fit,
        validation_data=(x_val, y_val),
        epochs=int(s["epochs"]),
        batch_size=int(s["batch_size"]),
        sample_weight=_sample_weights(cw, data.y[fit_idx]),
        shuffle=True,
        verbose=0,
        callbacks=_callbacks(x_val, data.y[val_idx], n_classes, s),
    )
    seconds = time.perf_counter() - t0
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    epochs_run = len(next(iter(history.values()))) if history else 0
    mon = s["early_stopping_monitor"]
    best_epoch = int(np.argmin(history[mon])) + 1 if mon in history else epochs_run
    info = {
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "train_seconds": seconds,
        "samples_per_second": epochs_run * len(fit_idx) / seconds if seconds > 0 else float("nan"),
        "n_train": int(len(data)),
        "n_fit": int(len(fit_idx)),
        "n_val": int(len(val_idx)),
        "best_val_flat_log_loss": float(np.min(history["val_flat_log_loss"])) if "val_flat_log_loss" in history else float("nan"),
    }
    return model, history, info


# ----------------------------------------------------------------------------------------------
# tuning (§4.5, §5.2)


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
    concat: str = "L",
    class_weighted_loss: bool = True,
) -> float:
    """Mean over ``n_folds`` stratified folds of the eq. (13) log-loss of a model trained
    ``epochs`` epochs on the other folds (the TPE objective; data already scaled)."""
    import warnings

    import keras
    from sklearn.model_selection import StratifiedKFold

    from .model import build_t2, compile_t2

    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(folds.split(np.zeros(len(data.y)), data.y))
    # One model per trial: every fold starts from the same initial weights and a fresh Adam state,
    # which is equivalent to rebuilding it but reuses the traced training function (fast on CPU).
    keras.utils.set_random_seed(seed)
    model = build_t2(data.X.shape[1], data.X.shape[2], n_classes, hyperparameters, n_aux=data.aux.shape[1], concat=concat)
    compile_t2(model, hyperparameters["learning_rate"])
    initial = model.get_weights()
    for k, (tr, te) in enumerate(splits):
        model.set_weights(initial)
        reset_optimizer(model, hyperparameters["learning_rate"])
        cw = class_weights(data.y[tr], n_classes) if class_weighted_loss else None
        model.fit(
            data.inputs(tr),
            keras.utils.to_categorical(data.y[tr], n_classes),
            epochs=epochs,
            batch_size=batch_size,
            sample_weight=_sample_weights(cw, data.y[tr]),
            shuffle=True,
            verbose=0,
        )
        p = model.predict(data.inputs(te), batch_size=1024, verbose=0)
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
    return T2Data(train.X[idx], train.aux[idx], train.y[idx], train.object_id[idx], train.codes)


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
        return cv_score(sub, hp, int(t["n_folds"]), int(t["epochs"]), int(t["batch_size"]), seed, n_classes, s["concat"], bool(s["class_weighted_loss"]))

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


# ----------------------------------------------------------------------------------------------
# stage entry points (called by the thin workflow scripts)


def study_name(variant: str, s: Mapping[str, Any], seed: int) -> str:
    """``<variant>-<hash>``: the hash covers everything that defines the search (space, folds,
    epochs, subset, scaling, concat, seed), so a changed configuration starts a fresh study in the
    same journal file instead of mixing incomparable trials; reruns with the same configuration add
    trials to the same study."""
    import hashlib
    import json

    t = s["tuning"]
    key = {k: t[k] for k in ("space", "n_folds", "epochs", "batch_size", "validation_fraction")}
    key.update(scaling=s["scaling"], concat=s["concat"], class_weighted_loss=s["class_weighted_loss"], seed=int(seed),
               fixed=s["hyperparameters"])
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{variant}-{digest}"


def run_tune_worker(gp_path, split_path, variant, t2_config, seed, worker, storage_path, out_json, threads=None):
    """One tuning worker of ``variant``: scaled training data, TPE trials, ``worker_<k>.json``."""
    from ..io import write_json
    from .params import settings

    s = settings(t2_config)
    configure_tensorflow(seed + int(worker), threads, deterministic=bool(s["deterministic"]))
    codes, _ = class_codes_and_names()
    data = split_data(load_gp(gp_path), load_split(split_path), variant, str(gp_path))
    train_data = data["train"]
    train_data.X = apply_scaling(train_data.X, fit_scaling(train_data.X, s["scaling"]))
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


def run_training(gp_path, split_path, best_params_path, variant, t2_config, seed, out_model, out_history, out_info, threads=None):
    """Train ``variant`` with the gathered hyperparameters; write model.keras, history.csv, train_info.json."""
    import pandas as pd

    from ..io import atomic_path, read_json, write_csv, write_json
    from .params import check_hyperparameters, settings

    s = settings(t2_config)
    configure_tensorflow(seed, threads, deterministic=bool(s["deterministic"]))
    best = read_json(best_params_path)
    hp = check_hyperparameters(best["hyperparameters"], where=str(best_params_path))
    codes, _ = class_codes_and_names()
    data = split_data(load_gp(gp_path), load_split(split_path), variant, str(gp_path))
    train_data = data["train"]
    scaling = fit_scaling(train_data.X, s["scaling"])
    train_data.X = apply_scaling(train_data.X, scaling)
    log.info("%s: training on %d objects, hyperparameters %s", variant, len(train_data), hp)
    model, history, info = train(train_data, hp, s, seed, len(codes))
    info.update(variant=variant, hyperparameters=hp, hyperparameters_source=best.get("source"), scaling=scaling,
                n_params=int(model.count_params()), seed=int(seed))
    hist = pd.DataFrame(history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    write_csv(hist, out_history)
    with atomic_path(out_model) as tmp:
        model.save(tmp)
    write_json(info, out_info)
    log.info("%s: %d epochs in %.1f s (%.0f samples/s)", variant, info["epochs_run"], info["train_seconds"], info["samples_per_second"])
    return info


def make_synthetic_gp(n: int = 280, L: int = 100, M: int = 6, seed: int = 0, test_fraction: float = 0.3):
    """Small learnable stand-in for ``gp.npz`` + ``split.parquet`` (tests and benchmarks only).

    Each of the 14 classes gets a Gaussian bump with class-dependent peak time, width, colour and
    amplitude plus noise; z depends on the class. Returns ``(gp_dict, split_dataframe)``.
    """
    import pandas as pd

    codes, _ = class_codes_and_names()
    rng = np.random.default_rng(seed)
    C = len(codes)
    cls = np.arange(n) % C
    rng.shuffle(cls)
    t = np.linspace(0.0, 1.0, L)[None, :, None]
    band = np.arange(M)[None, None, :]
    t0 = (0.2 + 0.6 * (cls % 7) / 6)[:, None, None] + rng.normal(0, 0.03, (n, 1, 1))
    width = (0.03 + 0.05 * (cls // 7))[:, None, None]
    colour = 1.0 + 0.15 * ((cls % 3) - 1)[:, None, None] * (band - M / 2)
    amp = rng.lognormal(3.0, 0.5, (n, 1, 1))
    X = amp * colour * np.exp(-0.5 * ((t - t0) / width) ** 2) + rng.normal(0, 1.0, (n, L, M))
    z = np.clip(0.1 + 0.08 * cls + rng.normal(0, 0.05, n), 0.01, None)
    gp = {
        "X": X.astype(np.float32),
        "z": z.astype(np.float32),
        "z_err": (0.02 + 0.01 * rng.random(n)).astype(np.float32),
        "target": np.asarray(codes, dtype=np.int64)[cls],
        "object_id": (1000 + np.arange(n)).astype(np.int64),
        "time": np.linspace(0.0, 1.0, L).astype(np.float32),
    }
    _, test_idx = stratified_subset(cls, test_fraction, seed + 1)
    split = np.full(n, "train", dtype=object)
    split[test_idx] = "test"
    return gp, pd.DataFrame({"object_id": gp["object_id"], "split": split.astype(str)})
