"""Training protocol of ConvEntion §4.1, generic over the network (reused by the baselines).

API (stable; helper E codes against it)
---------------------------------------
``TrainConfig.from_mapping(mapping)``: lr (1e-3), batch_size (128), epochs_pretrain (100),
    epochs_finetune (100), n_folds (5), n_ensembles (3), seed, weighted_sampler (True),
    eval_every_epoch (True), device ("auto" | "cpu" | "cuda"), augment (dict for AugmentConfig:
    p_drop, rotate90, flip, shift).

``data``: a ``SequenceData`` (convention.data) or any object with the same duck type:
    ``labels`` (n,) int64 0..C-1, ``object_ids`` (n,) int64, ``class_names`` tuple,
    ``n_classes``, ``pretrain_rows`` / ``spec_rows`` (row indices), and
    ``dataset(rows, train: bool, seed: int, augment: AugmentConfig | None)`` returning a torch
    Dataset whose items are ``(inputs_tuple, y)``; the model is called as ``model(*inputs)`` and
    returns logits (B, C). For ``SequenceData`` the inputs are ``(x (M,S,S), band (M,), mask (M,))``.

``model_factory(n_classes: int) -> nn.Module``: a fresh, randomly initialised network (the
    protocol seeds torch before each call, so initialisation is reproducible).

``pretrain(model_factory, data, cfg, weights_path, curves_path=None) -> dict``
    Trains on ``data.pretrain_rows`` (photometrically typed, Table 5 "Train") for
    ``cfg.epochs_pretrain`` epochs; saves the state_dict (tensors only) to ``weights_path``.
    Returns {"n_train", "seconds", "final_loss", "n_params"}.

``finetune_cv(model_factory, data, cfg, out_dir, pretrained=None) -> dict``
    Stratified ``cfg.n_folds``-fold CV over ``data.spec_rows`` (FineTune + Test). In each fold,
    ``cfg.n_ensembles`` networks (seed = cfg.seed + 1000 * fold + member) are initialised from
    ``pretrained`` (a path to a state_dict or a dict; the last classifier layer, or any tensor
    whose shape differs, is left at its fresh initialisation) and fine-tuned on the other folds;
    their softmax probabilities on the held-out fold are averaged; metrics per fold come from
    ``transientrepro.metrics.classification_metrics`` and are summarised with ``summarise_folds``.
    Writes into ``out_dir``: ``fold{f}_ens{e}.pt`` (state_dicts), ``predictions.parquet``
    (object_id, fold, y_true, y_pred, p_<class>...), ``curves.csv`` (stage, fold, ensemble, epoch,
    train_loss, train_accuracy, val_loss, val_accuracy). Returns the metrics dict (see
    ``summarise``) without writing metrics.json.

``run_protocol(model_factory, data, cfg, out_dir, pretrained=None, do_pretrain=True, extra=None) -> dict``
    pretrain (to ``out_dir/pretrain.pt``, unless ``pretrained`` is given or do_pretrain is False)
    then ``finetune_cv``, and writes ``out_dir/metrics.json`` (the metrics plus ``extra``).

``load_pretrained(model, state) -> (loaded_keys, skipped_keys)``; ``predict_proba(model, dataset,
    batch_size, device)``; ``train_model(...)`` (one training run with the weighted sampler).

All files are written atomically (``transientrepro.io``); everything is deterministic given the
seeds (torch CPU kernels; no DataLoader workers).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..io import atomic_path, write_csv, write_json, write_parquet
from ..metrics import classification_metrics, summarise_folds
from .augment import AugmentConfig
from .sampler import weighted_sampler

log = logging.getLogger(__name__)

ModelFactory = Callable[[int], nn.Module]


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-3
    batch_size: int = 128
    epochs_pretrain: int = 100
    epochs_finetune: int = 100
    n_folds: int = 5
    n_ensembles: int = 3
    seed: int = 42
    weighted_sampler: bool = True
    eval_every_epoch: bool = True
    device: str = "auto"
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None, where: str = "convention.train") -> "TrainConfig":
        m = dict(m or {})
        names = set(cls.__dataclass_fields__)
        unknown = set(m) - names
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if "augment" in m and not isinstance(m["augment"], AugmentConfig):
            m["augment"] = AugmentConfig.from_mapping(m["augment"])
        if "lr" in m:
            m["lr"] = float(m["lr"])
        cfg = cls(**m)
        if cfg.n_folds < 2:
            raise ValueError(f"{where}.n_folds must be >= 2, got {cfg.n_folds}")
        if cfg.n_ensembles < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
            raise ValueError(f"{where}: n_ensembles, batch_size and lr must be positive")
        if cfg.epochs_pretrain < 0 or cfg.epochs_finetune < 0:
            raise ValueError(f"{where}: epochs must be >= 0")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = asdict(self.augment)
        return d

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def _to(inputs, device):
    return [t.to(device, non_blocking=True) for t in inputs]


def seed_everything(seed: int) -> None:
    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))


def load_pretrained(model: nn.Module, state: Mapping[str, torch.Tensor] | str | os.PathLike) -> tuple[list[str], list[str]]:
    """Copy every tensor of ``state`` whose name and shape match into ``model``.

    Tensors whose shape differs (the classifier head when the class count changes) or that the
    model lacks are skipped; the model keeps its fresh initialisation for those.
    """
    if not isinstance(state, Mapping):
        state = torch.load(state, map_location="cpu", weights_only=True)
    own = model.state_dict()
    loaded, skipped = [], []
    new = {}
    for k, v in state.items():
        if k in own and own[k].shape == v.shape:
            new[k] = v
            loaded.append(k)
        else:
            skipped.append(k)
    own.update(new)
    model.load_state_dict(own)
    return loaded, skipped


def save_state(model: nn.Module, path: str | os.PathLike) -> None:
    """torch.save of a CPU state_dict of tensors only (loadable with weights_only=True)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@torch.no_grad()
