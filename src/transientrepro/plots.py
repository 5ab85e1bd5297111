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
import matplotlib.ticker  # noqa: E402
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
    fig, ax = plt.subplots(figsize=(0.62 * n + 3.2, 0.55 * n + 2.6), layout="constrained")
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
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    return fig


def roc_pr(y: np.ndarray, P: np.ndarray, class_names: Sequence[str], title: str,
           published: Mapping[str, float] | None = None) -> plt.Figure:
    """Per-class and micro-averaged ROC (t2 Fig. 9) and precision-recall (t2 Fig. 10) curves.

    ``published`` (``roc_auc_micro``, ``roc_auc_macro``, ``pr_auc_micro``) puts the paper's areas
    beside this run's in the panel titles. The per-class legends sit below the panels.
    """
    n = len(class_names)
    onehot = np.eye(n)[y]
    pub = dict(published or {})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 6.5), layout="constrained")
    cmap = plt.get_cmap("tab20")
    roc_aucs = []
    for i, name in enumerate(class_names):
        if onehot[:, i].sum() == 0:
            continue
        fpr, tpr, _ = roc_curve(onehot[:, i], P[:, i])
        roc_aucs.append(auc(fpr, tpr))
        a1.plot(fpr, tpr, color=cmap(i % 20), lw=1, label=f"{name} ({roc_aucs[-1]:.2f})")
        prec, rec, _ = precision_recall_curve(onehot[:, i], P[:, i])
        a2.plot(rec, prec, color=cmap(i % 20), lw=1, label=f"{name} ({auc(rec, prec):.2f})")
    fpr, tpr, _ = roc_curve(onehot.ravel(), P.ravel())
    roc_micro = auc(fpr, tpr)
    a1.plot(fpr, tpr, "k--", lw=2, label=f"micro average ({roc_micro:.2f})")
    prec, rec, _ = precision_recall_curve(onehot.ravel(), P.ravel())
    pr_micro = auc(rec, prec)
    a2.plot(rec, prec, "k--", lw=2, label=f"micro average ({pr_micro:.2f})")
    a1.plot([0, 1], [0, 1], ":", color="grey", label="chance")

    def paper(key: str) -> str:
        return f" (paper {pub[key]:.2f})" if pub.get(key) is not None else ""

    a1.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    a1.set_title(f"{title}: ROC, AUC micro {roc_micro:.2f}{paper('roc_auc_micro')}, "
                 f"macro {np.mean(roc_aucs):.2f}{paper('roc_auc_macro')}", fontsize=10)
    a2.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    a2.set_title(f"{title}: precision-recall, AUC micro {pr_micro:.2f}{paper('pr_auc_micro')}", fontsize=10)
    for ax in (a1, a2):
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, title="class (area under curve)",
                  title_fontsize=7, frameon=False)
    return fig


def _curve_columns(df: pd.DataFrame, kind: str) -> list[str]:
    skip = {"epoch", "learning_rate", "lr", "fold", "ensemble"}
    return [c for c in df.columns if c not in skip and kind in c.lower() and np.issubdtype(df[c].dtype, np.number)
            and df[c].notna().any()]


def _label(col: str) -> str:
    """``val_loss`` -> "validation loss", ``train_accuracy``/``accuracy`` -> "training accuracy"."""
    if not col.startswith(("val_", "train_")):
        col = "train_" + col
    return col.replace("val_", "validation ", 1).replace("train_", "training ", 1).replace("_", " ")


