"""Ablation of ConvEntion's paper-vs-code switches (issue 10): each switch flipped singly from the
recipe of the ``convention`` config section, on the embedded data, for several seeds.

A run is named ``recipe`` (the section as configured) or ``<switch>__<setting>`` (one switch set to
another of its settings, everything else as the recipe). Every run pre-trains and fine-tunes one
variant (``convention.ablation.variant``) with the protocol of :mod:`.protocol` (the epochs, folds and
ensemble members of ``convention.ablation``), with ``convention.seed`` set to the run's seed (folds,
initialisation, sampler and augmentation change with it; the Table 5 partition does not).

``convention_ablation.csv`` (``gather``): columns ``switch, setting, seed, accuracy, f1_macro,
balanced_accuracy`` -- for each switch, the recipe's rows (its setting of that switch) and the
flipped runs' rows; the metrics are the ensemble's at the kept epoch, over the folds.
``convention_ablation_details.csv`` adds the last-epoch and per-member numbers, the run time and
``is_recipe``. The figure and the per-setting summaries: :mod:`.ablation_figures`. ``window_diagnostics.csv`` measures how often each window policy's training and
evaluation windows hold the SN's peak (``window_diagnostics``).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..io import read_json, write_csv, write_json

# torch-free at import (the workflow lists the runs while building its DAG); the training modules
# are imported by the functions that train

log = logging.getLogger(__name__)

RECIPE = "recipe"
SEP = "__"
COLUMNS = ("switch", "setting", "seed", "accuracy", "f1_macro", "balanced_accuracy")


def _get(section: Mapping[str, Any], path: str) -> Any:
    node: Any = section
    for p in path.split("."):
        node = node.get(p, {}) if isinstance(node, Mapping) else {}
    return node


def _set(section: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = section
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


@dataclass(frozen=True)
class Switch:
    """One switch: ``label(section)`` names the section's setting; ``settings`` maps each setting
    name to the overrides (dotted key -> value, or a function of the section) that select it."""

    row: str  # the row of issue 10's table
    label: Callable[[Mapping[str, Any]], str]
    settings: Mapping[str, Mapping[str, Any]]

    def apply(self, section: Mapping[str, Any], setting: str) -> dict[str, Any]:
        if setting not in self.settings:
            raise ValueError(f"ablation: unknown setting {setting!r}; expected one of {sorted(self.settings)}")
        out = copy.deepcopy(dict(section))
        for path, value in self.settings[setting].items():
            _set(out, path, value(out) if callable(value) else value)
        return out


def _with_D(D: int):
    def f(section):
        ch = list(_get(section, "model.cnn_channels") or [64, 128, 64, 8])
        return ch[:-1] + [D]
    return f


def _sublayers(section) -> str:
    m = _get(section, "model")
    key = (m.get("sublayer"), m.get("ffn"), m.get("attention_map"))
    return {("pre_layernorm", "bn", "full"): "released", ("post_groupnorm", "plain", "grouped"): "table2_reading"}.get(key, "custom")


def _augmentation(section) -> str:
    a = _get(section, "augment")
    if a.get("geometry") == "rotate_or_flip" and float(a.get("p_drop", 0)) == 0:
        return "released"
    if a.get("geometry") == "rot90_flips" and float(a.get("p_drop", 0)) == 0.1:
        return "before_issue10"
    return "custom"


SWITCHES: dict[str, Switch] = {
    "feature_channels": Switch("1", lambda s: f"D{(_get(s, 'model.cnn_channels') or [0])[-1]}", {
        "D8": {"model.cnn_channels": _with_D(8), "model.d_ff": 16},
        "D64": {"model.cnn_channels": _with_D(64), "model.d_ff": 128}}),
    "pooling": Switch("2", lambda s: str(_get(s, "model.pool")), {
        "sequence": {"model.pool": "sequence"}, "global": {"model.pool": "global"}}),
    "sublayers": Switch("3", _sublayers, {
        "released": {"model.sublayer": "pre_layernorm", "model.ffn": "bn", "model.attention_map": "full"},
        "table2_reading": {"model.sublayer": "post_groupnorm", "model.ffn": "plain", "model.attention_map": "grouped"}}),
    "padding_mask": Switch("-", lambda s: "masked" if _get(s, "model.mask_padding") is True else "unmasked", {
        "unmasked": {"model.mask_padding": False}, "masked": {"model.mask_padding": True}}),
    "window": Switch("4", lambda s: str(_get(s, "window") or "peak"), {
        "peak": {"window": "peak"}, "uniform": {"window": "uniform"}, "drop_then_window": {"window": "drop_then_window"}}),
    "selection": Switch("5", lambda s: str(_get(s, "train.selection") or "best_val"), {
        "best_val": {"train.selection": "best_val"}, "last": {"train.selection": "last"},
        "test_fold": {"train.selection": "test_fold"}}),
    "augmentation": Switch("6", _augmentation, {
        "released": {"augment.geometry": "rotate_or_flip", "augment.p_drop": 0.0},
        "before_issue10": {"augment.geometry": "rot90_flips", "augment.p_drop": 0.1, "augment.rotate90": True,
                           "augment.flip": True}}),
    "loss_optimizer": Switch("7", lambda s: f"{_get(s, 'train.loss') or 'cross_entropy'}_{_get(s, 'train.optimizer') or 'adam'}", {
        "cross_entropy_adam": {"train.loss": "cross_entropy", "train.optimizer": "adam"},
        "focal_adamw": {"train.loss": "focal", "train.optimizer": "adamw"}}),
    "snia_uncertain": Switch("8", lambda s: str(_get(s, "snia_uncertain") or "exclude"), {
        "exclude": {"snia_uncertain": "exclude"}, "spectroscopic": {"snia_uncertain": "spectroscopic"}}),
}


def base_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe: the ``convention`` section without its tuning/ablation/scheduling keys."""
    return {k: copy.deepcopy(v) for k, v in section.items() if k not in ("ablation", "tuning", "gpu", "threads", "variants")}


