"""The figure of the t2 ablation (``results/plasticc/ablation/t2_ablation.csv`` and its summary,
written by :mod:`.ablation`); TensorFlow-free, for the notebook env."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LEARNING_CURVE = "learning_curve"


def plot(df: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """Left: per switch, the paired change of the flat-weighted log-loss (eq. 13) when the switch is
    flipped from the authors' recipe to its other reading (dots = seeds, bar = mean; right of 0 =
    worse). Right: learning curve of t2 and of the reference classifier on the same test objects."""
    summary = summary.copy()
    summary["is_recipe"] = summary["is_recipe"].astype(str).str.lower().isin(["true", "1"])
    for col in ("n_train", "log_loss_mean", "log_loss_std", "delta_log_loss_mean", "balanced_accuracy_mean", "accuracy_mean"):
        if col in summary:
            summary[col] = pd.to_numeric(summary[col], errors="coerce")
    flips = summary[(summary["switch"] != LEARNING_CURVE) & (~summary["is_recipe"])].copy()
    flips = flips.sort_values("delta_log_loss_mean")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.45 * len(flips) + 1.5)),
                                  gridspec_kw={"width_ratios": [1.5, 1]})
    labels = []
    recipe = summary[summary["is_recipe"] & (summary["switch"] != LEARNING_CURVE)].set_index("switch")["setting"]
    for i, row in enumerate(flips.itertuples()):
        d = df[(df["switch"] == row.switch)]
        base = d[d["setting"] == recipe.get(row.switch)].set_index("seed")["log_loss"]
        flip = d[d["setting"] == row.setting].set_index("seed")["log_loss"]
        delta = (flip - base).dropna()
        ax.scatter(delta.to_numpy(), np.full(len(delta), i), s=18, color="0.35", zorder=3)
        ax.barh(i, row.delta_log_loss_mean, color="tab:red" if row.delta_log_loss_mean > 0 else "tab:green", alpha=0.5)
        note = " (optimistic)" if row.setting == "test_set_optimistic" else ""
        labels.append(f"{row.switch}: {recipe.get(row.switch)} \u2192 {row.setting}{note}")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("\u0394 flat-weighted log-loss vs the authors' recipe (same seed; > 0 = worse)")
    n0 = int(df[df["switch"] != LEARNING_CURVE]["n_train"].median()) if len(df) else 0
    ax.set_title(f"One switch flipped at a time (t2 with z, ~{n0} training objects)", fontsize=10)
    lc = summary[summary["switch"] == LEARNING_CURVE]
    for setting, colour, name in (("t2", "tab:blue", "t2 (recipe)"), ("reference", "tab:orange", "reference classifier (random forest)")):
        g = lc[lc["setting"] == setting].sort_values("n_train")
        if len(g):
            ax2.errorbar(g["n_train"], g["log_loss_mean"], yerr=g["log_loss_std"].fillna(0), marker="o", color=colour,
                         label=name, capsize=3)
    ax2.set_xscale("log")
    sizes = sorted(lc["n_train"].dropna().astype(int).unique())
    ax2.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax2.minorticks_off()
    ax2.axhline(0.5 * np.log(14), color="0.5", ls=":", lw=1, label="0.5 ln 14 (1.32)")
    ax2.set_xlabel("training objects")
    ax2.set_ylabel("flat-weighted log-loss on the same test objects")
    ax2.set_title("Learning curve (mean \u00b1 std over seeds)", fontsize=10)
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
