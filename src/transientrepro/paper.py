"""Access to the published numbers in ``data/paper_numbers.yaml`` (one file, each entry cited)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

import yaml


@lru_cache(maxsize=1)
def paper_numbers() -> dict[str, Any]:
    """The whole paper-numbers file as a dict (keys ``t2`` and ``convention``)."""
    text = resources.files("transientrepro").joinpath("data/paper_numbers.yaml").read_text()
    return yaml.safe_load(text)


def published_by_model(models: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Model key -> {metric: published value} for every model with a published result.

    t2 models (``t2``, ``t2_noz``) give their metrics as fractions (log-loss, AUCs, redshift
    activation share); ConvEntion Table 3/4 models give ``accuracy`` and ``f1`` in percent and, where
    printed, ``n_params``. ``models`` restricts (and orders) the keys; a model without a published
    number is left out. Used by the report's figure captions and the figure titles.
    """
    pn = paper_numbers()
    table: dict[str, dict[str, Any]] = {}
    for model, metrics in pn["t2"]["metrics"].items():
        table[model] = {k: v["value"] for k, v in metrics.items()}
    for section in ("results_4class", "results_3class"):
        for model, row in pn["convention"][section].items():
            if model == "source":
                continue
            table[model] = {k: row[k] for k in ("accuracy", "f1", "n_params") if row.get(k) is not None}
    if models is None:
        return table
    return {m: table[m] for m in models if m in table}


def published_totals() -> dict[str, int]:
    """Objects in the papers' data sets: ``plasticc`` (t2 Table 1, the total as printed) and
    ``sdss`` (ConvEntion Table 1, its rows summed)."""
    pn = paper_numbers()
    sdss = pn["convention"]["class_counts"]
    return dict(plasticc=int(pn["t2"]["class_counts"]["total"]),
                sdss=int(sum(v for k, v in sdss.items() if k != "source")))