def runs(section: Mapping[str, Any]) -> list[str]:
    """``recipe`` and one run per (switch, setting other than the recipe's)."""
    abl = section.get("ablation") or {}
    base = base_section(section)
    out = [RECIPE]
    for name in abl.get("switches", list(SWITCHES)):
        if name not in SWITCHES:
            raise ValueError(f"convention.ablation.switches: unknown switch {name!r}; expected {sorted(SWITCHES)}")
        sw = SWITCHES[name]
        current = sw.label(base)
        out += [f"{name}{SEP}{s}" for s in sw.settings if s != current]
    return out


def run_section(section: Mapping[str, Any], run: str, seed: int) -> dict[str, Any]:
    """The ``convention`` section of one ablation run (recipe with at most one switch flipped)."""
    abl = dict(section.get("ablation") or {})
    sec = base_section(section)
    if run != RECIPE:
        name, _, setting = run.partition(SEP)
        if name not in SWITCHES:
            raise ValueError(f"ablation run {run!r}: unknown switch {name!r}")
        sec = SWITCHES[name].apply(sec, setting)
    sec["seed"] = int(seed)
    tr = dict(sec.get("train") or {})
    for k in ("epochs_pretrain", "epochs_finetune", "n_ensembles", "n_folds"):
        if k in abl:
            tr[k] = int(abl[k])
    tr["eval_every_epoch"] = False  # no test-fold curves (they never change the result; they cost time)
    sec["train"] = tr
    return sec


def run_ablation(objects_path, stamps_path, section: Mapping[str, Any], run: str, seed: int, out_dir,
                 partition_seed: int | None = None) -> dict[str, Any]:
    """Pre-train + fine-tune one run; writes the protocol's outputs and ``summary.json`` into ``out_dir``."""
    from .model import ConvEntion, n_params
    from .protocol import run_protocol
    from .stages import load_data, model_config, parse_variant, train_config

    t0 = time.time()
    sec = run_section(section, run, seed)
    variant = (section.get("ablation") or {}).get("variant", "convention_ugriz")
    bands, task = parse_variant(variant)
    data = load_data(objects_path, stamps_path, bands, task, sec, partition_seed)
    mcfg, tcfg = model_config(sec), train_config(sec)
    factory = lambda c: ConvEntion(mcfg, c, data.stamp_size, data.M)  # noqa: E731
    m = run_protocol(factory, data, tcfg, out_dir, extra={"run": run, "seed": int(seed), "variant": variant,
                                                          "section": sec, "data": data.meta})
    by = m["by_epoch"]
    kept = next(k for k in by if k != "last") if len(by) > 1 else "last"
    summary = {
        "run": run, "seed": int(seed), "variant": variant, "selection": m["selection"],
        "accuracy": m["accuracy"], "f1_macro": m["f1_macro"], "balanced_accuracy": m["balanced_accuracy"],
        "last_accuracy": by["last"]["ensemble"]["accuracy"], "last_f1_macro": by["last"]["ensemble"]["f1_macro"],
        "last_balanced_accuracy": by["last"]["ensemble"]["balanced_accuracy"],
        "member_accuracy": by[kept]["members"]["accuracy"], "member_f1_macro": by[kept]["members"]["f1_macro"],
        "member_balanced_accuracy": by[kept]["members"]["balanced_accuracy"],
        "n_params": n_params(factory(data.n_classes)), "n_spec": m["n_spec"],
        "n_snia_uncertain": data.meta.get("n_snia_uncertain", 0), "seconds": time.time() - t0,
    }
    write_json(summary, Path(out_dir) / "summary.json")
    log.info("ablation %s seed %d: accuracy %.3f f1 %.3f balanced %.3f (%.0f s)", run, seed, summary["accuracy"],
             summary["f1_macro"], summary["balanced_accuracy"], summary["seconds"])
    return summary


