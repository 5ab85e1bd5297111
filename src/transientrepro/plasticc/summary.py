"""Dataset summaries in the layout of t2 Table 1."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from transientrepro.paper import paper_numbers
from transientrepro.plasticc.classes import CLASS_CODES, CLASS_NAMES

log = logging.getLogger(__name__)

COLUMNS = ["class", "code", "n", "percent", "paper_n", "paper_percent", "train_n", "train_percent"]


def class_count_table(meta: pd.DataFrame) -> pd.DataFrame:
    """Objects per class: ``n``/``percent`` = the test files (t2's evaluation pool, Table 1),
    ``paper_n``/``paper_percent`` = t2 Table 1, ``train_n``/``train_percent`` = the train files
    (the Kaggle training set, which t2 does not use). Last row: totals (code empty).

    ``meta``: ingested metadata with ``target`` (PLAsTiCC code) and ``split`` (train/test).
    """
    for col in ("target", "split"):
        if col not in meta.columns:
            raise ValueError(f"class_count_table: metadata has no column {col!r}")
    unknown = sorted(set(meta["target"].astype(int)) - set(CLASS_CODES))
    if unknown:
        raise ValueError(f"class_count_table: unknown class codes {unknown} in the ingested metadata")
    paper = paper_numbers()["t2"]["class_counts"]
    test = meta.loc[meta["split"] == "test", "target"].value_counts()
    train = meta.loc[meta["split"] == "train", "target"].value_counts()
    n = np.array([int(test.get(c, 0)) for c in CLASS_CODES])
    tr = np.array([int(train.get(c, 0)) for c in CLASS_CODES])
    pn = np.array([int(paper[c][1]) for c in CLASS_CODES])
    paper_total = int(paper["total"])
    if pn.sum() != paper_total:
        # t2 Table 1 itself: the 14 rows sum to 3,479,455 while its Total row says 3,479,456.
        log.warning("t2 Table 1: class rows sum to %d but the stated total is %d; the Total row keeps the "
                    "stated total, percentages use the row sum", pn.sum(), paper_total)

    def pct(x: np.ndarray) -> np.ndarray:
        return np.round(100.0 * x / x.sum(), 3) if x.sum() else np.full(len(x), np.nan)

    table = pd.DataFrame({
        "class": [CLASS_NAMES[c] for c in CLASS_CODES],
        "code": pd.array(CLASS_CODES, dtype="Int64"),
        "n": n, "percent": pct(n), "paper_n": pn, "paper_percent": pct(pn), "train_n": tr, "train_percent": pct(tr),
    })
    total = pd.DataFrame({"class": ["Total"], "code": pd.array([pd.NA], dtype="Int64"), "n": [n.sum()],
                          "percent": [100.0 if n.sum() else np.nan], "paper_n": [paper_total], "paper_percent": [100.0],
                          "train_n": [tr.sum()], "train_percent": [100.0 if tr.sum() else np.nan]})
    return pd.concat([table, total], ignore_index=True)[COLUMNS]