def predict_proba(model: nn.Module, dataset, batch_size: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, C) and labels (N,) over ``dataset`` in order."""
    model.eval()
    probs, ys = [], []
    for inputs, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        probs.append(torch.softmax(model(*_to(inputs, device)).float(), dim=1).cpu().numpy())
        ys.append(y.numpy())
    if not probs:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probs), np.concatenate(ys).astype(np.int64)


def train_model(model: nn.Module, train_ds, cfg: TrainConfig, epochs: int, seed: int, val_ds=None,
                desc: str = "train") -> list[dict[str, Any]]:
    """Adam + cross-entropy with the inverse-frequency weighted sampler; returns per-epoch curves."""
    device = cfg.torch_device()
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    labels = np.asarray(train_ds.labels)
    if cfg.weighted_sampler:
        sampler = weighted_sampler(labels, seed=seed)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=len(train_ds) > cfg.batch_size)
    else:
        gen = torch.Generator()
        gen.manual_seed(seed)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                            drop_last=len(train_ds) > cfg.batch_size)
    curves = []
    for epoch in tqdm(range(epochs), desc=desc, mininterval=10, disable=None):
        model.train()
        tot = correct = n = 0
        for inputs, y in loader:
            inputs, y = _to(inputs, device), y.to(device)
            if len(y) < 2:  # BatchNorm needs > 1 sample
                continue
            opt.zero_grad(set_to_none=True)
            logits = model(*inputs)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            tot += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        row = {"epoch": epoch + 1, "train_loss": tot / max(n, 1), "train_accuracy": correct / max(n, 1),
               "val_loss": np.nan, "val_accuracy": np.nan}
        if val_ds is not None and len(val_ds) and (cfg.eval_every_epoch or epoch == epochs - 1):
            p, yv = predict_proba(model, val_ds, cfg.batch_size, device)
            row["val_loss"] = float(-np.mean(np.log(np.clip(p[np.arange(len(yv)), yv], 1e-15, 1))))
            row["val_accuracy"] = float(np.mean(p.argmax(1) == yv))
        curves.append(row)
        log.debug("%s epoch %d: %s", desc, epoch + 1, row)
    return curves


def pretrain(model_factory: ModelFactory, data, cfg: TrainConfig, weights_path: str | os.PathLike,
             curves_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Pre-train on the photometrically typed set and save the state_dict."""
    rows = np.asarray(data.pretrain_rows)
    if len(rows) == 0:
        raise ValueError("pretrain: the pre-training (Train partition) set is empty")
    t0 = time.time()
    seed_everything(cfg.seed)
    model = model_factory(data.n_classes)
    ds = data.dataset(rows, train=True, seed=cfg.seed, augment=cfg.augment)
    curves = train_model(model, ds, cfg, cfg.epochs_pretrain, seed=cfg.seed, desc="pretrain")
    save_state(model, weights_path)
    if curves_path is not None:
        df = pd.DataFrame(curves)
        df.insert(0, "stage", "pretrain")
        write_parquet_or_csv(df, curves_path)
    info = {"n_train": int(len(rows)), "seconds": time.time() - t0,
            "final_loss": curves[-1]["train_loss"] if curves else None,
            "n_params": int(sum(p.numel() for p in model.parameters())),
            "class_counts": {data.class_names[c]: int((data.labels[rows] == c).sum()) for c in range(data.n_classes)}}
    log.info("pretrain: %d objects, %d epochs, %.1f s", len(rows), cfg.epochs_pretrain, info["seconds"])
    return info