def gather(summary_paths: Sequence[str | Path], section: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(convention_ablation table, details table) from the runs' ``summary.json`` files."""
    rows = [read_json(p) for p in summary_paths]
    if not rows:
        raise ValueError("ablation gather: no run summaries")
    df = pd.DataFrame(rows)
    base = base_section(section)
    out = []
    for name in (section.get("ablation") or {}).get("switches", list(SWITCHES)):
        sw = SWITCHES[name]
        recipe = df[df["run"] == RECIPE].assign(switch=name, setting=sw.label(base), is_recipe=True)
        flipped = df[df["run"].str.startswith(f"{name}{SEP}")]
        flipped = flipped.assign(switch=name, setting=flipped["run"].str.split(SEP).str[1], is_recipe=False)
        out += [recipe, flipped]
    details = pd.concat(out, ignore_index=True).sort_values(["switch", "is_recipe", "setting", "seed"],
                                                           ascending=[True, False, True, True])
    details = details[["switch", "setting", "seed", "accuracy", "f1_macro", "balanced_accuracy", "is_recipe", "run"]
                      + [c for c in details.columns if c not in (*COLUMNS, "is_recipe", "run")]]
    return details[list(COLUMNS)].reset_index(drop=True), details.reset_index(drop=True)


def write_tables(summary_paths: Sequence[str | Path], section: Mapping[str, Any], csv_path, details_path,
                 windows_path=None, objects_path=None, stamps_path=None, partition_seed: int | None = None) -> pd.DataFrame:
    """The ablation tables, and (with the ingest files) ``window_diagnostics`` as ``windows_path``."""
    table, details = gather(summary_paths, section)
    write_csv(table, csv_path)
    write_csv(details, details_path)
    if windows_path is not None:
        from ..sdss.stamp_store import load_stamps

        with load_stamps(stamps_path) as stamps:
            diag = window_diagnostics(pd.read_parquet(objects_path), stamps, section, partition_seed=partition_seed)
        write_csv(diag, windows_path)
    return table


def recipe_settings(section: Mapping[str, Any]) -> dict[str, str]:
    base = base_section(section)
    return {name: sw.label(base) for name, sw in SWITCHES.items()}


def window_diagnostics(objects: pd.DataFrame, stamps: Mapping[str, np.ndarray], section: Mapping[str, Any],
                       n_draws: int = 20, seed: int = 0, partition_seed: int | None = None) -> pd.DataFrame:
    """How often a window holds the SN: for every spectroscopic SN of the ablation's variant with a
    finite ``PeakMJD``, the share of windows whose MJD range contains the peak and the share of the
    sequence's time span they cover, per window policy, for ``n_draws`` training draws and for the
    evaluation window. Needs ``stamps['mjd']`` (``stamps['images']`` may be the store's lazy view: one
    sequence is read at a time above ``stream_above_mb``); returns columns ``window, stage, n_objects,
    share_with_peak, mean_span_fraction``."""
    from ..baselines.run import _kept_image_rows
    from . import preprocess as pp
    from .data import build_sequence_data, stream_above_mb
    from .stages import parse_variant

    variant = (section.get("ablation") or {}).get("variant", "convention_ugriz")
    bands, task = parse_variant(variant)
    if "PeakMJD" not in objects.columns or "mjd" not in stamps:
        raise ValueError("window_diagnostics: needs objects['PeakMJD'] and stamps['mjd']")
    rows = []
    data = build_sequence_data(objects, stamps, bands, task, M=int(section.get("M", 99)),
                               crop=section.get("crop", "brightest"), seed=int(partition_seed or section.get("seed", 42)),
                               scaling=section.get("scaling", "linear"),
                               snia_uncertain=section.get("snia_uncertain", "exclude"),
                               stream_above_mb=stream_above_mb(section))
    mjd_all = np.asarray(stamps["mjd"], dtype=np.float64)[_kept_image_rows(stamps, data, bands)]
    peak = objects.set_index("CID").loc[data.object_ids, "PeakMJD"].to_numpy(dtype=np.float64)
    sn = [c for c, name in enumerate(data.class_names) if name.startswith("SN")]
    objs = [i for i in data.spec_rows if data.labels[i] in sn and np.isfinite(peak[i])]
    for policy in pp.WINDOW_POLICIES:
        rng = np.random.default_rng(seed)
        for stage in ("train", "eval"):
            hit, span = [], []
            for i in objs:
                a, b = int(data.offsets[i]), int(data.offsets[i + 1])
                images, mjd = data.images[a:b], mjd_all[a:b]
                full = max(mjd.max() - mjd.min(), 1e-9)
                draws = n_draws if (stage == "train" or policy == "drop_then_window") else 1
                for d in range(draws):
                    r = rng if stage == "train" else np.random.default_rng([seed, 7, int(i), d])
                    idx = pp.select_images(len(images), data.M, policy, data.crop, lambda k: pp.brightness(images[k]),  # noqa: B023
                                           r, train=stage == "train")
                    hit.append(mjd[idx].min() - 1 <= peak[i] <= mjd[idx].max() + 1)
                    span.append((mjd[idx].max() - mjd[idx].min()) / full)
            rows.append({"window": policy, "stage": stage, "n_objects": len(objs),
                         "share_with_peak": float(np.mean(hit)) if hit else float("nan"),
                         "mean_span_fraction": float(np.mean(span)) if span else float("nan")})
    return pd.DataFrame(rows)
