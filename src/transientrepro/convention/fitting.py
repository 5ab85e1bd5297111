"""One training run of the protocol: loss, optimiser, the epoch loop with checkpoint selection.

* Loss (``train.loss``): ``cross_entropy`` (the paper, §4.1) or ``focal`` (the authors' code,
  ``code/trainer/focal_loss.py`` at HEAD 4d305dd: FL = (1 - exp(-CE))^gamma * CE with CE the
  *batch-mean* cross-entropy, gamma = 2; it modulates the whole batch, not each sample).
* Optimiser (``train.optimizer``): ``adam`` (the paper: Adam, lr 1e-3) or ``adamw`` (the code,
  ``trainer.py:127``: AdamW(weight_decay=0.1339, amsgrad=True)).
* Checkpoint selection: with a validation set, the epoch with the best ``selection_metric``
  (accuracy, balanced accuracy or loss; ties keep the earlier epoch) is kept in memory besides the
  last one. Which set that is (an inner split of the training folds, or the test fold as the
  authors did) is the caller's choice (``protocol.finetune_cv``). A ``monitor`` set (the test
  fold) is only evaluated for the curves; it never influences the selected epoch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from .sampler import weighted_sampler

log = logging.getLogger(__name__)

LOSSES = ("cross_entropy", "focal")
OPTIMIZERS = ("adam", "adamw")
SELECTION_METRICS = ("accuracy", "balanced_accuracy", "loss")


def _to(inputs, device):
    return [t.to(device, non_blocking=True) for t in inputs]


def focal_loss_released(logits: torch.Tensor, y: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """The authors' FocalLoss: (1 - exp(-CE))^gamma * CE on the batch-mean cross-entropy CE."""
    ce = F.cross_entropy(logits, y)
    return (1.0 - torch.exp(-ce)) ** gamma * ce


def loss_function(cfg):
    if cfg.loss == "cross_entropy":
        return F.cross_entropy
    if cfg.loss == "focal":
        return lambda logits, y: focal_loss_released(logits, y, cfg.focal_gamma)
    raise ValueError(f"train.loss: {cfg.loss!r} not in {list(LOSSES)}")


def make_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, amsgrad=True)
    raise ValueError(f"train.optimizer: {cfg.optimizer!r} not in {list(OPTIMIZERS)}")


@torch.no_grad()
def predict_proba(model: nn.Module, dataset, batch_size: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, C) and labels (N,) over ``dataset`` in order.

    Side-effect free for training: the global torch RNG (which a DataLoader iterator draws from)
    is restored, so evaluating a set between epochs does not change the weights trained afterwards.
    """
    model.eval()
    probs, ys = [], []
    with torch.random.fork_rng(devices=[]):
        for inputs, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            probs.append(torch.softmax(model(*_to(inputs, device)).float(), dim=1).cpu().numpy())
            ys.append(y.numpy())
    if not probs:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probs), np.concatenate(ys).astype(np.int64)


def evaluate(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean cross-entropy, accuracy and balanced accuracy (mean recall over the classes present)."""
    if len(y) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "balanced_accuracy": float("nan")}
    pred = p.argmax(1)
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return {"loss": float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1)))),
            "accuracy": float(np.mean(pred == y)), "balanced_accuracy": float(np.mean(recalls))}


def _better(score: float, best: float | None, metric: str) -> bool:
    if best is None:
        return True
    return score < best if metric == "loss" else score > best


@dataclass
class FitResult:
    """Per-epoch curves, and the selected (best validation) epoch and weights when a validation
    set was given (``best_epoch`` 1-based; ``best_state`` a CPU copy of the state_dict)."""

    curves: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float | None = None
    best_state: dict[str, torch.Tensor] | None = None


def train_model(model: nn.Module, train_ds, cfg, epochs: int, seed: int, val_ds=None, monitor_ds=None,
                desc: str = "train") -> FitResult:
    """Train ``model`` for ``epochs`` epochs (weighted sampler, ``cfg.loss``, ``cfg.optimizer``).

    After every epoch ``val_ds`` (if given) is evaluated and the best epoch by
    ``cfg.selection_metric`` is remembered; ``monitor_ds`` (if given, with ``cfg.eval_every_epoch``)
    is evaluated for the curves only (columns ``test_*``).
    """
    device = cfg.torch_device()
    model.to(device)
    opt = make_optimizer(model, cfg)
    loss_fn = loss_function(cfg)
    labels = np.asarray(train_ds.labels)
    if cfg.weighted_sampler:
        sampler = weighted_sampler(labels, seed=seed)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=len(train_ds) > cfg.batch_size)
    else:
        gen = torch.Generator()
        gen.manual_seed(seed)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                            drop_last=len(train_ds) > cfg.batch_size)
    res = FitResult()
    for epoch in tqdm(range(epochs), desc=desc, mininterval=10, disable=None):
        model.train()
        tot = correct = n = 0
        for inputs, y in loader:
            inputs, y = _to(inputs, device), y.to(device)
            if len(y) < 2:  # BatchNorm needs > 1 sample
                continue
            opt.zero_grad(set_to_none=True)
            logits = model(*inputs)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            tot += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": tot / max(n, 1), "train_accuracy": correct / max(n, 1),
                               "val_loss": np.nan, "val_accuracy": np.nan, "val_balanced_accuracy": np.nan,
                               "test_loss": np.nan, "test_accuracy": np.nan}
        if val_ds is not None and len(val_ds):
            ev = evaluate(*predict_proba(model, val_ds, cfg.batch_size, device))
            row.update(val_loss=ev["loss"], val_accuracy=ev["accuracy"], val_balanced_accuracy=ev["balanced_accuracy"])
            score = ev[cfg.selection_metric]
            if _better(score, res.best_score, cfg.selection_metric):
                res.best_epoch, res.best_score = epoch + 1, score
                res.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if monitor_ds is not None and len(monitor_ds) and (cfg.eval_every_epoch or epoch == epochs - 1):
            ev = evaluate(*predict_proba(model, monitor_ds, cfg.batch_size, device))
            row.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
        res.curves.append(row)
        log.debug("%s epoch %d: %s", desc, epoch + 1, row)
    return res

