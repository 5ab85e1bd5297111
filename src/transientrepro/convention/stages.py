"""Workflow stages of ConvEntion (called by the thin ``workflow/scripts/convention_*.py``).

Variants: ``convention_<bands>[_3class]`` with bands in {ugriz, g}: 4 classes (Table 3) or 3
classes (Table 4). Each variant is pre-trained on its own (bands, task) photometrically typed set
(``results/sdss/<variant>/pretrain.pt``) and fine-tuned with 5-fold CV x 3 ensembles.

The ``convention`` config section (see config/schema.yaml) is turned into ``ModelConfig``,
``TrainConfig`` and the data settings here; with ``tune: true`` the best trial of the optuna study
(``tuning`` sub-section; objective: class-balanced log-loss on a held-out part of the
photometrically typed set, as the paper tuned "using only non-confirmed dataset") overrides
M, lr, K, classifier_hidden, L, T, batch_size and dropout.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from ..io import read_json, write_csv, write_json, write_parquet
from ..sdss.stamp_store import load_stamps
from ..paper import paper_numbers
from .data import SequenceData, build_sequence_data, stream_above_mb
from .model import READINGS, ConvEntion, ModelConfig, n_params, paper_n_params
from .preprocess import BANDSETS, TASKS
from .protocol import TrainConfig, finetune_cv, make_folds, predict_proba, pretrain, seed_everything, train_model

log = logging.getLogger(__name__)

VARIANTS = ("convention_ugriz", "convention_g", "convention_ugriz_3class", "convention_g_3class")
TUNABLE = {"M": ("M",), "lr": ("train", "lr"), "K": ("model", "K"), "classifier_hidden": ("model", "classifier_hidden"),
           "L": ("model", "L"), "T": ("model", "T"), "batch_size": ("train", "batch_size"), "dropout": ("model", "dropout")}


def parse_variant(variant: str) -> tuple[str, str]:
    """``convention_g_3class`` -> ("g", "3class"); raises on an unknown name."""
    parts = variant.split("_")
    if len(parts) < 2 or parts[0] != "convention" or parts[1] not in BANDSETS or len(parts) > 3 \
            or (len(parts) == 3 and parts[2] != "3class"):
        raise ValueError(f"convention variant {variant!r}: expected one of {VARIANTS}")
    return parts[1], ("3class" if len(parts) == 3 else "4class")


def apply_params(section: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of the ``convention`` config section with tuned ``params`` written in."""
    out = copy.deepcopy(dict(section))
    for name, value in (params or {}).items():
        if name not in TUNABLE:
            raise ValueError(f"convention tuning: unknown parameter {name!r}; tunable: {sorted(TUNABLE)}")
        path = TUNABLE[name]
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = value
    return out


def model_config(section: Mapping[str, Any]) -> ModelConfig:
    return ModelConfig.from_mapping(section.get("model"), "convention.model")


def train_config(section: Mapping[str, Any], seed: int | None = None) -> TrainConfig:
    tr = dict(section.get("train") or {})
    if "augment" in section:
        tr["augment"] = section["augment"]
    tr.setdefault("seed", int(section.get("seed", 42) if seed is None else seed))
    return TrainConfig.from_mapping(tr, "convention.train")


def load_data(objects_path: str | os.PathLike, stamps_path: str | os.PathLike, bands: str, task: str,
              section: Mapping[str, Any], partition_seed: int | None = None) -> SequenceData:
    """``partition_seed``: the workflow's top-level seed (Table 5 partition); default convention.seed.

    The stamps are read from the store block by block; above ``convention.stream_above_mb`` of
    selected images each sequence is read and normalised when it is fetched (bounded memory)."""
    objects = pd.read_parquet(objects_path)
    stamps = load_stamps(stamps_path)
    seed = int(section.get("seed", 42) if partition_seed is None else partition_seed)
    data = build_sequence_data(objects, stamps, bands, task, M=int(section.get("M", 99)),
                               crop=section.get("crop", "brightest"), seed=seed, source=str(stamps_path),
                               scaling=section.get("scaling", "linear"), window=section.get("window", "peak"),
                               snia_uncertain=section.get("snia_uncertain", "exclude"),
                               stream_above_mb=stream_above_mb(section))
    if isinstance(data.images, np.ndarray):
        stamps.close()  # normalised into memory: the store is no longer read
    return data



def split_table(data: SequenceData, cfg: TrainConfig) -> pd.DataFrame:
    """The objects, Table 5 partitions and cross-validation folds that ConvEntion's protocol uses on
    ``data`` (one row per object, in ``data``'s order): ``object_id, y, class_name, partition`` and
    ``fold`` (the test fold of a spectroscopic object, as :func:`.protocol.finetune_cv` draws it; -1
    for the pre-training objects)."""
    fold = np.full(len(data.labels), -1, dtype=np.int64)
    spec = np.asarray(data.spec_rows)
    fold[spec] = make_folds(np.asarray(data.labels)[spec], cfg.n_folds, cfg.seed)
    return pd.DataFrame({"object_id": np.asarray(data.object_ids, dtype=np.int64),
                         "y": np.asarray(data.labels, dtype=np.int64),
                         "class_name": np.asarray(data.class_names)[data.labels],
                         "partition": np.asarray(data.partition).astype(str), "fold": fold})


