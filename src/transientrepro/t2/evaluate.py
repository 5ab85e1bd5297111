"""Evaluation of a trained t2 on the test split: metrics, predictions, CAMs, parameter counts.

Outputs (per variant):

- ``metrics.json``: :func:`transientrepro.metrics.classification_metrics` (flat-weighted log-loss
  eq. 13, accuracy, macro F1, ROC AUC micro/macro, PR AUC micro/per class, recall per class,
  confusion matrix counts and row-normalised) plus n_params (built model), paper_n_params (§3.7
  formula), hyperparameters, n_train, n_test, seed, epochs_run, train_seconds, class codes/names,
  and for t2 the CAM redshift statistics (``redshift_activation_mean`` = mean over test objects of
  the normalised CAM share on z and z_err for the predicted class; the paper's ~1.92%).
- ``predictions.parquet``: ``object_id``, ``y_true`` and ``y_pred`` (PLAsTiCC codes) and one
  probability column per class named ``p_<code>`` (e.g. ``p_90`` for SNIa).
- ``cams.npz``: see :func:`transientrepro.t2.cam.compute_cams` (+ ``object_id``, ``L``, ``n_aux``).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..metrics import classification_metrics
from .cam import compute_cams
from .params import paper_n_params
from .data import T2Data

log = logging.getLogger(__name__)


def predictions_frame(data: T2Data, proba: np.ndarray, codes: list[int]) -> pd.DataFrame:
    codes_arr = np.asarray(codes, dtype=np.int64)
    df = pd.DataFrame(
        {
            "object_id": data.object_id.astype(np.int64),
            "y_true": codes_arr[data.y],
            "y_pred": codes_arr[proba.argmax(axis=1)],
        }
    )
    for j, c in enumerate(codes):
        df[f"p_{c}"] = proba[:, j].astype(np.float64)
    return df


def parameter_count_row(variant: str, hp: Mapping[str, Any], built: int, M: int, C: int, n_aux: int, concat: str) -> dict[str, Any]:
    """One row of the parameter-count table (M' = M + R with concatenation along M)."""
    m_eff = M + n_aux if (n_aux and concat == "M") else M
    formula = paper_n_params(m_eff, C, hp["d"], hp["h"], hp["d_ff"], hp["N"])
    return {
        "model": variant,
        "hyperparameters": ";".join(f"{k}={hp[k]}" for k in ("d", "h", "d_ff", "N", "dropout", "learning_rate")),
        "M": m_eff,
        "C": C,
        "built_n_params": int(built),
        "paper_n_params": int(formula),
        "match": bool(int(built) == int(formula)),
    }


def table2_parameter_count_row(variant: str, L: int, M: int, C: int, n_aux: int, concat: str) -> dict[str, Any]:
    """The parameter-count row of t2 built at Table 2's hyperparameters (13,390 for M=6, C=14)."""
    from ..paper import paper_numbers
    from .model import build_t2

    hp = dict(paper_numbers()["t2"]["hyperparameters"])
    hp.pop("source", None)
    built = build_t2(L, M, C, hp, n_aux=n_aux, concat=concat, name=f"{variant}_table2").count_params()  # PE/layout add no parameters
    return parameter_count_row(variant, hp, built, M, C, n_aux, concat)


def evaluate(
    model,
    test: T2Data,
    class_names: list[str],
    concat: str,
    cam_max_objects: int = 0,
    batch_size: int = 1024,
    jit_compile: bool = True,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, np.ndarray]]:
    """Metrics, predictions table and CAM arrays of ``model`` on ``test`` (already scaled)."""
    from .stream import predict

    proba = predict(model, test, batch_size, jit_compile=jit_compile).astype(np.float64)
    metrics = classification_metrics(test.y, proba, class_names)
    preds = predictions_frame(test, proba, test.codes)
    L = test.X.shape[1]
    n_aux = test.aux.shape[1]
    n_cam = len(test) if not cam_max_objects else min(len(test), int(cam_max_objects))
    idx = np.arange(n_cam)
    cams = compute_cams(model, test.inputs(idx), test.y[idx], L=L, n_aux=n_aux, concat=concat)
    err = float(cams.pop("max_score_error"))
    if err > 1e-3:
        raise AssertionError(f"CAM identity (1/L') sum_l M_c(l) + b_c = logit_c violated: max error {err}")
    has_z = n_aux > 0 and concat == "L"
    metrics["cam_max_score_error"] = err
    metrics["cam_n_objects"] = int(n_cam)
    if has_z:
        metrics["redshift_activation_mean"] = float(np.mean(cams["redshift_share"]))
        metrics["redshift_activation_median"] = float(np.median(cams["redshift_share"]))
        metrics["redshift_activation_mean_true_class"] = float(np.mean(cams["redshift_share_true"]))
        metrics["redshift_activation_mean_all_classes"] = float(np.mean(cams["redshift_share_all_classes"]))
        metrics["feature_activation_mean"] = {
            name: float(np.mean(cams["feature_share"][:, j])) for j, name in enumerate(("z", "z_err")[:n_aux])
        }
        metrics["uniform_share"] = n_aux / (L + n_aux)
    cams["object_id"] = test.object_id[idx].astype(np.int64)
    cams["L"] = np.int64(L)
    cams["n_aux"] = np.int64(n_aux if has_z else 0)
    cams["class_codes"] = np.asarray(test.codes, dtype=np.int64)
    return metrics, preds, cams