def history(hist: pd.DataFrame, title: str, pretrain: pd.DataFrame | None = None,
            val_name: str = "validation") -> plt.Figure:
    """Training curves: loss-like columns (left panel) and accuracy-like columns (right panel, %).

    ``hist`` has one row per epoch or, with ``fold``/``ensemble`` columns, one per run and epoch:
    then the mean over runs is drawn with a ± 1 std band. ``pretrain`` (its own epochs) is drawn
    first and the fine-tuning epochs follow it, after a dotted line. Columns named ``val_*`` are
    labelled ``val_name`` (e.g. "held-out fold"). A learning-rate column goes on a right axis.
    """
    def agg(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        df = df.copy()
        if "epoch" not in df.columns:
            df["epoch"] = np.arange(1, len(df) + 1)
        num = df.select_dtypes("number")
        if len(num) == num["epoch"].nunique():
            return num.reset_index(drop=True), None
        g = num.groupby("epoch")
        return g.mean().reset_index(), g.std(ddof=0).reset_index()

    offset = 0
    parts = []
    if pretrain is not None and len(pretrain):
        m, sd = agg(pretrain)
        parts.append(("pre-training: ", m, sd, 0))
        offset = int(m["epoch"].max())
    m, sd = agg(hist)
    parts.append(("fine-tuning: " if parts else "", m, sd, offset))
    panels = [(kind, ylabel, scale) for kind, ylabel, scale in
              (("loss", "loss (cross-entropy)", 1.0), ("acc", "accuracy [%]", 100.0))
              if any(_curve_columns(p[1], kind) for p in parts)]
    if not panels:
        raise ValueError(f"history for {title!r} has no loss or accuracy column: {list(hist.columns)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), layout="constrained", squeeze=False)
    axes = axes[0]
    for ax, (kind, ylabel, scale) in zip(axes, panels):
        for k, (prefix, mean, std, off) in enumerate(parts):
            for j, col in enumerate(_curve_columns(mean, kind)):
                x = mean["epoch"] + off
                ls = "--" if col.startswith("val") else "-"
                name = _label(col).replace("validation", val_name)
                colour = f"C{2 * k + (1 if col.startswith('val') else 0) + (2 * j if j > 1 else 0)}"
                ax.plot(x, scale * mean[col], ls, color=colour, marker="o", ms=3, label=prefix + name)
                if std is not None and col in std:
                    ax.fill_between(x, scale * (mean[col] - std[col]), scale * (mean[col] + std[col]), color=colour,
                                    alpha=0.15, lw=0)
        if offset:
            ax.axvline(offset + 0.5, color="grey", ls=":", lw=1)
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    lr_col = next((c for c in ("learning_rate", "lr") if c in m.columns), None)
    if lr_col:
        ax2 = axes[0].twinx()
        ax2.plot(m["epoch"] + offset, m[lr_col], "k:", lw=1)
        ax2.set_ylabel("learning rate (dotted)")
    handles = [h for ax in axes for h in ax.lines if not h.get_label().startswith("_")]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def class_counts(df: pd.DataFrame, name_col: str, n_col: str, paper_col: str | None, title: str,
                 paper_label: str = "paper") -> plt.Figure:
    """Share of objects per class (log scale), this run beside the paper's (``paper_label``)."""
    df = df[df[name_col].astype(str).str.lower() != "total"]
    fig, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    x = np.arange(len(df))
    frac = 100 * df[n_col] / df[n_col].sum()
    ax.bar(x - 0.2, frac, width=0.4, label=f"this run ({int(df[n_col].sum()):,} objects)")
    if paper_col and paper_col in df.columns and df[paper_col].notna().any():
        pf = 100 * df[paper_col] / df[paper_col].sum()
        ax.bar(x + 0.2, pf, width=0.4, label=f"{paper_label} ({int(df[paper_col].sum()):,} objects)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xticks(x, df[name_col].astype(str), rotation=60, ha="right")
    ax.set(ylabel="share of objects [%] (log scale)", xlabel="class")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def gp_examples(lc: pd.DataFrame, gp: Mapping[str, np.ndarray], object_ids: Sequence[int],
                names: Mapping[int, str] | None = None) -> plt.Figure:
    """Raw photometry (points) and the GP mean on the regular grid (lines), t2 Fig. 7 (first panel)."""
    k = len(object_ids)
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.4 * k + 0.8), squeeze=False, layout="constrained")
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
        code = int(gp["target"][i])
        label = names.get(code, str(code)) if names else str(code)
        ax.set_title(f"{label} (object {oid}, grid start MJD {t0:.1f})", fontsize=9, loc="left")
        ax.set_ylabel("flux / max|GP mean|")
        ax.set_xlabel("days since grid start", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=6, fontsize=8,
               title="passband: GP mean (line), measured flux ± error (points)", title_fontsize=8)
    return fig


def cam_examples(X: np.ndarray, cams: np.ndarray, n_extra: int, titles: Sequence[str],
                 paper_share: float | None = None) -> plt.Figure:
    """t2 Fig. 11: GP light curve with the CAM over time, and bars for the extra (redshift) features.

    ``cams`` are normalised to sum to 1 per object (t2 §5.3) and drawn in percent. ``paper_share``:
    the published mean share of all extra features together (t2 §5.3); the bars get a dashed line at
    its per-feature mean.
    """
    k = len(X)
    fig, axes = plt.subplots(k, 2, figsize=(11, 2.5 * k + 0.8), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [5, 1]})
    top = 100 * float(np.max(cams)) if len(cams) else 1.0
    for i in range(k):
        ax, axb = axes[i]
        L = X[i].shape[0]
        for b in range(X[i].shape[1]):
            ax.plot(np.arange(L), X[i][:, b], color=PASSBAND_COLOURS[b % 6], lw=1, label=PASSBAND_NAMES[b % 6])
        ax.set_ylabel("flux / max|GP mean|", fontsize=8)
        ax2 = ax.twinx()
        ax2.fill_between(np.arange(L), 100 * cams[i][:L], color="grey", alpha=0.3, step="mid", label="CAM")
        ax.set_zorder(ax2.get_zorder() + 1)  # light curves above the CAM shading
        ax.patch.set_visible(False)
        ax2.set_ylim(0, 1.05 * top)
        ax2.set_ylabel("CAM share [%]", fontsize=8)
        ax.set_title(titles[i], fontsize=9, loc="left")
        if n_extra:
            axb.bar(["z", "z_err"][:n_extra], 100 * cams[i][L:L + n_extra], color="grey")
            if paper_share is not None:
                axb.axhline(100 * paper_share / n_extra, color="r", ls="--", lw=1,
                            label=f"t2 §5.3 mean per feature ({100 * paper_share / n_extra:.2f}%)")
            axb.set_ylim(0, 1.05 * max(top, 100 * (paper_share or 0) / max(n_extra, 1)))
            axb.set_ylabel("CAM share [%]", fontsize=8)
            axb.set_title("extra features", fontsize=8)
        else:
            axb.axis("off")
    axes[-1, 0].set_xlabel("sequence position l (GP time sample)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    extra_h, extra_l = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles + [plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.3)] + extra_h,
               labels + ["class activation (right axis)"] + extra_l, loc="outside upper center", ncol=8, fontsize=8)
    return fig