def run_split_table(objects_path, stamps_path, variant: str, section: Mapping[str, Any], out_table, out_info,
                    partition_seed: int | None = None) -> pd.DataFrame:
    """Write :func:`split_table` of ``variant`` (``convention_<bands>[_3class]``) and its settings
    (class names, fold seed, ``n_folds``, ``inner_val_fraction``), for the models of other frameworks
    that are compared with ConvEntion on the same objects and folds (t2 on SDSS, :mod:`..t2.sdss`)."""
    bands, task = parse_variant(variant)
    # the table needs the objects, labels and partitions only: stream_above_mb 0 keeps the normalised
    # images unread (a lazy view) instead of materialising them
    data = load_data(objects_path, stamps_path, bands, task, {**section, "stream_above_mb": 0}, partition_seed)
    cfg = train_config(section)
    table = split_table(data, cfg)
    write_parquet(table, out_table)
    write_json({"variant": variant, "bands": bands, "task": task, "class_names": list(data.class_names),
                "fold_seed": cfg.seed, "n_folds": cfg.n_folds, "inner_val_fraction": cfg.inner_val_fraction,
                "train": cfg.to_dict(),
                "n_pretrain": int(len(data.pretrain_rows)), "n_spec": int(len(data.spec_rows)),
                "data": data.meta}, out_info)
    return table


def factory(mcfg: ModelConfig, data: SequenceData):
    return lambda n_classes: ConvEntion(mcfg, n_classes, data.stamp_size, data.M)


def hyperparameters(section: Mapping[str, Any]) -> dict[str, Any]:
    return {"M": int(section.get("M", 99)), "crop": section.get("crop", "brightest"),
            "window": section.get("window", "peak"), "snia_uncertain": section.get("snia_uncertain", "exclude"),
            "scaling": section.get("scaling", "linear"),
            "model": model_config(section).to_dict(), "train": train_config(section).to_dict()}


def run_pretrain(objects_path, stamps_path, variant: str, section: Mapping[str, Any], weights_path,
                 curves_path, info_path, partition_seed: int | None = None) -> dict[str, Any]:
    bands, task = parse_variant(variant)
    data = load_data(objects_path, stamps_path, bands, task, section, partition_seed)
    mcfg, tcfg = model_config(section), train_config(section)
    info = pretrain(factory(mcfg, data), data, tcfg, weights_path, curves_path)
    info.update(variant=variant, bands=bands, task=task, data=data.meta, hyperparameters=hyperparameters(section))
    write_json(info, info_path)
    return info


def run_finetune(objects_path, stamps_path, variant: str, section: Mapping[str, Any], pretrained_path, out_dir,
                 params_csv, pretrain_info_path=None, tuned: Mapping[str, Any] | None = None,
                 partition_seed: int | None = None) -> dict[str, Any]:
    bands, task = parse_variant(variant)
    data = load_data(objects_path, stamps_path, bands, task, section, partition_seed)
    mcfg, tcfg = model_config(section), train_config(section)
    built = n_params(ConvEntion(mcfg, data.n_classes, data.stamp_size, data.M))
    paper_M = int(paper_numbers()["convention"]["architecture"]["M"])
    paper_params = paper_n_params(n_classes=data.n_classes, stamp_size=32, M=paper_M)
    table2_params = paper_n_params(n_classes=data.n_classes, stamp_size=32, M=paper_M, reading="table2_reading")
    t0 = time.time()
    metrics = finetune_cv(factory(mcfg, data), data, tcfg, out_dir, pretrained_path)
    pre = read_json(pretrain_info_path) if pretrain_info_path else {}
    paper_key = "results_3class" if task == "3class" else "results_4class"
    paper_ref = paper_numbers()["convention"][paper_key].get(variant, {})
    metrics.update(
        variant=variant, bands=bands, task=task, n_params=built, n_params_paper_settings=paper_params,
        n_params_table2_reading=table2_params,
        n_params_paper_reported=paper_numbers()["convention"]["results_4class"]["convention_ugriz"]["n_params"],
        hyperparameters=hyperparameters(section), tuned_params=dict(tuned or {}),
        train_seconds={"pretrain": pre.get("seconds"), "finetune": time.time() - t0},
        pretrain={k: pre.get(k) for k in ("n_train", "final_loss", "class_counts")},
        data=data.meta, paper={"accuracy": paper_ref.get("accuracy"), "f1": paper_ref.get("f1")},
        device=str(tcfg.torch_device()), torch_threads=torch.get_num_threads(),
    )
    write_json(metrics, Path(out_dir) / "metrics.json")
    write_param_counts(params_csv, variant, mcfg, data, built)
    return metrics


PARAM_ROW_LABELS = {
    "paper_settings": "the authors' released network (D=8, time-only max-pool + Linear(648, 256), pre-norm "
                      "LayerNorm, BN feed-forward of width 2D; without the unused linearCon)",
    "table2_reading": "Table 2 read literally (D=64, global max-pool, post-norm GroupNorm + dropout, plain feed-forward)",
}