def run_evaluation(
    gp_path,
    split_path,
    model_path,
    train_info_path,
    variant: str,
    t2_config: Mapping[str, Any],
    seed: int,
    out_metrics,
    out_predictions,
    out_cams,
    out_param_counts,
    threads: int | None = None,
    run_name: str = "",
) -> dict[str, Any]:
    """Evaluate the saved model of ``variant`` on the test split and write every output atomically."""
    import keras

    from ..io import read_json, save_npz, write_csv, write_json, write_parquet
    from . import layers as _layers  # noqa: F401  (registers the custom layers for load_model)
    from . import losses as _losses  # noqa: F401
    from .params import class_codes_and_names, settings
    from .data import load_gp, load_split, split_data
    from .scaling import apply_fitted
    from .training import configure_tensorflow

    s = settings(t2_config)
    configure_tensorflow(seed, threads, deterministic=bool(s["deterministic"]), attention_kernel=s["attention_kernel"])
    info = read_json(train_info_path)
    if info.get("variant") != variant:
        raise ValueError(f"{train_info_path}: trained for variant {info.get('variant')!r}, not {variant!r}")
    codes, names = class_codes_and_names()
    gp = load_gp(gp_path)
    data = split_data(gp, load_split(split_path), variant, str(gp_path), s["stream_above_mb"])
    test = data["test"]
    apply_fitted(test, info)
    model = keras.models.load_model(model_path, compile=False)
    metrics, preds, cams = evaluate(model, test, names, s["concat"], int(s["cam_max_objects"]),
                                    jit_compile=bool(s["jit_compile"]))
    hp = info["hyperparameters"]
    row = parameter_count_row(variant, hp, model.count_params(), test.X.shape[2], len(codes), test.aux.shape[1], s["concat"])
    paper_row = table2_parameter_count_row(variant, test.X.shape[1], test.X.shape[2], len(codes), test.aux.shape[1], s["concat"])
    metrics.update(
        variant=variant,
        run_name=run_name,
        class_codes=codes,
        n_params=int(model.count_params()),
        paper_n_params=row["paper_n_params"],
        hyperparameters=hp,
        hyperparameters_source=info.get("hyperparameters_source"),
        concat=s["concat"] if test.aux.shape[1] else None,
        scaling=info["scaling"]["method"],
        aux_scaling=(info.get("aux_scaling") or {"method": "none"})["method"],
        recipe=info.get("recipe"),
        n_train=info["n_train"],
        n_test=int(len(test)),
        seed=seed,
        epochs_run=info["epochs_run"],
        best_epoch=info["best_epoch"],
        train_seconds=info["train_seconds"],
        train_samples_per_second=info["samples_per_second"],
    )
    log.info("%s: log_loss %.4f, roc_auc_micro %.4f, accuracy %.4f", variant, metrics["log_loss"], metrics["roc_auc_micro"], metrics["accuracy"])
    write_parquet(preds, out_predictions)
    save_npz(out_cams, **cams)
    write_csv(pd.DataFrame([{"config": "run", **row}, {"config": "paper_settings", **paper_row}]), out_param_counts)
    write_json(metrics, out_metrics)
    return metrics
