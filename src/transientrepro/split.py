"""The representative train/test split of t2 §5.1.

t2 builds new training and test sets from the unblinded PLAsTiCC *test* files (class 99
removed), so that training and test sets share one redshift distribution ("representative in
terms of redshift") while staying imbalanced in class. Here, objects are stratified by
class x redshift bin and a seeded fraction ``test_fraction`` of each stratum goes to the test set:

* Redshift bins: quantile bins of ``hostgal_photoz`` over ALL objects (``redshift_bins`` of
  them). Edges that coincide (galactic objects all have z = 0 exactly) are merged, so all z = 0
  objects share one bin. Edges are computed on the whole set, so every class uses the same bins.
* Allocation: per class, ``n_test = round(test_fraction * n_class)``, clamped to
  ``[1, n_class - 1]`` when the class has >= 2 objects, so tiny classes (KN, Mira, uLens) still land
  in both sets. A 1-object class goes to train (reported). The class's ``n_test`` is distributed
  over its redshift bins by the largest-remainder method (ties broken by the seeded RNG), then,
  within each (class, bin) stratum, a seeded permutation of the object_ids (sorted first) picks
  the test objects. The result depends only on the set of (object_id, target, z) and the seed,
  not on input order, and is the same code for embedded and full data.
* :func:`balance_report` measures representativity: per-split class counts, redshift quantiles and
  the two-sample KS statistic between train and test redshift distributions.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SPLITS = ("train", "test")


class SplitError(ValueError):
    """Bad input or config for the split (names what and where)."""


def redshift_bin_edges(z: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior quantile edges of ``z`` (duplicates merged)."""
    if n_bins < 1:
        raise SplitError(f"config split.redshift_bins must be >= 1, got {n_bins}")
    if n_bins == 1 or len(z) == 0:
        return np.zeros(0)
    edges = np.quantile(z, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(edges)


def redshift_bins(z: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index per object: quantile bins over the whole set; z = 0 (galactic) objects share bin 0."""
    z = np.asarray(z, dtype=np.float64)
    edges = redshift_bin_edges(z, n_bins)
    # right=True: values equal to an edge go to the lower bin, so a pile of identical values
    # (z = 0) never straddles two bins.
    return np.digitize(z, edges, right=True).astype(np.int64)


def _largest_remainder(total: int, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer allocation of ``total`` over groups proportional to ``sizes`` (each <= its size)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if total <= 0 or sizes.sum() == 0:
        return np.zeros_like(sizes)
    quota = total * sizes / sizes.sum()
    alloc = np.minimum(np.floor(quota).astype(np.int64), sizes)
    rest = total - int(alloc.sum())
    if rest > 0:
        frac = quota - np.floor(quota)
        # random tie-break, then the largest remainders first; skip full groups
        order = np.lexsort((rng.random(len(sizes)), -frac))
        for i in order:
            if rest == 0:
                break
            if alloc[i] < sizes[i]:
                alloc[i] += 1
                rest -= 1
    return alloc


def make_split(object_id: np.ndarray, target: np.ndarray, z: np.ndarray, test_fraction: float,
               n_bins: int, seed: int) -> pd.DataFrame:
    """Stratified (class x redshift bin), seeded train/test split.

    Returns a DataFrame (object_id int64, split str) sorted by object_id.
    """
    if not (0 < float(test_fraction) < 1):
        raise SplitError(f"config split.test_fraction must be in (0, 1), got {test_fraction}")
    object_id = np.asarray(object_id, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    z = np.asarray(z, dtype=np.float64)
    if not (len(object_id) == len(target) == len(z)):
        raise SplitError(f"split: object_id, target and z differ in length ({len(object_id)}, {len(target)}, {len(z)})")
    if len(object_id) == 0:
        raise SplitError("split: no objects to split")
    if len(np.unique(object_id)) != len(object_id):
        raise SplitError("split: duplicated object_id in the input")
    bad = ~np.isfinite(z)
    if bad.any():
        raise SplitError(f"split: non-finite redshift for object_id(s) {object_id[bad][:5].tolist()}")

    order = np.argsort(object_id, kind="stable")
    object_id, target, z = object_id[order], target[order], z[order]
    zbin = redshift_bins(z, n_bins)
    is_test = np.zeros(len(object_id), dtype=bool)
    rng = np.random.default_rng(seed)
    for cls in np.unique(target):
        in_cls = np.flatnonzero(target == cls)
        n = len(in_cls)
        n_test = int(round(test_fraction * n))
        if n >= 2:
            n_test = min(max(n_test, 1), n - 1)
        else:
            n_test = 0
        bins, sizes = np.unique(zbin[in_cls], return_counts=True)
        alloc = _largest_remainder(n_test, sizes, rng)
        for b, k in zip(bins, alloc):
            members = in_cls[zbin[in_cls] == b]  # already sorted by object_id
            pick = rng.permutation(len(members))[:k]
            is_test[members[pick]] = True
    return pd.DataFrame({"object_id": object_id, "split": np.where(is_test, "test", "train")})


def balance_report(split: pd.DataFrame, target: pd.Series | np.ndarray, z: pd.Series | np.ndarray,
                   quantiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> dict[str, Any]:
    """Class counts per split, redshift quantiles per split and the train/test KS statistic.

    ``target`` and ``z`` are aligned with ``split`` rows.
    """
    from scipy.stats import ks_2samp

    target = np.asarray(target)
    z = np.asarray(z, dtype=np.float64)
    s = split["split"].to_numpy()
    classes = {}
    for cls in np.unique(target):
        m = target == cls
        n_tr, n_te = int(np.sum(m & (s == "train"))), int(np.sum(m & (s == "test")))
        classes[str(int(cls))] = {"train": n_tr, "test": n_te,
                                  "test_fraction": n_te / (n_tr + n_te) if n_tr + n_te else float("nan")}
    ztr, zte = z[s == "train"], z[s == "test"]
    ks = ks_2samp(ztr, zte) if len(ztr) and len(zte) else None
    ztr_x, zte_x = ztr[ztr > 0], zte[zte > 0]
    ks_x = ks_2samp(ztr_x, zte_x) if len(ztr_x) and len(zte_x) else None
    return {
        "n": {"train": int(len(ztr)), "test": int(len(zte))},
        "test_fraction": float(len(zte) / len(s)) if len(s) else float("nan"),
        "classes": classes,
        "classes_missing_from_test": [c for c, v in classes.items() if v["test"] == 0],
        "classes_missing_from_train": [c for c, v in classes.items() if v["train"] == 0],
        "redshift_quantiles": {
            "q": list(quantiles),
            "train": np.quantile(ztr, quantiles).tolist() if len(ztr) else [],
            "test": np.quantile(zte, quantiles).tolist() if len(zte) else [],
        },
        "ks_statistic": float(ks.statistic) if ks else float("nan"),
        "ks_pvalue": float(ks.pvalue) if ks else float("nan"),
        "ks_statistic_extragalactic": float(ks_x.statistic) if ks_x else float("nan"),
        "ks_pvalue_extragalactic": float(ks_x.pvalue) if ks_x else float("nan"),
    }


def run_split(gp_store, out_parquet, out_summary, test_fraction: float, n_bins: int, seed: int) -> dict:
    """Split the GP-interpolated objects (gp.h5 or .npz: object_id, target, z; X is not read); write
    parquet + JSON summary."""
    from transientrepro.gp_store import open_gp_arrays
    from transientrepro.io import write_json, write_parquet

    f = open_gp_arrays(gp_store)
    missing = [k for k in ("object_id", "target", "z") if k not in f]
    if missing:
        raise SplitError(f"{gp_store}: missing array(s) {missing}")
    oid, target, z = (np.asarray(f[k]) for k in ("object_id", "target", "z"))
    df = make_split(oid, target, z, test_fraction, n_bins, seed)
    order = np.argsort(oid, kind="stable")
    report = balance_report(df, target[order], z[order])
    report.update(test_fraction_config=float(test_fraction), redshift_bins=int(n_bins), seed=int(seed),
                  redshift_bin_edges=redshift_bin_edges(z.astype(np.float64), n_bins).tolist())
    write_parquet(df, out_parquet)
    write_json(report, out_summary)
    return report
