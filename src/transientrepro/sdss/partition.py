"""ConvEntion's training protocol partition (§4.1, Table 5).

Rule (fractions from ``paper_numbers()['convention']['partitions']``, i.e. Table 5):

- ``Unknown`` is excluded (§4.1).
- ``SNIa?`` (master-table ``Classification``; label ``SNIa``): ``uncertain_snia="exclude"`` (default,
  the paper: Tables 1 and 5 count 499 spectroscopic SNIa and sum to the 10,258 master-table rows
  minus 41) drops them like ``Unknown``; ``"spectroscopic"`` counts them as spectroscopic SNIa, as
  the authors' split files do (a6d0e5c ``code/stats.csv``: "SpectoSNIa,540"; ``finetuning.py``:
  ``Valid_snIa = ['SNIa?','SNIa']``). Without a ``Classification`` column nothing changes.
- ``Train`` = all photometrically typed SNe (``SNIa_PT`` -> SNIa, ``SNOther_PT`` -> SNOther) plus a
  seeded random ``Train/total`` share of AGN and Variable (Table 5: 362/906 and 1290/3225 = 40%).
- The rest (spectroscopic SNIa/SNOther and the remaining AGN/Variable) is the confirmed pool, split
  per class into ``FineTune`` and ``Test`` with Table 5's test share ``Test/(FineTune+Test)``
  (AGN 182/544, SNIa 99/499, Variable 645/1935, SNOther 17/89).
- Cross-validation: for ``fold`` k of ``n_folds`` the test block is the window of that size starting
  at ``round(k * n / n_folds)`` in a seeded per-class permutation of the pool (wrapping around), so
  the SN test blocks (~20%) are disjoint over 5 folds, and the AGN/Variable ones (~1/3) overlap by
  the excess. ``Train`` does not depend on the fold. Everything is deterministic given ``seed``
  and independent of the row order of ``objects_df``.

``label4`` in {AGN, SNIa, SNOther, Variable} (Table 3 task), ``label3`` in {AGN, SN, Variable}
(Table 4 task).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..paper import paper_numbers
from .classes import CLASSES4, LABEL3_OF_LABEL4, LABEL4, LABELS

PARTITIONS: tuple[str, ...] = ("Train", "FineTune", "Test")
UNCERTAIN_SNIA = ("exclude", "spectroscopic")


def uncertain_snia_rows(objects_df: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the ``SNIa?`` objects (master-table ``Classification``), aligned with the rows."""
    if "Classification" not in objects_df.columns:
        return np.zeros(len(objects_df), dtype=bool)
    return (objects_df["Classification"].astype(str).str.strip() == "SNIa?").to_numpy()


def kept_objects(objects_df: pd.DataFrame, uncertain_snia: str = "exclude") -> pd.DataFrame:
    """The objects of the study: ``SNIa?`` dropped when ``uncertain_snia="exclude"``."""
    if uncertain_snia not in UNCERTAIN_SNIA:
        raise ValueError(f"convention.snia_uncertain: {uncertain_snia!r} not in {list(UNCERTAIN_SNIA)}")
    if uncertain_snia == "exclude":
        return objects_df[~uncertain_snia_rows(objects_df)]
    return objects_df


def table5_fractions() -> tuple[dict[str, float], dict[str, float]]:
    """(train share of AGN/Variable, test share of the confirmed pool) per 4-class label."""
    t5 = paper_numbers()["convention"]["partitions"]
    train = {c: t5[c]["Train"] / (t5[c]["Train"] + t5[c]["FineTune"] + t5[c]["Test"]) for c in ("AGN", "Variable")}
    test = {c: t5[c]["Test"] / (t5[c]["FineTune"] + t5[c]["Test"]) for c in CLASSES4}
    return train, test


def partition(objects_df: pd.DataFrame, seed: int, *, fold: int = 0, n_folds: int = 5,
              uncertain_snia: str = "exclude") -> pd.DataFrame:
    """Assign every non-Unknown object to Train/FineTune/Test (see module docstring).

    ``objects_df`` needs columns ``CID`` and ``label`` (ConvEntion Table 1 labels). Returns a
    DataFrame ``[CID, label, label4, label3, partition]`` sorted by CID (excluded objects absent).
    """
    for col in ("CID", "label"):
        if col not in objects_df.columns:
            raise ValueError(f"partition: objects table lacks column {col!r}")
    if not 0 <= fold < n_folds:
        raise ValueError(f"partition: fold={fold} outside 0..n_folds-1 (n_folds={n_folds})")
    bad = sorted(set(objects_df["label"]) - set(LABELS))
    if bad:
        raise ValueError(f"partition: unknown label(s) {bad}; expected {LABELS}")
    df = kept_objects(objects_df, uncertain_snia)[["CID", "label"]].copy()
    df = df[df["label"] != "Unknown"].sort_values("CID").reset_index(drop=True)
    df["label4"] = df["label"].map(LABEL4)
    df["label3"] = df["label4"].map(LABEL3_OF_LABEL4)
    part = np.full(len(df), "", dtype=object)
    part[df["label"].isin(["SNIa_PT", "SNOther_PT"]).to_numpy()] = "Train"
    train_frac, test_frac = table5_fractions()
    for ci, c in enumerate(CLASSES4):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5, ci]))
        idx = np.flatnonzero((df["label"] == c).to_numpy())  # confirmed / AGN / Variable rows of c
        idx = idx[rng.permutation(len(idx))]
        if c in train_frac:
            n_tr = int(round(train_frac[c] * len(idx)))
            part[idx[:n_tr]] = "Train"
            idx = idx[n_tr:]
        n = len(idx)
        if n == 0:
            continue
        n_test = int(round(test_frac[c] * n))
        n_test = min(max(n_test, 1 if n >= 2 else 0), n - 1 if n >= 2 else n)
        start = int(round(fold * n / n_folds))
        test_pos = (start + np.arange(n_test)) % n
        part[idx] = "FineTune"
        part[idx[test_pos]] = "Test"
    df["partition"] = part
    assert (df["partition"] != "").all()
    return df[["CID", "label", "label4", "label3", "partition"]]


DEFAULT_SEED = 42  # config/schema.yaml default of the top-level ``seed`` (used by the Table 5 summary)


def assign_partitions(objects_df: pd.DataFrame, seed: int = DEFAULT_SEED, *, fold: int = 0,
                      n_folds: int = 5, uncertain_snia: str = "exclude") -> np.ndarray:
    """:func:`partition` aligned with the rows of ``objects_df``: a str array with ``Train``,
    ``FineTune``, ``Test``, or ``""`` for excluded (``Unknown``, and ``SNIa?`` unless
    ``uncertain_snia="spectroscopic"``) objects. Pass the workflow's ``config['seed']`` as ``seed``
    and ``config['convention']['snia_uncertain']`` as ``uncertain_snia`` so every stage sees the
    split of the Table 5 summary (``results/data/sdss_partition_counts.csv``, fold 0)."""
    p = partition(objects_df, seed, fold=fold, n_folds=n_folds,
                  uncertain_snia=uncertain_snia).set_index("CID")["partition"]
    return objects_df["CID"].map(p).fillna("").astype(str).to_numpy()
