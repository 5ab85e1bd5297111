"""Reference classifier: hand-made per-band summary features + a scikit-learn classifier.

It is a yardstick for how hard the light curves are (embedded or real), not a model of either
paper: t2 is compared against it on the same pool. Features per object (bands u..y):
max / min / mean / std of flux, max and mean of flux/flux_err, number and fraction of detections,
time of maximum flux relative to the r band, log-ratio of the band's maximum flux to the r band's
(colour at peak), plus the overall time span of detections, the number of points, the spread of
detection times relative to the peak (rise / decline proxies), hostgal_photoz and its error.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from transientrepro.metrics import flat_weighted_log_loss
from transientrepro.plasticc.classes import CLASS_CODES, CLASS_NAMES, code_to_index

log = logging.getLogger(__name__)


def lightcurve_features(lc: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """One row per object of ``meta`` (index object_id), vectorised over all objects."""
    lc = lc[["object_id", "mjd", "passband", "flux", "flux_err", "detected_bool"]].reset_index(drop=True)
    lc["snr"] = lc["flux"] / lc["flux_err"]
    g = lc.groupby(["object_id", "passband"], sort=True)
    agg = g.agg(fmax=("flux", "max"), fmin=("flux", "min"), fmean=("flux", "mean"), fstd=("flux", "std"),
                snr_max=("snr", "max"), snr_mean=("snr", "mean"), ndet=("detected_bool", "sum"),
                fdet=("detected_bool", "mean"))
    idx = g["flux"].idxmax()
    agg["tmax"] = lc.loc[idx.to_numpy(), "mjd"].to_numpy()
    wide = agg.unstack("passband")
    wide.columns = [f"{name}_{b}" for name, b in wide.columns]
    feats = pd.DataFrame(index=wide.index)
    for name in ("fmax", "fmin", "fmean", "fstd", "snr_max", "snr_mean", "ndet", "fdet"):
        for b in range(6):
            col = f"{name}_{b}"
            feats[col] = wide[col] if col in wide else np.nan
    for b in range(6):
        feats[f"tpeak_{b}_minus_r"] = wide.get(f"tmax_{b}", np.nan) - wide.get("tmax_2", np.nan)
        ratio = np.clip(wide.get(f"fmax_{b}", np.nan), 1e-3, None) / np.clip(wide.get("fmax_2", np.nan), 1e-3, None)
        feats[f"logcolour_{b}_r"] = np.log10(ratio)
    det = lc[lc["detected_bool"] == 1]
    dg = det.groupby("object_id")["mjd"]
    feats["det_span"] = (dg.max() - dg.min()).reindex(feats.index).fillna(0.0)
    feats["n_points"] = lc.groupby("object_id").size().reindex(feats.index)
    feats["n_det"] = dg.size().reindex(feats.index).fillna(0)
    # time of the brightest detection (any band) and detection spread before / after it
    best = lc.loc[lc.groupby("object_id")["snr"].idxmax().to_numpy(), ["object_id", "mjd"]].set_index("object_id")["mjd"]
    det = det.assign(dt=det["mjd"].to_numpy() - best.reindex(det["object_id"]).to_numpy())
    feats["det_before_peak"] = (-det["dt"].clip(upper=0)).groupby(det["object_id"]).max().reindex(feats.index).fillna(0)
    feats["det_after_peak"] = det["dt"].clip(lower=0).groupby(det["object_id"]).max().reindex(feats.index).fillna(0)
    m = meta.set_index("object_id")
    feats["hostgal_photoz"] = m["hostgal_photoz"].reindex(feats.index)
    feats["hostgal_photoz_err"] = m["hostgal_photoz_err"].reindex(feats.index)
    missing = np.setdiff1d(meta["object_id"].to_numpy(), feats.index.to_numpy())
    if len(missing):
        raise ValueError(f"reference features: object_id {int(missing[0])} has no light-curve rows "
                         f"({len(missing)} such objects)")
    return feats.reindex(meta["object_id"].to_numpy()).astype(np.float64)


def sample_pool(meta: pd.DataFrame, max_objects: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_objects`` objects, drawn per class in proportion (deterministic); all if None."""
    if max_objects is None or len(meta) <= max_objects:
        return meta
    frac = max_objects / len(meta)
    parts = [g.sample(n=max(1, int(round(frac * len(g)))), random_state=seed) for _, g in meta.groupby("target")]
    return pd.concat(parts).sort_values("object_id", kind="stable")


def load_pool_lightcurves(chunk_files: list[str], object_ids: np.ndarray) -> pd.DataFrame:
    """Rows of ``object_ids`` from the ingested chunk parquets (read one chunk at a time)."""
    ids = np.asarray(object_ids, dtype=np.int64)
    parts = []
    for f in chunk_files:
        lc = pd.read_parquet(f)
        parts.append(lc[lc["object_id"].isin(ids)])
    return pd.concat(parts, ignore_index=True)


def reference_classifier(
    lc: pd.DataFrame,
    meta: pd.DataFrame,
    seed: int,
    test_fraction: float = 0.3,
    n_estimators: int = 500,
) -> dict[str, Any]:
    """Train a random forest (class_weight balanced) on a seeded stratified split; evaluate.

    ``meta`` needs object_id, target (PLAsTiCC code, one of the 14) and hostgal_photoz(_err).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"reference classifier: test_fraction must be in (0, 1), got {test_fraction}")
    feats = lightcurve_features(lc, meta)
    y = np.asarray(code_to_index(meta["target"].to_numpy()))
    counts = np.bincount(y, minlength=len(CLASS_CODES))
    stratify = y if counts[counts > 0].min() >= 2 else None
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=seed,
                                      stratify=stratify)
    result, _ = _fit_and_score(feats, y, idx_tr, idx_te, seed, n_estimators)
    result["test_fraction"] = float(test_fraction)
    return result


def reference_on_split(lc: pd.DataFrame, meta: pd.DataFrame, split: pd.DataFrame, seed: int, n_estimators: int = 500,
                       n_train: int | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """The reference classifier trained on t2's training objects and scored on t2's TEST objects
    (``split.parquet``: object_id, split), so it is comparable with t2 row by row.

    ``n_train``: a seeded class-stratified subset of that size of the training objects (the
    learning curve of the t2 ablation); None = all. Objects of ``split`` absent from ``meta`` (e.g.
    dropped by the GP stage) are an error naming the first. Returns (metrics dict, predictions with
    object_id, y_true, y_pred, p_<code>).
    """
    sp = split.set_index(split["object_id"].astype(np.int64))["split"]
    ids = meta["object_id"].astype(np.int64).to_numpy()
    missing = np.setdiff1d(sp.index.to_numpy(), ids)
    if len(missing):
        raise ValueError(f"reference classifier: object_id {int(missing[0])} of the split is not in the metadata "
                         f"({len(missing)} such objects)")
    meta = meta[np.isin(ids, sp.index.to_numpy())].reset_index(drop=True)
    feats = lightcurve_features(lc, meta)
    y = np.asarray(code_to_index(meta["target"].to_numpy()))
    which = sp.reindex(meta["object_id"].astype(np.int64).to_numpy()).to_numpy()
    idx_tr, idx_te = np.flatnonzero(which == "train"), np.flatnonzero(which == "test")
    if n_train is not None and n_train < len(idx_tr):
        from ..t2.data import stratified_subset

        _, sub = stratified_subset(y[idx_tr], n_train / len(idx_tr), seed)
        idx_tr = idx_tr[sub]
    result, proba = _fit_and_score(feats, y, idx_tr, idx_te, seed, n_estimators)
    result["evaluated_on"] = "t2 split.parquet test objects"
    codes = np.asarray(CLASS_CODES, dtype=np.int64)
    pred = pd.DataFrame({"object_id": meta["object_id"].to_numpy()[idx_te].astype(np.int64),
                         "y_true": codes[y[idx_te]], "y_pred": codes[proba.argmax(1)]})
    for j, c in enumerate(CLASS_CODES):
        pred[f"p_{c}"] = proba[:, j]
    return result, pred


def _fit_and_score(feats: pd.DataFrame, y: np.ndarray, idx_tr: np.ndarray, idx_te: np.ndarray, seed: int,
                   n_estimators: int) -> tuple[dict[str, Any], np.ndarray]:
    clf = RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=2, class_weight="balanced",
                                 random_state=seed, n_jobs=1)
    x = np.nan_to_num(feats.to_numpy(), nan=-999.0, posinf=-999.0, neginf=-999.0)
    clf.fit(x[idx_tr], y[idx_tr])
    proba_cls = clf.predict_proba(x[idx_te])
    proba = np.zeros((len(idx_te), len(CLASS_CODES)))
    proba[:, clf.classes_] = proba_cls
    y_te = y[idx_te]
    present = np.unique(y_te)
    ll = flat_weighted_log_loss(y_te, proba, n_classes=len(CLASS_CODES))
    acc = float((proba.argmax(1) == y_te).mean())
    recall = {CLASS_NAMES[CLASS_CODES[c]]: float((proba[y_te == c].argmax(1) == c).mean()) for c in present}
    return {
        "model": f"RandomForestClassifier({n_estimators} trees, class_weight=balanced) on per-band summary features",
        "n_features": int(x.shape[1]),
        "n_train": int(len(idx_tr)),
        "n_test": int(len(idx_te)),
        "seed": int(seed),
        "log_loss": float(ll),
        "accuracy": acc,
        "balanced_accuracy": float(np.mean(list(recall.values()))),
        "chance_log_loss": float(np.log(len(present))),
        "n_classes_in_test": int(len(present)),
        "recall_per_class": recall,
    }, proba