def redshift_share(share: np.ndarray, paper_mean: float | None, title: str = "CAM share on redshift") -> plt.Figure:
    """t2 Fig. 12: distribution of the CAM share on redshift and its error, over test objects."""
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    ax.hist(100 * np.asarray(share), bins=40, color="C0", alpha=0.8)
    ax.axvline(100 * float(np.mean(share)), color="k", label=f"this run: mean {100 * float(np.mean(share)):.2f}%")
    if paper_mean is not None:
        ax.axvline(100 * paper_mean, color="r", ls="--", label=f"t2 §5.3: mean {100 * paper_mean:.2f}%")
    ax.set(xlabel="activation share on (z, z_err) [%]", ylabel="test objects")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
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
        ax.set_title(f"{'?ugriz'[int(bands[k])]} {mjd[k]:.0f}", fontsize=7)
    fig.suptitle(f"{title} (each stamp: band, MJD)", fontsize=9)
    return fig


def score_bars(comp: pd.DataFrame, metric: str, title: str) -> plt.Figure:
    """Published vs reproduced score per model (ConvEntion Tables 3-4)."""
    sub = comp[comp["metric"] == metric]
    fig, ax = plt.subplots(figsize=(max(6.5, 0.8 * len(sub) + 2), 4.5), layout="constrained")
    x = np.arange(len(sub))
    ax.bar(x - 0.2, sub["published"].astype(float), width=0.4, label="published")
    err = sub["reproduced_std"].astype(float) if "reproduced_std" in sub else None
    ax.bar(x + 0.2, sub["reproduced"].astype(float), width=0.4, yerr=err, label="reproduced (± std over folds)", capsize=3)
    unpublished = sub["published"].isna().to_numpy()  # e.g. t2 on SDSS-II: a comparison no paper made
    ax.set_xticks(x, [f"{m} *" if u else m for m, u in zip(sub["model"], unpublished)], rotation=45, ha="right")
    name = {"f1": "macro F1", "accuracy": "accuracy"}.get(metric, metric)
    ax.set(ylabel=f"{name} [%]", ylim=(0, 100))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig
