"""Figures of both papers, drawn from the workflow's outputs (called by the papermill notebooks).

Every function takes already-loaded data (DataFrames, dicts, arrays), draws onto a new figure and
returns it; ``save(fig, out_dir, name)`` writes PNG (and closes the figure).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import auc, precision_recall_curve, roc_curve  # noqa: E402

PASSBAND_COLOURS = ["#6a3d9a", "#1f78b4", "#33a02c", "#ff7f00", "#e31a1c", "#7f0000"]
PASSBAND_NAMES = list("ugrizy")
NON_PROBA = {"object_id", "cid", "CID", "fold", "ensemble", "y_true", "y_pred", "split", "label", "target"}


def save(fig: plt.Figure, out_dir: str | Path, name: str, dpi: int = 120) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def probability_matrix(pred: pd.DataFrame, class_names: Sequence[str],
                       class_keys: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y_index, P) from a predictions table.

    Probability columns are named ``<key>`` or ``p_<key>`` and ``y_true`` holds keys, where the keys
    are ``class_keys`` (e.g. PLAsTiCC codes for t2) or, by default, the class names.
    """
    keys = [str(k) for k in (class_keys if class_keys is not None else class_names)]
    if len(keys) != len(class_names):
        raise ValueError(f"{len(keys)} class keys for {len(class_names)} class names")
    cols = []
    for k, n in zip(keys, class_names):
        for cand in (k, f"p_{k}", f"prob_{k}"):
            if cand in pred.columns:
                cols.append(cand)
                break
        else:
            raise KeyError(f"predictions have no probability column for class {n!r} (key {k!r}; columns: {list(pred.columns)})")
    P = pred[cols].to_numpy(dtype=float)
    lookup = {k: i for i, k in enumerate(keys)}
    y_raw = pred["y_true"].astype(str).to_numpy()
    unknown = sorted(set(y_raw) - set(lookup))
    if unknown:
        raise ValueError(f"predictions y_true has values {unknown[:5]} that are not class keys {keys}")
    return np.array([lookup[v] for v in y_raw]), P


def confusion(cm: Sequence[Sequence[float]], class_names: Sequence[str], title: str,
              cm_std: Sequence[Sequence[float]] | None = None) -> plt.Figure:
    """Row-normalised confusion matrix (with ± std over folds when given), as t2 Fig. 8 / ConvEntion Fig. 6."""
    cm = np.asarray(cm, dtype=float)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(0.55 * n + 3, 0.5 * n + 2.5))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            txt = f"{cm[i, j]:.2f}"
            if cm_std is not None:
                txt += f"\n±{np.asarray(cm_std)[i, j]:.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7 if n > 6 else 9,
                    color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=60, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def roc_pr(y: np.ndarray, P: np.ndarray, class_names: Sequence[str], title: str) -> plt.Figure:
    """Per-class and micro-averaged ROC (t2 Fig. 9) and precision-recall (t2 Fig. 10) curves."""
    n = len(class_names)
    onehot = np.eye(n)[y]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(class_names):
        if onehot[:, i].sum() == 0:
            continue
        fpr, tpr, _ = roc_curve(onehot[:, i], P[:, i])
        a1.plot(fpr, tpr, color=cmap(i % 20), lw=1, label=f"{name} ({auc(fpr, tpr):.2f})")
        prec, rec, _ = precision_recall_curve(onehot[:, i], P[:, i])
        a2.plot(rec, prec, color=cmap(i % 20), lw=1, label=f"{name} ({auc(rec, prec):.2f})")
    fpr, tpr, _ = roc_curve(onehot.ravel(), P.ravel())
    a1.plot(fpr, tpr, "k--", lw=2, label=f"micro ({auc(fpr, tpr):.2f})")
    prec, rec, _ = precision_recall_curve(onehot.ravel(), P.ravel())
    a2.plot(rec, prec, "k--", lw=2, label=f"micro ({auc(rec, prec):.2f})")
    a1.plot([0, 1], [0, 1], ":", color="grey")
    a1.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC")
    a2.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    a1.legend(fontsize=7, loc="lower right")
    a2.legend(fontsize=7, loc="lower left")
    return fig


def history(hist: pd.DataFrame, title: str) -> plt.Figure:
    """Training curves: every numeric column against epoch (loss-like on the left, lr on the right)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = hist["epoch"] if "epoch" in hist.columns else np.arange(len(hist))
    for col in hist.columns:
        if col in {"epoch", "learning_rate", "lr", "fold", "ensemble"} or not np.issubdtype(hist[col].dtype, np.number):
            continue
        ax.plot(x, hist[col], label=col)
    ax.set(xlabel="epoch", title=title)
    ax.legend(fontsize=8)
    for lr_col in ("learning_rate", "lr"):
        if lr_col in hist.columns:
            ax2 = ax.twinx()
            ax2.plot(x, hist[lr_col], "k:", lw=1)
            ax2.set_ylabel("learning rate (dotted)")
            break
    return fig


def class_counts(df: pd.DataFrame, name_col: str, n_col: str, paper_col: str | None, title: str) -> plt.Figure:
    """Class counts (log scale) with the paper's fractions beside them."""
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(df))
    frac = df[n_col] / df[n_col].sum()
    ax.bar(x - 0.2, frac, width=0.4, label="this run")
    if paper_col and paper_col in df.columns and df[paper_col].notna().any():
        pf = df[paper_col] / df[paper_col].sum()
        ax.bar(x + 0.2, pf, width=0.4, label="paper")
    ax.set_yscale("log")
    ax.set_xticks(x, df[name_col].astype(str), rotation=60, ha="right")
    ax.set(ylabel="fraction of objects", title=title)
    ax.legend()
    return fig