def write_param_counts(path, variant: str, mcfg: ModelConfig, data: SequenceData, built: int) -> None:
    """Fragment of results/tables/parameter_counts.csv for this variant: this run, the released
    network at paper settings (``paper_settings``: 1,253,108 for 4 classes) and Table 2's reading
    (``table2_reading``, D = 64)."""
    arch = paper_numbers()["convention"]["architecture"]
    reported = paper_numbers()["convention"]["results_4class"]["convention_ugriz"]["n_params"]
    rows = [{"model": variant, "config": "run", "hyperparameters": _hp_string(mcfg, data.M, data.stamp_size, data.n_classes),
             "built_n_params": built, "paper_n_params": reported}]
    for reading, cfg in READINGS.items():
        rows.append({"model": variant, "config": reading,
                     "hyperparameters": f"{PARAM_ROW_LABELS[reading]}: " + _hp_string(cfg, int(arch["M"]), 32, data.n_classes),
                     "built_n_params": paper_n_params(data.n_classes, 32, int(arch["M"]), reading=reading),
                     "paper_n_params": reported})
    write_csv(pd.DataFrame(rows), path)


def _hp_string(m: ModelConfig, M: int, S: int, C: int) -> str:
    return (f"M={M};K={m.K};S={S};cnn={'-'.join(map(str, m.cnn_channels))};kernels={'-'.join(map(str, m.cnn_kernels))};"
            f"D={m.D};L={m.L};T={m.T};d_ff={m.d_ff};ffn={m.ffn};sublayer={m.sublayer};attention_map={m.attention_map};"
            f"hidden={m.classifier_hidden};pool={m.pool};band_vocab={m.band_vocab};classes={C}")


# ----------------------------------------------------------------------------- tuning

def tuning_objective(data: SequenceData, section: Mapping[str, Any]):
    """objective(params) -> class-balanced log-loss on a held-out 25 % of the pre-training set."""
    from ..metrics import flat_weighted_log_loss

    tun = section.get("tuning") or {}
    rows = data.pretrain_rows
    folds = make_folds(data.labels[rows], 4, int(section.get("seed", 42)))
    tr, va = rows[folds != 0], rows[folds == 0]

    def objective(params: Mapping[str, Any]) -> float:
        sec = apply_params(section, params)
        mcfg, tcfg = model_config(sec), train_config(sec)
        d = copy.copy(data)
        d.M = int(sec.get("M", data.M))
        seed_everything(tcfg.seed)
        model = ConvEntion(mcfg, d.n_classes, d.stamp_size, d.M)
        train_model(model, d.dataset(tr, train=True, seed=tcfg.seed, augment=tcfg.augment), tcfg,
                    int(tun.get("epochs", 1)), seed=tcfg.seed, desc="tune")
        p, y = predict_proba(model, d.dataset(va, train=False), tcfg.batch_size, tcfg.torch_device())
        return flat_weighted_log_loss(y, p, d.n_classes)

    return objective


def tuning_constraint(section: Mapping[str, Any]):
    def check(params: Mapping[str, Any]) -> str | None:
        sec = apply_params(section, params)
        try:
            model_config(sec)
        except ValueError as err:
            return str(err)
        return None
    return check


def run_tune_worker(objects_path, stamps_path, section: Mapping[str, Any], storage_path, worker: int,
                    done_path, partition_seed: int | None = None) -> dict[str, Any]:
    from ..tuning import run_worker

    tun = section.get("tuning") or {}
    bands, task = parse_variant(tun.get("variant", "convention_ugriz"))
    data = load_data(objects_path, stamps_path, bands, task, section, partition_seed)
    t0 = time.time()
    done = run_worker(tuning_objective(data, section), tun["space"], storage_path, tun.get("study_name", "convention"),
                      int(tun.get("n_trials", 2)), int(section.get("seed", 42)), worker_id=int(worker),
                      n_startup_trials=int(tun.get("n_startup_trials", 4)), constraint=tuning_constraint(section))
    info = {"worker": int(worker), "trials": done, "seconds": time.time() - t0}
    write_json(info, done_path)
    return info


def run_tune_gather(storage_path, section: Mapping[str, Any], best_path, trials_path) -> dict[str, Any]:
    from ..tuning import best_params, trials_table

    name = (section.get("tuning") or {}).get("study_name", "convention")
    best = best_params(storage_path, name)
    write_json(best, best_path)
    df = trials_table(storage_path, name)
    write_csv(df.astype({c: str for c in df.columns if df[c].dtype == object}), trials_path)
    return best


def tuned_section(section: Mapping[str, Any], best_path: str | os.PathLike | None) -> tuple[dict[str, Any], dict]:
    """The config section with the study's best params applied (when ``best_path`` is given)."""
    if not best_path:
        return dict(section), {}
    params = read_json(best_path)["params"]
    return apply_params(section, params), params


__all__ = ["VARIANTS", "parse_variant", "apply_params", "run_pretrain", "run_finetune", "run_tune_worker",
           "run_tune_gather", "tuned_section", "TASKS"]
_ = np  # numpy used by callers through this module's namespace
