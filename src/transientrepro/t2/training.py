"""Training of t2 (§4.4) and the stage entry point that writes the model.

Training: Adam (optionally ``clipnorm``), the loss of ``t2.loss`` (:mod:`.losses`),
``ReduceLROnPlateau`` (factor, patience, cooldown, monitor), ``EarlyStopping(restore_best_weights=True,
min_delta)`` and, when ``overfit_ratio_stop`` is set, the authors' ``DetectOverfittingCallback``
(stop once val_loss / loss exceeds the threshold). The flat-weighted log-loss of eq. (13) on the
validation data is computed after every epoch (log key ``val_flat_log_loss``). The validation data
is a seeded per-class ``validation_fraction`` of the training set (``validation: holdout``) or, as
in the authors' code and only as a labelled optimistic option, the test set itself
(``validation: test_set_optimistic``). With ``loss: class_weighted`` each training sample is weighted
``N / (C_present N_c)`` so that the cross-entropy is the training-set estimate of eq. (13).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import numpy as np

from ..metrics import flat_weighted_log_loss
from .data import T2Data, load_gp, load_split, split_data, stratified_subset
from .params import class_codes_and_names, resolve_batch_size
from .scaling import apply_fitted, fit_and_apply

log = logging.getLogger(__name__)

#: The training-recipe switches recorded with every model (train_info.json, metrics.json).
RECIPE_KEYS = ("scaling", "aux_scaling", "positional_encoding", "aux_layout", "concat", "loss", "clipnorm",
               "lr_reduce_factor", "lr_reduce_patience", "lr_reduce_cooldown", "lr_reduce_monitor", "epochs",
               "batch_size", "early_stopping_patience", "early_stopping_monitor", "early_stopping_min_delta",
               "overfit_ratio_stop", "validation")


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


def configure_tensorflow(seed: int, threads: int | None = None, deterministic: bool = True,
                         attention_kernel: str = "auto") -> str:
    """Seeds (Python, numpy, TF), thread pools and the attention kernel (``t2.attention_kernel``); call
    before building any model. Returns the attention kernel in use (``fused`` or ``tf``)."""
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
    from .layers import use_attention_kernel

    kernel = use_attention_kernel(attention_kernel)
    log.info("t2 attention kernel: %s", kernel)
    return kernel


def _callbacks(val: T2Data, n_classes: int, s: Mapping[str, Any], verbose_log: bool = True):
    """``val``: the validation objects (in memory, or streamed batch by batch every epoch)."""
    import keras

    from .stream import predict

    class FlatLogLoss(keras.callbacks.Callback):
        """Eq. (13) on the validation data after each epoch -> ``logs['val_flat_log_loss']``."""

        def on_epoch_end(self, epoch, logs=None):
            p = predict(self.model, val, jit_compile=bool(s.get("jit_compile", True)))
            logs["val_flat_log_loss"] = flat_weighted_log_loss(val.y, p, n_classes)
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in sorted(logs.items())))

    class OverfitRatioStop(keras.callbacks.Callback):
        """The authors' ``DetectOverfittingCallback(threshold)`` (astronet ``custom_callbacks.py``):
        stop when ``val_loss / loss`` exceeds the threshold."""

        def __init__(self, threshold: float):
            super().__init__()
            self.threshold = float(threshold)
            self.stopped_epoch = None

        def on_epoch_end(self, epoch, logs=None):
            ratio = logs["val_loss"] / logs["loss"] if logs.get("loss") else float("inf")
            logs["val_train_loss_ratio"] = float(ratio)
            if ratio > self.threshold:
                log.info("epoch %d: val_loss / loss = %.2f > %.2f, stopping (overfit_ratio_stop)", epoch + 1, ratio, self.threshold)
                self.stopped_epoch = epoch + 1
                self.model.stop_training = True

    cbs = [FlatLogLoss()]
    if s.get("overfit_ratio_stop") is not None:
        cbs.append(OverfitRatioStop(s["overfit_ratio_stop"]))
    cbs += [
        keras.callbacks.ReduceLROnPlateau(
            monitor=s["lr_reduce_monitor"], factor=float(s["lr_reduce_factor"]), patience=int(s["lr_reduce_patience"]),
            cooldown=int(s.get("lr_reduce_cooldown", 0)), mode="min", verbose=0
        ),
        keras.callbacks.EarlyStopping(
            monitor=s["early_stopping_monitor"], patience=int(s["early_stopping_patience"]), restore_best_weights=True,
            min_delta=float(s.get("early_stopping_min_delta", 0.0)), mode="min", verbose=0
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
    test: T2Data | None = None,
):
    """Train t2 on ``data`` (already scaled) with settings ``s`` (see :func:`params.settings`).

    ``test`` (already scaled) is needed only for ``validation: test_set_optimistic``: the whole
    training set is then fitted and the test set watched (the authors' optimistic protocol).
    Returns ``(model, history: dict[str, list], info: dict)``; info has epochs_run, best_epoch,
    train_seconds, samples_per_second, n_train, n_val.
    """
    import keras

    from .model import build_and_compile

    L = data.X.shape[1] if L is None else L
    if s["validation"] == "test_set_optimistic":
        if test is None:
            raise ValueError("t2.validation test_set_optimistic needs the test split")
        fit_idx = np.arange(len(data))
        val = test
        log.warning("validation: test_set_optimistic -- early stopping and the LR schedule watch the TEST set (optimistic)")
    else:
        fit_idx, val_idx = stratified_subset(data.y, float(s["validation_fraction"]), seed)
        val = data.take(val_idx)  # sliced once (in memory) or a lazy view (streamed)
    model = build_and_compile(L, data.X.shape[2], n_classes, hyperparameters, s, n_aux=data.aux.shape[1])
    y_fit = keras.utils.to_categorical(data.y[fit_idx], n_classes)
    y_val = keras.utils.to_categorical(val.y, n_classes)
    cw = class_weights(data.y[fit_idx], n_classes) if s["loss"] == "class_weighted" else None
    batch_size = resolve_batch_size(s["batch_size"], len(fit_idx))
    sw = _sample_weights(cw, data.y[fit_idx])
    callbacks = _callbacks(val, n_classes, s)
    t0 = time.perf_counter()
    if data.streamed:  # batches read from the GP store as Keras asks for them (bounded memory)
        from .stream import batches

        log.info("streaming %d training and %d validation objects from the GP store", len(fit_idx), len(val))
        hist = model.fit(
            batches(data, fit_idx, batch_size, y_fit, sw, shuffle_seed=seed),
            validation_data=batches(val, np.arange(len(val)), 1024, y_val),
            epochs=int(s["epochs"]),
            verbose=0,
            callbacks=callbacks,
        )
    else:
        hist = model.fit(
            data.inputs(fit_idx),
            y_fit,
            validation_data=(val.inputs(), y_val),
            epochs=int(s["epochs"]),
            batch_size=batch_size,
            sample_weight=sw,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
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
        "n_val": int(len(val)),
        "validation": s["validation"],
        "best_val_flat_log_loss": float(np.min(history["val_flat_log_loss"])) if "val_flat_log_loss" in history else float("nan"),
    }
    return model, history, info


def run_training(gp_path, split_path, best_params_path, variant, t2_config, seed, out_model, out_history, out_info, threads=None):
    """Train ``variant`` with the gathered hyperparameters; write model.keras, history.csv, train_info.json."""
    import pandas as pd

    from ..io import atomic_path, read_json, write_csv, write_json
    from .params import check_hyperparameters, settings

    s = settings(t2_config)
    configure_tensorflow(seed, threads, deterministic=bool(s["deterministic"]), attention_kernel=s["attention_kernel"])
    best = read_json(best_params_path)
    hp = check_hyperparameters(best["hyperparameters"], where=str(best_params_path))
    codes, _ = class_codes_and_names()
    data = split_data(load_gp(gp_path), load_split(split_path), variant, str(gp_path), s["stream_above_mb"])
    train_data = data["train"]
    fitted = fit_and_apply(train_data, s)
    test_data = None
    if s["validation"] == "test_set_optimistic":
        test_data = data["test"]
        apply_fitted(test_data, fitted)
    log.info("%s: training on %d objects, hyperparameters %s", variant, len(train_data), hp)
    model, history, info = train(train_data, hp, s, seed, len(codes), test=test_data)
    info.update(variant=variant, hyperparameters=hp, hyperparameters_source=best.get("source"), **fitted,
                n_params=int(model.count_params()), seed=int(seed),
                recipe={k: s[k] for k in RECIPE_KEYS})
    hist = pd.DataFrame(history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    write_csv(hist, out_history)
    with atomic_path(out_model) as tmp:
        model.save(tmp)
    write_json(info, out_info)
    log.info("%s: %d epochs in %.1f s (%.0f samples/s)", variant, info["epochs_run"], info["train_seconds"], info["samples_per_second"])
    return info