def gp_examples(lc: pd.DataFrame, gp: Mapping[str, np.ndarray], object_ids: Sequence[int],
                names: Mapping[int, str] | None = None) -> plt.Figure:
    """Raw photometry (points) and the GP mean on the regular grid (lines), t2 Fig. 7 (first panel)."""
    k = len(object_ids)
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.6 * k), squeeze=False)
    index = {int(o): i for i, o in enumerate(gp["object_id"])}
    for ax, oid in zip(axes[:, 0], object_ids):
        obj = lc[lc["object_id"] == oid]
        i = index[int(oid)]
        X = gp["X"][i]
        t = gp["t_grid"][i]  # days since t0_mjd (see transientrepro.gp)
        scale = float(gp["flux_scale"][i])  # X = GP mean / flux_scale
        t0 = float(gp["t0_mjd"][i])
        for b in range(X.shape[1]):
            sel = obj["passband"] == b
            ax.errorbar(obj.loc[sel, "mjd"] - t0, obj.loc[sel, "flux"] / scale, obj.loc[sel, "flux_err"] / scale,
                        fmt="o", ms=2, color=PASSBAND_COLOURS[b], alpha=0.5)
            ax.plot(t, X[:, b], color=PASSBAND_COLOURS[b], label=PASSBAND_NAMES[b])
        label = names.get(int(gp["target"][i]), "") if names else ""
        ax.set_title(f"object {oid} {label}", fontsize=9)
        ax.set_ylabel("flux (normalised)")
    axes[0, 0].legend(ncol=6, fontsize=7)
    axes[-1, 0].set_xlabel("days since start of grid")
    return fig


def cam_examples(X: np.ndarray, cams: np.ndarray, n_extra: int, titles: Sequence[str]) -> plt.Figure:
    """t2 Fig. 11: GP light curve with the CAM over time, and bars for the extra (redshift) features."""
    k = len(X)
    fig, axes = plt.subplots(k, 2, figsize=(10, 2.6 * k), squeeze=False, gridspec_kw={"width_ratios": [5, 1], "wspace": 0.45})
    for i in range(k):
        ax, axb = axes[i]
        L = X[i].shape[0]
        for b in range(X[i].shape[1]):
            ax.plot(np.arange(L), X[i][:, b], color=PASSBAND_COLOURS[b % 6], lw=1)
        ax2 = ax.twinx()
        ax2.fill_between(np.arange(L), cams[i][:L], color="grey", alpha=0.3, step="mid")
        ax2.set_ylabel("CAM weight")
        ax.set_title(titles[i], fontsize=9)
        if n_extra:
            axb.bar(["z", "z_err"][:n_extra], cams[i][L:L + n_extra], color="grey")
            axb.set_ylim(0, max(0.05, float(cams[i].max())))
        else:
            axb.axis("off")
    axes[-1, 0].set_xlabel("sequence position l")
    return fig


def redshift_share(share: np.ndarray, paper_mean: float | None) -> plt.Figure:
    """t2 Fig. 12: distribution of the CAM share on redshift and its error, over test objects."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(100 * np.asarray(share), bins=40, color="C0", alpha=0.8)
    ax.axvline(100 * float(np.mean(share)), color="k", label=f"mean {100 * float(np.mean(share)):.2f}%")
    if paper_mean is not None:
        ax.axvline(100 * paper_mean, color="r", ls="--", label=f"paper mean {100 * paper_mean:.2f}%")
    ax.set(xlabel="activation weight on (z, z_err) [%]", ylabel="objects")
    ax.legend()
    return fig


def stamp_sequence(images: np.ndarray, bands: np.ndarray, mjd: np.ndarray, title: str, max_images: int = 20) -> plt.Figure:
    """A band-separated image time series (ConvEntion Fig. 1/4): ``max_images`` consecutive images
    centred on the brightest one (central 4x4 pixels), all on one grey stretch so variability shows."""
    s = images.shape[-1] // 2
    centre = images[:, s - 2:s + 2, s - 2:s + 2].mean(axis=(1, 2))
    start = int(np.clip(np.argmax(centre) - max_images // 2, 0, max(0, len(images) - max_images)))
    images, bands, mjd = images[start:start + max_images], bands[start:start + max_images], mjd[start:start + max_images]
    vmin, vmax = np.percentile(images, [1, 99.7])
    n = min(max_images, len(images))
    cols = min(10, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k in range(n):
        ax = axes.ravel()[k]
        ax.imshow(images[k], cmap="gray", origin="lower", vmin=vmin, vmax=vmax)
        ax.set_title(f"{'?ugriz'[int(bands[k])]} {mjd[k]:.0f}", fontsize=6)
    fig.suptitle(title, fontsize=9)
    return fig


def score_bars(comp: pd.DataFrame, metric: str, title: str) -> plt.Figure:
    """Published vs reproduced score per model (ConvEntion Tables 3-4)."""
    sub = comp[comp["metric"] == metric]
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(sub)), 4))
    x = np.arange(len(sub))
    ax.bar(x - 0.2, sub["published"].astype(float), width=0.4, label="published")
    err = sub["reproduced_std"].astype(float) if "reproduced_std" in sub else None
    ax.bar(x + 0.2, sub["reproduced"].astype(float), width=0.4, yerr=err, label="reproduced", capsize=3)
    ax.set_xticks(x, sub["model"], rotation=45, ha="right")
    ax.set(ylabel=f"{metric} [%]", title=title, ylim=(0, 100))
    ax.legend()
    return fig
