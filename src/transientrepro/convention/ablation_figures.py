"""Summaries and the figure of the ConvEntion ablation table (``results/sdss/ablation/
convention_ablation.csv``, written by :mod:`.ablation`); torch-free, for the notebook."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

METRICS = ("accuracy", "f1_macro", "balanced_accuracy")


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (switch, setting)."""
    g = df.groupby(["switch", "setting"], sort=False)
    out = g[["accuracy", "f1_macro", "balanced_accuracy"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out = out.reset_index()
    out["n_seeds"] = g.size().to_numpy()
    return out


def paired_deltas(df: pd.DataFrame, recipe: Mapping[str, str]) -> pd.DataFrame:
    """Per flipped (switch, setting): mean and std over seeds of (setting - recipe) at the same seed."""
    rows = []
    for (sw, s), g in df.groupby(["switch", "setting"], sort=False):
        if recipe.get(sw) == s:
            continue
        base = df[(df["switch"] == sw) & (df["setting"] == recipe.get(sw))].set_index("seed")[list(METRICS)]
        d = (g.set_index("seed")[list(METRICS)] - base).dropna()
        rows.append({"switch": sw, "setting": s, "n_seeds": len(d),
                     **{f"delta_{k}": d[k].mean() for k in METRICS}, **{f"delta_{k}_std": d[k].std() for k in METRICS}})
    return pd.DataFrame(rows)


def recipe_from_details(details: pd.DataFrame) -> dict[str, str]:
    """switch -> the recipe's setting, from ``convention_ablation_details.csv``."""
    return details[details["is_recipe"]].drop_duplicates("switch").set_index("switch")["setting"].to_dict()


def plot(df: pd.DataFrame, recipe_settings: Mapping[str, str] | None = None):
    """Per switch and metric: every seed (dots) and the mean over seeds (bar) of each setting,
    the recipe's setting first (hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = METRICS
    switches = list(dict.fromkeys(df["switch"]))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(8.0, 1.1 * df.groupby(["switch", "setting"]).ngroups), 9),
                             sharex=True)
    labels, x = [], 0
    positions: dict[tuple[str, str], int] = {}
    for sw in switches:
        sub = df[df["switch"] == sw]
        settings = list(dict.fromkeys(sub["setting"]))
        if recipe_settings and sw in recipe_settings and recipe_settings[sw] in settings:
            settings.remove(recipe_settings[sw])
            settings.insert(0, recipe_settings[sw])
        for s in settings:
            positions[(sw, s)] = x
            labels.append(f"{sw}\n{s}")
            x += 1
        x += 0.6
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes, metrics):
        for i, sw in enumerate(switches):
            sub = df[df["switch"] == sw]
            for s, g in sub.groupby("setting", sort=False):
                pos = positions[(sw, s)]
                is_recipe = bool(recipe_settings and recipe_settings.get(sw) == s)
                ax.bar(pos, g[metric].mean(), width=0.7, color=colors[i % len(colors)], alpha=0.45,
                       hatch="//" if is_recipe else None, edgecolor="k", linewidth=0.5)
                ax.plot(np.full(len(g), pos), g[metric], "k.", ms=5)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(list(positions.values()))
    axes[-1].set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    axes[0].set_title("ConvEntion ablation on the embedded data: one switch flipped at a time "
                      "(hatched = recipe; dots = seeds; bars = mean)")
    fig.tight_layout()
    return fig


