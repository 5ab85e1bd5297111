"""Dataset summaries in the layout of ConvEntion Table 1 (class counts) and Table 5 (partition
counts), with the paper's numbers beside the reproduced ones."""
from __future__ import annotations

import pandas as pd

from ..paper import paper_numbers
from .classes import LABELS
from .partition import PARTITIONS, kept_objects, partition

#: Table 5 row order.
TABLE5_ORDER: tuple[str, ...] = ("AGN", "SNIa", "Variable", "SNOther")


def class_counts_table(objects_df: pd.DataFrame, uncertain_snia: str = "exclude") -> pd.DataFrame:
    """Columns ``class, n, paper_n, fraction, paper_fraction`` in Table 1 order (``SNIa?`` objects
    counted as SNIa only with ``uncertain_snia="spectroscopic"``)."""
    paper = paper_numbers()["convention"]["class_counts"]
    n = kept_objects(objects_df, uncertain_snia)["label"].value_counts()
    out = pd.DataFrame({"class": list(LABELS)})
    out["n"] = [int(n.get(c, 0)) for c in LABELS]
    out["paper_n"] = [int(paper[c]) for c in LABELS]
    out["fraction"] = (out["n"] / max(out["n"].sum(), 1)).round(4)
    out["paper_fraction"] = (out["paper_n"] / out["paper_n"].sum()).round(4)
    return out


def partition_counts_table(partition_df: pd.DataFrame) -> pd.DataFrame:
    """Columns ``class, Train, FineTune, Test, paper_Train, paper_FineTune, paper_Test``."""
    paper = paper_numbers()["convention"]["partitions"]
    ct = pd.crosstab(partition_df["label4"], partition_df["partition"])
    rows = []
    for c in TABLE5_ORDER:
        r = {"class": c}
        for p in PARTITIONS:
            r[p] = int(ct.loc[c, p]) if (c in ct.index and p in ct.columns) else 0
        for p in PARTITIONS:
            r[f"paper_{p}"] = int(paper[c][p])
        rows.append(r)
    return pd.DataFrame(rows)


def summarise(objects_df: pd.DataFrame, seed: int, uncertain_snia: str = "exclude") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Table 1 layout, Table 5 layout for fold 0 of :func:`.partition.partition`)."""
    return (class_counts_table(objects_df, uncertain_snia),
            partition_counts_table(partition(objects_df, seed, uncertain_snia=uncertain_snia)))
