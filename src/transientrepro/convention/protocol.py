"""Training protocol of ConvEntion §4.1, generic over the network (reused by the baselines).

API (stable; the baselines code against it)
-------------------------------------------
``TrainConfig.from_mapping(mapping)``: lr (1e-3), batch_size (128), epochs_pretrain (100),
    epochs_finetune (100), n_folds (5), n_ensembles (3), seed, weighted_sampler (True),
    eval_every_epoch (True), device ("auto" | "cpu" | "cuda"), loss ("cross_entropy" | "focal"),
    focal_gamma (2), optimizer ("adam" | "adamw"), weight_decay (AdamW only), selection
    ("best_val" | "last" | "test_fold"), selection_metric ("accuracy" | "balanced_accuracy" |
    "loss"), inner_val_fraction (0.2), augment (dict for AugmentConfig).

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
    whose shape differs, is left at its fresh initialisation) and fine-tuned on the other folds.
    Model selection (``cfg.selection``):

    * ``best_val`` (default): a stratified ``inner_val_fraction`` of the training folds
      (``inner_split``; it depends on the training folds' labels only) is held out; each member keeps
      the epoch with the best ``selection_metric`` on it. The test fold is never used to choose.
    * ``last``: every training-fold object is trained on; the last epoch is kept.
    * ``test_fold`` -- the authors' choice, OPTIMISTIC, never a default: the epoch with the best
      accuracy on the test fold itself (``training.py:85-90`` at HEAD; a6d0e5c
      ``finetuning.py:329-339``).

    Both the last epoch and the selected epoch are evaluated on the test fold, for every member and
    for the ensemble (the members' softmax probabilities averaged). Per fold the metrics come
    from ``transientrepro.metrics.classification_metrics`` and are summarised with
    ``summarise_folds``. Writes into ``out_dir``: ``fold{f}_ens{e}.pt`` (state_dicts of the kept
    epoch), ``predictions.parquet`` (object_id, fold, y_true, y_pred, p_<class>... of the ensemble at
    the kept epoch), ``curves.csv`` (stage, fold, ensemble, epoch, train_loss, train_accuracy,
    val_loss, val_accuracy, val_balanced_accuracy (the selection set), test_loss, test_accuracy (the
    test fold, monitoring only)). Returns the metrics dict (see ``finetune_cv``) without writing
    metrics.json.

``run_protocol(model_factory, data, cfg, out_dir, pretrained=None, do_pretrain=True, extra=None) -> dict``
    pretrain (to ``out_dir/pretrain.pt``, unless ``pretrained`` is given or do_pretrain is False)
    then ``finetune_cv``, and writes ``out_dir/metrics.json`` (the metrics plus ``extra``).

``load_pretrained(model, state) -> (loaded_keys, skipped_keys)``; ``predict_proba(model, dataset,
    batch_size, device)``; ``train_model(...)`` (one training run, ``fitting``).

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

from ..folds import HEADLINE, inner_split, make_folds, summarise_cv  # noqa: F401 (torch-free; re-exported)
from ..io import atomic_path, write_csv, write_json, write_parquet
from ..metrics import classification_metrics
from .augment import AugmentConfig
from .fitting import LOSSES, OPTIMIZERS, SELECTION_METRICS, FitResult, predict_proba, train_model

log = logging.getLogger(__name__)

ModelFactory = Callable[[int], nn.Module]
SELECTIONS = ("best_val", "last", "test_fold")


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
    loss: str = "cross_entropy"
    focal_gamma: float = 2.0
    optimizer: str = "adam"
    weight_decay: float = 0.1339
    selection: str = "best_val"
    selection_metric: str = "accuracy"
    inner_val_fraction: float = 0.2
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None, where: str = "convention.train") -> "TrainConfig":
        m = dict(m or {})
        names = set(cls.__dataclass_fields__)
        unknown = set(m) - names
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if "augment" in m and not isinstance(m["augment"], AugmentConfig):
            m["augment"] = AugmentConfig.from_mapping(m["augment"], where.rsplit(".", 1)[0] + ".augment")
        for k in ("lr", "focal_gamma", "weight_decay", "inner_val_fraction"):
            if k in m:
                m[k] = float(m[k])
        cfg = cls(**m)
        if cfg.n_folds < 2:
            raise ValueError(f"{where}.n_folds must be >= 2, got {cfg.n_folds}")
        if cfg.n_ensembles < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
            raise ValueError(f"{where}: n_ensembles, batch_size and lr must be positive")
        if cfg.epochs_pretrain < 0 or cfg.epochs_finetune < 0:
            raise ValueError(f"{where}: epochs must be >= 0")
        for key, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("selection", SELECTIONS),
                             ("selection_metric", SELECTION_METRICS)):
            if getattr(cfg, key) not in allowed:
                raise ValueError(f"{where}.{key}: {getattr(cfg, key)!r} not in {list(allowed)}")
        if not 0.0 < cfg.inner_val_fraction < 1.0:
            raise ValueError(f"{where}.inner_val_fraction must be in (0, 1), got {cfg.inner_val_fraction}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = asdict(self.augment)
        return d

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


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


def save_state(model_or_state: nn.Module | Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """torch.save of a CPU state_dict of tensors only (loadable with weights_only=True)."""
    sd = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    state = {k: v.detach().cpu().clone() for k, v in sd.items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def pretrain(model_factory: ModelFactory, data, cfg: TrainConfig, weights_path: str | os.PathLike,
             curves_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Pre-train on the photometrically typed set (last epoch kept) and save the state_dict."""
    rows = np.asarray(data.pretrain_rows)
    if len(rows) == 0:
        raise ValueError("pretrain: the pre-training (Train partition) set is empty")
    t0 = time.time()
    seed_everything(cfg.seed)
    model = model_factory(data.n_classes)
    ds = data.dataset(rows, train=True, seed=cfg.seed, augment=cfg.augment)
    curves = train_model(model, ds, cfg, cfg.epochs_pretrain, seed=cfg.seed, desc="pretrain").curves
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


