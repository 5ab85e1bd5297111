"""Classify PLAsTiCC-format light curves with a trained t2 model (``transientrepro predict``).

The same path as the workflow: the light curves and metadata are read and validated by
:mod:`transientrepro.plasticc.loaders`, GP-interpolated with the config's ``gp:`` section (it must be
the one the model was trained with: the number of grid points is checked against the model), scaled
with the scalers stored in the model's ``train_info.json``, and classified. Objects the GP stage
excludes get a row with empty probabilities and the reason. Timings of the GP and of the
classification are reported separately (the GP is excluded from the inference throughput).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class PredictError(ValueError):
    """The model, its train_info.json or the GP settings do not fit together."""


def classify(lightcurves_csv, metadata_csv, model_path, gp_section: Mapping[str, Any] | None,
             train_info_path=None, batch_size: int = 1024, threads: int | None = None,
             progress: bool = False, jit_compile: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Class probabilities of every object of ``metadata_csv``; returns ``(table, timings)``.

    ``table``: object_id, predicted (class code), predicted_name, p_<code> for the 14 classes
    (summing to 1), true_class (where the metadata has labels) and gp_failure (empty, or the reason
    the GP stage excluded the object, whose probabilities are then empty).
    """
    import keras

    from ..gp import GPConfig, interpolate_lightcurves
    from ..io import read_json
    from ..plasticc.loaders import read_lightcurves, read_metadata
    from . import layers as _layers  # noqa: F401  (registers the custom layers for load_model)
    from . import losses as _losses  # noqa: F401
    from .data import T2Data
    from .params import AUX_FEATURES, class_codes_and_names, variant_uses_redshift
    from .scaling import apply_fitted
    from .stream import predict
    from .training import configure_tensorflow

    model_path = Path(model_path)
    info_path = Path(train_info_path) if train_info_path else model_path.with_name("train_info.json")
    if not model_path.exists():
        raise PredictError(f"{model_path}: model not found")
    if not info_path.exists():
        raise PredictError(f"{info_path}: train_info.json not found (it holds the model's input scalers)")
    info = read_json(info_path)
    variant = info.get("variant")
    use_z = variant_uses_redshift(variant)
    configure_tensorflow(int(info.get("seed", 0)), threads)
    codes, names = class_codes_and_names()

    t0 = time.perf_counter()
    lc = read_lightcurves(lightcurves_csv)
    meta = read_metadata(metadata_csv, require_labels=False)
    truth = meta["true_target"].where(meta["true_target"].notna(), meta["target"])
    meta = meta.assign(target=truth.fillna(-1).astype(np.int64)).drop(columns=["true_target"])
    t_read = time.perf_counter() - t0
    cfg = GPConfig.from_config(gp_section)
    t0 = time.perf_counter()
    arrays, fails, gp_summary = interpolate_lightcurves(lc, meta, cfg, progress=progress, desc="GP",
                                                        source=str(lightcurves_csv))
    t_gp = time.perf_counter() - t0

    model = keras.models.load_model(model_path, compile=False)
    L_model = model.inputs[0].shape[1]
    X = arrays["X"]
    if L_model is not None and X.shape[1] != L_model:
        raise PredictError(f"{model_path}: the model takes light curves of {L_model} time steps, but the GP "
                           f"config gives n_points = {X.shape[1]}; use the gp: settings the model was trained with")
    n = len(arrays["object_id"])
    aux = (np.stack([arrays[k] for k in AUX_FEATURES], axis=1).astype(np.float32) if use_z
           else np.zeros((n, 0), np.float32))
    data = T2Data(X.astype(np.float32), aux, np.zeros(n, np.int64), arrays["object_id"].astype(np.int64), codes)
    apply_fitted(data, info)
    proba = np.zeros((0, len(codes)))
    t_first = t_steady = 0.0
    if n:
        t0 = time.perf_counter()
        proba = predict(model, data, batch_size, jit_compile=jit_compile).astype(np.float64)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()  # again, traced: the steady-state speed a broker would see
        again = predict(model, data, batch_size, jit_compile=jit_compile).astype(np.float64)
        t_steady = time.perf_counter() - t0
        if not np.allclose(again, proba, atol=1e-6):
            raise AssertionError("two predictions of the same inputs differ")

    rows = pd.DataFrame({"object_id": data.object_id})
    rows["predicted"] = np.asarray(codes, np.int64)[proba.argmax(axis=1)] if n else np.zeros(0, np.int64)
    rows["predicted_name"] = [names[codes.index(int(c))] for c in rows["predicted"]]
    for j, c in enumerate(codes):
        rows[f"p_{c}"] = proba[:, j]
    rows["gp_failure"] = ""
    failed = fails.loc[fails["action"] == "excluded", ["object_id", "reason"]].rename(columns={"reason": "gp_failure"})
    table = pd.concat([rows, failed.assign(object_id=failed["object_id"].astype(np.int64))], ignore_index=True)
    table = meta[["object_id"]].merge(table, on="object_id", how="left")
    table["gp_failure"] = table["gp_failure"].fillna("")
    table["predicted"] = table["predicted"].astype("Int64")  # empty for GP-excluded objects
    labels = meta.set_index("object_id")["target"]
    if (labels >= 0).any():
        table["true_class"] = table["object_id"].map(labels).astype(np.int64)
    timings = {
        "variant": variant,
        "n_objects": int(len(meta)),
        "n_classified": int(n),
        "n_gp_excluded": int(len(failed)),
        "read_seconds": t_read,
        "gp_seconds": t_gp,
        "gp_objects_per_s": len(meta) / t_gp if t_gp > 0 else float("nan"),
        "gp_engine": gp_summary.get("engine", cfg.engine),
        "predict_seconds_first": t_first,
        "predict_seconds": t_steady,
        "objects_per_s": n / t_steady if t_steady > 0 else float("nan"),
        "batch_size": int(batch_size),
        "jit_compile": bool(jit_compile),
    }
    return table, timings


def format_timings(t: Mapping[str, Any]) -> str:
    return (f"{t['variant']}: {t['n_classified']} of {t['n_objects']} objects classified "
            f"({t['n_gp_excluded']} excluded by the GP stage)\n"
            f"  GP ({t['gp_engine']}): {t['gp_seconds']:.2f} s, {t['gp_objects_per_s']:.1f} objects/s (not in the figure below)\n"
            f"  t2 inference: {t['objects_per_s']:.0f} objects/s ({t['predict_seconds'] * 1e3:.1f} ms for "
            f"{t['n_classified']} objects at batch {t['batch_size']}{', XLA' if t.get('jit_compile') else ''}; first call, with graph tracing: "
            f"{t['predict_seconds_first'] * 1e3:.1f} ms)")