def write_parquet_or_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    path = Path(path)
    if path.suffix == ".parquet":
        write_parquet(df, path)
    else:
        write_csv(df, path)


def make_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold id (0..n_folds-1) per row, stratified by class (classes rarer than n_folds spread as possible)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if len(labels) < n_folds:
        raise ValueError(f"convention.train.n_folds={n_folds} exceeds the {len(labels)} spectroscopic objects")
    fold = np.empty(len(labels), dtype=np.int64)
    if counts[counts > 0].min() >= n_folds:
        skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for f, (_, te) in enumerate(skf.split(np.zeros(len(labels)), labels)):
            fold[te] = f
    else:  # round-robin per class after shuffling (StratifiedKFold refuses such classes)
        rng = np.random.default_rng(seed)
        start = 0
        for c in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == c))
            fold[rows] = (np.arange(len(rows)) + start) % n_folds
            start += len(rows)
    return fold


def finetune_cv(model_factory: ModelFactory, data, cfg: TrainConfig, out_dir: str | os.PathLike,
                pretrained: Mapping[str, torch.Tensor] | str | os.PathLike | None = None) -> dict[str, Any]:
    """k-fold x ensemble fine-tuning on the spectroscopic set; writes weights, predictions, curves."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = cfg.torch_device()
    if pretrained is not None and not isinstance(pretrained, Mapping):
        pretrained = torch.load(pretrained, map_location="cpu", weights_only=True)
    spec = np.asarray(data.spec_rows)
    if len(spec) == 0:
        raise ValueError("finetune_cv: the spectroscopic (FineTune + Test) set is empty")
    y_spec = np.asarray(data.labels)[spec]
    folds = make_folds(y_spec, cfg.n_folds, cfg.seed)
    t0 = time.time()
    fold_metrics, pred_frames, curve_frames = [], [], []
    load_report: dict[str, Any] = {}
    for f in range(cfg.n_folds):
        tr, te = spec[folds != f], spec[folds == f]
        test_ds = data.dataset(te, train=False)
        probs = []
        for e in range(cfg.n_ensembles):
            seed = cfg.seed + 1000 * f + e
            seed_everything(seed)
            model = model_factory(data.n_classes)
            if pretrained is not None:
                loaded, skipped = load_pretrained(model, pretrained)
                load_report = {"n_loaded": len(loaded), "skipped": skipped}
            train_ds = data.dataset(tr, train=True, seed=seed, augment=cfg.augment)
            curves = train_model(model, train_ds, cfg, cfg.epochs_finetune, seed=seed, val_ds=test_ds,
                                 desc=f"fold {f} ens {e}")
            save_state(model, out_dir / f"fold{f}_ens{e}.pt")
            p, y_te = predict_proba(model, test_ds, cfg.batch_size, device)
            probs.append(p)
            cf = pd.DataFrame(curves)
            cf.insert(0, "ensemble", e)
            cf.insert(0, "fold", f)
            cf.insert(0, "stage", "finetune")
            curve_frames.append(cf)
        p_mean = np.mean(probs, axis=0)
        m = classification_metrics(y_te, p_mean, list(data.class_names))
        fold_metrics.append(m)
        log.info("fold %d: accuracy %.3f f1_macro %.3f (n=%d)", f, m["accuracy"], m["f1_macro"], len(te))
        pf = pd.DataFrame({"object_id": np.asarray(data.object_ids)[te].astype(np.int64), "fold": f,
                           "y_true": y_te, "y_pred": p_mean.argmax(1)})
        for c, name in enumerate(data.class_names):
            pf[f"p_{name}"] = p_mean[:, c]
        pred_frames.append(pf)
    write_parquet(pd.concat(pred_frames, ignore_index=True), out_dir / "predictions.parquet")
    write_parquet_or_csv(pd.concat(curve_frames, ignore_index=True), out_dir / "curves.csv")
    summary = summarise_folds(fold_metrics)
    return {
        "class_names": list(data.class_names),
        "n_folds": cfg.n_folds,
        "n_ensembles": cfg.n_ensembles,
        "n_spec": int(len(spec)),
        "summary": summary,
        "accuracy": summary.get("accuracy"),
        "accuracy_std": summary.get("accuracy_std"),
        "f1_macro": summary.get("f1_macro"),
        "f1_macro_std": summary.get("f1_macro_std"),
        "recall_per_class": _mean_dict([m["recall_per_class"] for m in fold_metrics], data.class_names),
        "recall_per_class_std": _mean_dict([m["recall_per_class"] for m in fold_metrics], data.class_names, np.nanstd),
        "confusion_matrix_normalised": summary.get("confusion_matrix_normalised"),
        "confusion_matrix_normalised_std": summary.get("confusion_matrix_normalised_std"),
        "confusion_matrix": summary.get("confusion_matrix"),
        "confusion_matrix_std": summary.get("confusion_matrix_std"),
        "folds": fold_metrics,
        "pretrained_load": load_report,
        "finetune_seconds": time.time() - t0,
        "train": cfg.to_dict(),
    }


def _mean_dict(ds: list[Mapping[str, float]], keys, fn=np.nanmean) -> dict[str, float]:
    """Per-key mean (or ``fn``) over folds; a class absent from a fold's test set is skipped there."""
    out = {}
    for k in keys:
        v = np.asarray([d.get(str(k), np.nan) for d in ds], dtype=np.float64)
        out[str(k)] = float(fn(v)) if np.isfinite(v).any() else float("nan")
    return out


def run_protocol(model_factory: ModelFactory, data, cfg: TrainConfig, out_dir: str | os.PathLike,
                 pretrained: Mapping[str, torch.Tensor] | str | os.PathLike | None = None,
                 do_pretrain: bool = True, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pre-train (unless ``pretrained`` given / disabled) then ``finetune_cv``; writes metrics.json."""
    out_dir = Path(out_dir)
    info: dict[str, Any] = {}
    if pretrained is None and do_pretrain:
        info = pretrain(model_factory, data, cfg, out_dir / "pretrain.pt", out_dir / "pretrain_curves.csv")
        pretrained = out_dir / "pretrain.pt"
    metrics = finetune_cv(model_factory, data, cfg, out_dir, pretrained)
    metrics["pretrain"] = info
    metrics.update(dict(extra or {}))
    write_json(metrics, out_dir / "metrics.json")
    return metrics