def _member_seed(cfg: TrainConfig, fold: int, member: int) -> int:
    return cfg.seed + 1000 * fold + member


def fit_fold(model_factory: ModelFactory, data, tr: np.ndarray, te: np.ndarray, cfg: TrainConfig, fold: int,
             pretrained: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Fine-tune the ``cfg.n_ensembles`` members of one fold on ``tr`` and predict ``te``.

    Returns {"proba": {"last": [(n_te, C) per member], "selected": [...]}, "y_test", "states"
    (kept state_dicts), "selected_epochs", "curves" (DataFrames), "n_fit", "n_val", "load_report"}.
    With ``selection="best_val"`` nothing here reads the labels of ``te`` except to report metrics
    and the monitoring curves: the selected epochs and weights do not depend on them (tested).
    """
    device = cfg.torch_device()
    labels = np.asarray(data.labels)
    if cfg.selection == "best_val":
        fit_rows, val_rows = inner_split(tr, labels[tr], cfg.inner_val_fraction, cfg.seed + 1000 * fold)
    else:
        fit_rows, val_rows = np.asarray(tr), (np.asarray(te) if cfg.selection == "test_fold" else None)
    test_ds = data.dataset(te, train=False)
    val_ds = None if val_rows is None else (test_ds if cfg.selection == "test_fold" else data.dataset(val_rows, train=False))
    out: dict[str, Any] = {"proba": {"last": [], "selected": []}, "states": [], "selected_epochs": [], "curves": [],
                           "n_fit": int(len(fit_rows)), "n_val": 0 if val_rows is None else int(len(val_rows)),
                           "load_report": {}}
    y_te = None
    for e in range(cfg.n_ensembles):
        seed = _member_seed(cfg, fold, e)
        seed_everything(seed)
        model = model_factory(data.n_classes)
        if pretrained is not None:
            loaded, skipped = load_pretrained(model, pretrained)
            out["load_report"] = {"n_loaded": len(loaded), "skipped": skipped}
        train_ds = data.dataset(fit_rows, train=True, seed=seed, augment=cfg.augment)
        monitor = test_ds if (cfg.eval_every_epoch and cfg.selection != "test_fold") else None
        res: FitResult = train_model(model, train_ds, cfg, cfg.epochs_finetune, seed=seed, val_ds=val_ds,
                                     monitor_ds=monitor, desc=f"fold {fold} ens {e}")
        p_last, y_te = predict_proba(model, test_ds, cfg.batch_size, device)
        if res.best_state is not None and res.best_epoch != cfg.epochs_finetune:
            model.load_state_dict(res.best_state)
            p_sel, _ = predict_proba(model, test_ds, cfg.batch_size, device)
        else:
            p_sel = p_last
        out["proba"]["last"].append(p_last)
        out["proba"]["selected"].append(p_sel)
        out["states"].append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        out["selected_epochs"].append(int(res.best_epoch) if res.best_epoch is not None else int(cfg.epochs_finetune))
        cf = pd.DataFrame(res.curves)
        cf.insert(0, "ensemble", e)
        cf.insert(0, "fold", fold)
        cf.insert(0, "stage", "finetune")
        out["curves"].append(cf)
    out["y_test"] = y_te
    return out


def finetune_cv(model_factory: ModelFactory, data, cfg: TrainConfig, out_dir: str | os.PathLike,
                pretrained: Mapping[str, torch.Tensor] | str | os.PathLike | None = None) -> dict[str, Any]:
    """k-fold x ensemble fine-tuning on the spectroscopic set; writes weights, predictions, curves.

    The headline metrics (``accuracy``, ``f1_macro``, ``balanced_accuracy``, ``summary``,
    ``confusion_matrix*``, ``folds``) are the ensemble's at the kept epoch (``cfg.selection``).
    ``by_epoch`` holds, for the last epoch and the selected one (``best_val`` or, optimistic,
    ``best_test_fold``), the ensemble's and the members' means and stds.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if pretrained is not None and not isinstance(pretrained, Mapping):
        pretrained = torch.load(pretrained, map_location="cpu", weights_only=True)
    spec = np.asarray(data.spec_rows)
    if len(spec) == 0:
        raise ValueError("finetune_cv: the spectroscopic (FineTune + Test) set is empty")
    y_spec = np.asarray(data.labels)[spec]
    folds = make_folds(y_spec, cfg.n_folds, cfg.seed)
    names = list(data.class_names)
    t0 = time.time()
    ens: dict[str, list] = {"last": [], "selected": []}
    members: dict[str, list] = {"last": [], "selected": []}
    pred_frames, curve_frames, selected_epochs, sizes = [], [], [], []
    load_report: dict[str, Any] = {}
    for f in range(cfg.n_folds):
        tr, te = spec[folds != f], spec[folds == f]
        r = fit_fold(model_factory, data, tr, te, cfg, f, pretrained)
        load_report = r["load_report"] or load_report
        y_te = r["y_test"]
        for e, state in enumerate(r["states"]):
            save_state(state, out_dir / f"fold{f}_ens{e}.pt")
        for which in ("last", "selected"):
            for p in r["proba"][which]:
                members[which].append(classification_metrics(y_te, p, names))
            ens[which].append(classification_metrics(y_te, np.mean(r["proba"][which], axis=0), names))
        p_mean = np.mean(r["proba"]["selected"], axis=0)
        m = ens["selected"][-1]
        log.info("fold %d: accuracy %.3f f1_macro %.3f balanced %.3f (n=%d, selected epochs %s)", f, m["accuracy"],
                 m["f1_macro"], m["balanced_accuracy"], len(te), r["selected_epochs"])
        selected_epochs.append(r["selected_epochs"])
        sizes.append({"fold": f, "n_train_folds": int(len(tr)), "n_fit": r["n_fit"], "n_val": r["n_val"], "n_test": int(len(te))})
        pf = pd.DataFrame({"object_id": np.asarray(data.object_ids)[te].astype(np.int64), "fold": f,
                           "y_true": y_te, "y_pred": p_mean.argmax(1)})
        for c, name in enumerate(names):
            pf[f"p_{name}"] = p_mean[:, c]
        pred_frames.append(pf)
        curve_frames.extend(r["curves"])
    write_parquet(pd.concat(pred_frames, ignore_index=True), out_dir / "predictions.parquet")
    write_parquet_or_csv(pd.concat(curve_frames, ignore_index=True), out_dir / "curves.csv")
    out = summarise_cv(ens, members, names, cfg.n_folds, cfg.n_ensembles, cfg.selection, cfg.selection_metric)
    out.update(n_spec=int(len(spec)), selected_epochs=selected_epochs, fold_sizes=sizes)
    out.update({
        "pretrained_load": load_report,
        "finetune_seconds": time.time() - t0,
        "train": cfg.to_dict(),
    })
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
