"""Baselines of ConvEntion Tables 3-4 on the SDSS ingest, trained with ConvEntion's protocol.

Models (output directory names = keys of ``paper_numbers()['convention']['results_*']``):

==========================  ==============  =====  =======  ====================================
name                        architecture    bands  classes  input
==========================  ==============  =====  =======  ====================================
``lstm_lightcurves``        LightCurveLSTM  ugriz  4        epoch-grouped light curves
``cnn_gru_ugriz``           CNN + GRU       ugriz  4        epoch frames, 5 channels (0 = missing)
``cnn_gru_g``               CNN + GRU       g      4        epoch frames, 1 channel
``cnn_lstm_ugriz``          CNN + LSTM      ugriz  4
``cnn_lstm_g``              CNN + LSTM      g      4
``cnn_gru_g_3class``        CNN + GRU       g      3        (Table 4)
``cnn_lstm_g_3class``       CNN + LSTM      g      3        (Table 4)
==========================  ==============  =====  =======  ====================================

Training reuses ConvEntion's generic protocol (:mod:`transientrepro.convention.protocol`:
pre-train on the photometrically typed ``Train`` partition, then stratified k-fold x ensemble
fine-tuning on the spectroscopic set, weighted random sampler, Adam, cross-entropy) and its data
preparation (:func:`transientrepro.convention.data.build_sequence_data`: task labels, Table 5
partition, band selection, bandwise normalisation with pre-training statistics). This module only
adapts the data: the image baselines need *epoch-grouped* frames (5 bands as channels, missing
bands zero images) instead of ConvEntion's band-separated sequences, and the LSTM needs light-curve
tensors. Both adapters keep ``SequenceData``'s duck type (``labels``, ``object_ids``,
``class_names``, ``n_classes``, ``pretrain_rows``, ``spec_rows``, ``dataset(rows, train, seed,
augment)``); items are ``((x, mask), y)`` and the models are called as ``model(x, mask)``.

Sequences longer than ``max_len`` epochs: ConvEntion's window policies (``baselines.window``,
``convention.preprocess.select_images``) counted in epochs: ``peak`` (training: random shifts
containing the brightest epoch; evaluation: centred on it; brightness = the brightest image of
the epoch, or the largest transformed flux of a light-curve epoch), ``uniform`` (training: any
window) or ``drop_then_window``. Training augmentation of image frames (same ``AugmentConfig`` as
ConvEntion, applied to the whole frame sequence): each epoch dropped with ``p_drop`` (at least one
kept), then ``augment.geometry``. Light curves are not augmented except for the window.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from ..gp_store import LazyRows
from ..io import write_csv, write_json
from ..sdss.stamp_store import load_stamps
from ..paper import paper_numbers
from ..convention import preprocess as pp
from ..convention.augment import AugmentConfig, augment_geometry
from ..convention.data import PartitionedRows, RowsDataset, SequenceData, build_sequence_data, stream_above_mb
from ..convention.protocol import TrainConfig, run_protocol
from .lightcurves import (
    LightCurveError,
    build_epoch_frames,
    build_lightcurve_tensors,
    feature_names,
    flux_scales,
)
from .models import ARCHITECTURES, PAPER_ARCHITECTURES, BaselineConfigError, build_model, count_parameters

log = logging.getLogger(__name__)

MODELS = (
    "lstm_lightcurves",
    "cnn_gru_ugriz",
    "cnn_gru_g",
    "cnn_lstm_ugriz",
    "cnn_lstm_g",
    "cnn_gru_g_3class",
    "cnn_lstm_g_3class",
)
LC_COLUMNS = ("CID", "mjd", "band", "flux", "flux_err")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str       # key of ARCHITECTURES
    bands: str      # "ugriz" | "g"
    task: str       # "4class" | "3class"

    @property
    def paper_key(self) -> str:
        return "results_3class" if self.task == "3class" else "results_4class"


def parse_model(name: str) -> ModelSpec:
    """``cnn_gru_g_3class`` -> ModelSpec(arch='cnn_gru', bands='g', task='3class')."""
    if name == "lstm_lightcurves":
        return ModelSpec(name, "lstm_lightcurves", "ugriz", "4class")
    parts = name.split("_")
    ok = len(parts) in (3, 4) and "_".join(parts[:2]) in ("cnn_gru", "cnn_lstm") and parts[2] in pp.BANDSETS \
        and (len(parts) == 3 or parts[3] == "3class")
    if not ok:
        raise BaselineConfigError(f"config baselines.models: unknown model {name!r}; expected one of {MODELS}")
    return ModelSpec(name, "_".join(parts[:2]), parts[2], "3class" if len(parts) == 4 else "4class")


# ----------------------------------------------------------------------------------------------
# Data adapters (duck type of convention.data.SequenceData)
# ----------------------------------------------------------------------------------------------
@dataclass
class _Base(PartitionedRows):
    labels: np.ndarray
    object_ids: np.ndarray
    partition: np.ndarray
    class_names: tuple[str, ...]
    max_len: int
    crop: str
    window: str = "peak"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpochFrameData(_Base):
    """Normalised stamps (from ConvEntion's SequenceData) regrouped into epoch frames.

    Per object ``k``: images ``offsets[k]:offsets[k+1]`` sorted by (mjd, band), their channel
    (index of the band in the band set) and epoch number (0..).
    """

    images: np.ndarray = None  # type: ignore[assignment]
    channel: np.ndarray = None  # type: ignore[assignment]
    epoch: np.ndarray = None  # type: ignore[assignment]
    offsets: np.ndarray = None  # type: ignore[assignment]
    n_channels: int = 5

    @property
    def stamp_size(self) -> int:
        return int(self.images.shape[-1])

    def dataset(self, rows, train: bool = False, seed: int = 0, augment: AugmentConfig | None = None) -> "EpochFrameDataset":
        return EpochFrameDataset(self, np.asarray(rows, dtype=np.int64), train, seed, augment)


class EpochFrameDataset(RowsDataset):
    """Items ``((x (max_len, C, S, S) float32, mask (max_len,) bool), y)``."""

    def __getitem__(self, j: int):
        d = self.data
        i = int(self.rows[j])
        a, b = int(d.offsets[i]), int(d.offsets[i + 1])
        images, chan, ep = d.images[a:b], d.channel[a:b], d.epoch[a:b]
        n_ep = int(ep[-1]) + 1
        keep_ep = np.arange(n_ep)
        aug = self.augment
        if aug is not None and aug.p_drop > 0 and n_ep > 1:
            k = self.rng.random(n_ep) >= aug.p_drop
            if not k.any():
                k[self.rng.integers(n_ep)] = True
            keep_ep = keep_ep[k]

        def bright_fn(idx):
            per_ep = np.full(n_ep, -np.inf)
            np.maximum.at(per_ep, ep, pp.brightness(images))
            return per_ep[keep_ep[idx]]

        keep_ep = keep_ep[pp.select_images(len(keep_ep), d.max_len, d.window, d.crop, bright_fn, self.window_rng(i),
                                           self.shifting)]
        new_index = np.full(n_ep, -1, dtype=np.int64)
        new_index[keep_ep] = np.arange(len(keep_ep))
        sel = new_index[ep] >= 0
        x = np.zeros((d.max_len, d.n_channels, d.stamp_size, d.stamp_size), dtype=np.float32)
        x[new_index[ep[sel]], chan[sel]] = images[sel]
        if aug is not None:
            x = augment_geometry(x, self.rng, aug)
        mask = np.zeros(d.max_len, dtype=bool)
        mask[: len(keep_ep)] = True
        return (torch.from_numpy(x), torch.from_numpy(mask)), int(d.labels[i])


@dataclass
class LightCurveData(_Base):
    """Epoch-grouped light-curve tensors ``X`` (n, L_all, F) with ``lengths`` (n,)."""

    X: np.ndarray = None  # type: ignore[assignment]
    lengths: np.ndarray = None  # type: ignore[assignment]
    feature_names: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        return int(self.X.shape[-1])

    def dataset(self, rows, train: bool = False, seed: int = 0, augment: AugmentConfig | None = None) -> "LightCurveDataset":
        return LightCurveDataset(self, np.asarray(rows, dtype=np.int64), train, seed, augment)


class LightCurveDataset(RowsDataset):
    """Items ``((x (max_len, F) float32, mask (max_len,) bool), y)``; training items are randomly
    shifted within the light curve (the only augmentation that applies to photometry)."""

    def __getitem__(self, j: int):
        d = self.data
        i = int(self.rows[j])
        n = int(d.lengths[i])
        seq = d.X[i, :n]
        keep = pp.select_images(n, d.max_len, d.window, d.crop, lambda idx: seq[idx, :5].max(axis=1),
                                self.window_rng(i), self.shifting)  # brightness: largest transformed band flux
        x = np.zeros((d.max_len, d.n_features), dtype=np.float32)
        x[: len(keep)] = seq[keep]
        if len(keep) and keep[0] > 0:
            x[0, -1] = 0.0  # no previous epoch inside the window
        mask = np.zeros(d.max_len, dtype=bool)
        mask[: len(keep)] = True
        return (torch.from_numpy(x), torch.from_numpy(mask)), int(d.labels[i])


def _kept_image_rows(stamps: Mapping[str, np.ndarray], seq: SequenceData, bands: str) -> np.ndarray:
    """Rows of ``stamps`` behind ``seq.images``: ``seq.image_rows`` (set by ``build_sequence_data``)
    or, for a ``SequenceData`` without them, recomputed with the same selection (non-empty images,
    band set, kept objects; reads the images block by block); checked against ``seq.band``."""
    band = np.asarray(stamps["band"])
    if seq.image_rows is not None:
        rows = np.asarray(seq.image_rows, dtype=np.int64)
    else:
        keep_img, off1 = pp.drop_empty_images(stamps["images"], band, stamps["offsets"])
        sel, off2 = pp.select_bands(band[keep_img], off1, bands)
        img_rows = keep_img[sel]
        lengths = np.diff(off2)
        keep_obj = np.isin(np.asarray(stamps["cid"]), seq.object_ids)
        rows = img_rows[np.repeat(keep_obj, lengths)]
    if len(rows) != len(seq.images) or (len(rows) and rows.max() >= len(band)) \
            or not np.array_equal(band[rows].astype(np.int64), np.asarray(seq.band, np.int64)):
        raise LightCurveError("stamps.h5: could not align the stamps' mjd with ConvEntion's selected images "
                              f"({len(rows)} rows vs {len(seq.images)} images)")
    return rows


def build_frame_data(seq: SequenceData, stamps: Mapping[str, np.ndarray], bands: str, max_len: int,
                     epoch_tol: float, crop: str = "brightest", source: str = "stamps.h5",
                     window: str = "peak") -> EpochFrameData:
    """Regroup ConvEntion's normalised, band-separated sequences into epoch frames (``images``: a lazy
    view of ``seq.images``, in memory or streamed from the store, read one object at a time)."""
    if "mjd" not in stamps:
        raise LightCurveError(f"{source}: missing array 'mjd' (needed to group stamps into epochs)")
    if max_len < 1:
        raise BaselineConfigError(f"config baselines.max_len must be >= 1, got {max_len}")
    rows = _kept_image_rows(stamps, seq, bands)
    mjd = np.asarray(stamps["mjd"], dtype=np.float64)[rows]
    bad = np.flatnonzero(~np.isfinite(mjd))
    if bad.size:
        raise LightCurveError(f"{source}: non-finite mjd for a stamp of CID {int(seq.object_ids[np.searchsorted(seq.offsets, bad[0], 'right') - 1])}")
    band_ids = pp.BANDSETS[bands]
    n_obj = len(seq.object_ids)
    obj_of_img = np.repeat(np.arange(n_obj), np.diff(seq.offsets))
    # every epoch kept here (the window of max_len is chosen per item); one stamp per (epoch, band)
    fr = build_epoch_frames(obj_of_img, mjd, np.asarray(seq.band, np.int64), objects=np.arange(n_obj), bands=band_ids,
                            max_len=np.iinfo(np.int32).max, epoch_tol=epoch_tol)
    counts = np.bincount(obj_of_img[fr.image_index], minlength=n_obj)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    epoch = fr.frame - np.repeat(fr.frame_offsets[:-1], counts)
    # a lazy view of the frames' images (no second copy): rows of seq.images, read per item
    images = seq.images.subset(fr.image_index) if isinstance(seq.images, LazyRows) else LazyRows(seq.images, fr.image_index)
    channel = fr.channel
    n_ep = fr.lengths()
    meta = dict(seq.meta)
    meta.update(max_len=int(max_len), epoch_tol=float(epoch_tol),
                epochs_per_object={"median": float(np.median(n_ep)), "max": int(n_ep.max()),
                                   "fraction_truncated": float(np.mean(n_ep > max_len))},
                frame_fill={"mean_bands_per_epoch": float(len(images) / n_ep.sum())},
                n_duplicate_band_stamps_dropped=int(len(rows) - len(images)))
    return EpochFrameData(labels=seq.labels, object_ids=seq.object_ids, partition=seq.partition, class_names=seq.class_names,
                          max_len=int(max_len), crop=crop, window=window, meta=meta, images=images, channel=channel, epoch=epoch,
                          offsets=offsets, n_channels=len(band_ids))


def build_lightcurve_data(seq: SequenceData, lightcurves: pd.DataFrame, max_len: int, epoch_tol: float,
                          crop: str = "brightest", source: str = "lightcurves.parquet",
                          window: str = "peak") -> LightCurveData:
    """Light-curve tensors for the objects, labels and partition of ``seq`` (ugriz, 4 classes).

    ``lightcurves``: the ingest's table (CID, mjd, band 1..5, flux, flux_err). Flux scales are fit
    on the pre-training (``Train``) objects only. All epochs are stored; ``max_len`` is the window.
    """
    missing = [c for c in LC_COLUMNS if c not in lightcurves.columns]
    if missing:
        raise LightCurveError(f"{source}: missing columns {missing}; expected {list(LC_COLUMNS)}")
    if max_len < 1:
        raise BaselineConfigError(f"config baselines.max_len must be >= 1, got {max_len}")
    lc = lightcurves[lightcurves["CID"].isin(seq.object_ids)]
    band = lc["band"].to_numpy().astype(np.int64) - 1
    bad = np.flatnonzero((band < 0) | (band > 4))
    if bad.size:
        r = lc.index[bad[0]]
        raise LightCurveError(f"{source}: band {int(band[bad[0]]) + 1} at row {r} (CID {int(lc['CID'].iloc[bad[0]])}) not in 1..5")
    train_cids = seq.object_ids[seq.partition == "Train"]
    tr = lc["CID"].isin(train_cids).to_numpy()
    scales = flux_scales(band[tr] if tr.any() else band, lc["flux_err"].to_numpy()[tr] if tr.any() else lc["flux_err"].to_numpy())
    n_ep_max = int(lc.groupby("CID").size().max()) if len(lc) else 1
    t = build_lightcurve_tensors(lc["CID"].to_numpy(), lc["mjd"].to_numpy(), band, lc["flux"].to_numpy(),
                                 lc["flux_err"].to_numpy(), objects=seq.object_ids, max_len=n_ep_max,
                                 epoch_tol=epoch_tol, scales=scales)
    L = int(t.lengths.max())
    meta = dict(seq.meta)
    meta.update(max_len=int(max_len), epoch_tol=float(epoch_tol), flux_scales=scales.tolist(),
                epochs_per_object={"median": float(np.median(t.lengths)), "max": L,
                                   "fraction_truncated": float(np.mean(t.lengths > max_len))},
                n_observations=int(len(lc)))
    return LightCurveData(labels=seq.labels, object_ids=seq.object_ids, partition=seq.partition, class_names=seq.class_names,
                          max_len=int(max_len), crop=crop, window=window, meta=meta, X=t.X[:, :L], lengths=t.lengths,
                          feature_names=t.feature_names)


# ----------------------------------------------------------------------------------------------
# Config and one baseline run
# ----------------------------------------------------------------------------------------------
def architecture(section: Mapping[str, Any], arch: str) -> dict[str, Any]:
    archs = section.get("architectures") or {}
    if arch not in ARCHITECTURES:
        raise BaselineConfigError(f"unknown architecture {arch!r}")
    if arch not in archs:
        raise BaselineConfigError(f"config baselines.architectures: missing entry {arch!r}")
    return dict(archs[arch])


def train_config(section: Mapping[str, Any], seed: int) -> TrainConfig:
    tr = dict(section.get("train") or {})
    if "augment" in section:
        tr["augment"] = section["augment"]
    tr.setdefault("seed", int(seed))
    return TrainConfig.from_mapping(tr, "baselines.train")


def load_data(spec: ModelSpec, objects_path, stamps_path, lightcurves_path, section: Mapping[str, Any], seed: int,
              snia_uncertain: str = "exclude"):
    """The adapter data object of ``spec`` from the SDSS ingest files (``snia_uncertain``: as
    ``convention.snia_uncertain``, so both see the same Table 5 partition)."""
    # The Table 5 partition comes from build_sequence_data (the SDSS stage's assign_partitions with
    # the workflow seed), exactly as for ConvEntion, so both see the same objects in each partition.
    objects = pd.read_parquet(objects_path)
    scaling = str(section.get("scaling", "linear"))
    # the stamp store: its one-dimensional arrays in memory, images read lazily (the light-curve
    # model never reads them)
    stamps = load_stamps(stamps_path)
    crop = str(section.get("crop", "brightest"))
    window = str(section.get("window", "peak"))
    max_len, tol = int(section.get("max_len", 99)), float(section.get("epoch_tol", 0.5))
    if spec.arch == "lstm_lightcurves":
        # Only the objects, labels and partition are needed: same selection as the image models
        # (the ingest stores no empty stamp), without normalising every image (1x1 placeholders).
        if lightcurves_path is None:
            raise BaselineConfigError("lstm_lightcurves needs the ingest's lightcurves.parquet (input 'lightcurves')")
        placeholder = {**{k: v for k, v in stamps.items() if k != "images"},
                       "images": np.ones((len(stamps["band"]), 1, 1), dtype=np.float32)}
        seq = build_sequence_data(objects, placeholder, spec.bands, spec.task, M=1, crop=crop, seed=int(seed),
                                  source=str(stamps_path), scaling=scaling, snia_uncertain=snia_uncertain)
        return build_lightcurve_data(seq, pd.read_parquet(lightcurves_path), max_len, tol, crop, str(lightcurves_path),
                                     window=window)
    # M is ConvEntion's image-count crop; the baselines crop in epochs, so keep every image here
    seq = build_sequence_data(objects, stamps, spec.bands, spec.task, M=max(1, len(stamps["images"])), crop=crop,
                              seed=int(seed), source=str(stamps_path), scaling=scaling, snia_uncertain=snia_uncertain,
                              stream_above_mb=stream_above_mb(section))
    return build_frame_data(seq, stamps, spec.bands, max_len, tol, crop, str(stamps_path), window=window)


def model_factory(spec: ModelSpec, hp: Mapping[str, Any], data):
    if spec.arch == "lstm_lightcurves":
        return lambda n_classes: build_model(spec.arch, hp, n_classes, n_features=data.n_features)
    return lambda n_classes: build_model(spec.arch, hp, n_classes, in_channels=data.n_channels)


def _n_in(spec: ModelSpec) -> dict[str, int]:
    if spec.arch == "lstm_lightcurves":
        return {"n_features": len(feature_names(5))}
    return {"in_channels": len(pp.BANDSETS[spec.bands])}


def _hp_string(hp: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    def fmt(v):
        return "-".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return ";".join(f"{k}={fmt(v)}" for k, v in {**dict(hp), **dict(extra)}.items())


def param_rows(spec: ModelSpec, hp: Mapping[str, Any], n_classes: int, built: int, max_len: int) -> pd.DataFrame:
    """Rows of results/tables/parameter_counts_baselines_<model>.csv: this run and paper settings."""
    ref = paper_numbers()["convention"]["results_4class"]
    paper_name = spec.name.replace("_3class", "")  # Table 4 prints no counts; compare with Table 3's row
    reported = ref.get(paper_name, {}).get("n_params")
    n_in = _n_in(spec)
    paper_built = count_parameters(build_model(spec.arch, PAPER_ARCHITECTURES[spec.arch], n_classes, **n_in))
    extra = {"bands": spec.bands, "classes": n_classes, **n_in}
    return pd.DataFrame([
        {"model": spec.name, "config": "run", "hyperparameters": _hp_string(hp, {**extra, "max_len": max_len}),
         "built_n_params": built, "paper_n_params": reported},
        {"model": spec.name, "config": "paper_settings", "hyperparameters": _hp_string(PAPER_ARCHITECTURES[spec.arch], extra),
         "built_n_params": paper_built, "paper_n_params": reported},
    ])


def run_baseline(model: str, objects_path, stamps_path, lightcurves_path, section: Mapping[str, Any], out_dir,
                 params_csv, seed: int = 42, snia_uncertain: str = "exclude") -> dict[str, Any]:
    """Train one baseline with ConvEntion's protocol; writes into ``out_dir`` metrics.json,
    predictions.parquet, curves.csv, pretrain_curves.csv, pretrain.pt, fold{f}_ens{e}.pt, and the
    parameter-count fragment ``params_csv``."""
    t0 = time.time()
    spec = parse_model(model)
    hp = architecture(section, spec.arch)
    tcfg = train_config(section, seed)
    data = load_data(spec, objects_path, stamps_path, lightcurves_path, section, seed, snia_uncertain)
    t_data = time.time() - t0
    factory = model_factory(spec, hp, data)
    built = count_parameters(factory(data.n_classes))
    params = param_rows(spec, hp, data.n_classes, built, data.max_len)
    paper_ref = paper_numbers()["convention"][spec.paper_key].get(spec.name, {})
    log.info("%s: %d objects (%d pre-train, %d spectroscopic), %d parameters (paper settings %d)", model,
             len(data.labels), len(data.pretrain_rows), len(data.spec_rows), built, int(params["built_n_params"].iloc[1]))
    extra = {
        "model": spec.name, "architecture": spec.arch, "bands": spec.bands, "task": spec.task,
        "n_params": built, "n_params_paper_settings": int(params["built_n_params"].iloc[1]),
        "n_params_paper_reported": params["paper_n_params"].iloc[0],
        "hyperparameters": {"architecture": hp, "max_len": data.max_len, "epoch_tol": float(section.get("epoch_tol", 0.5)),
                            "crop": data.crop, "window": data.window, "snia_uncertain": snia_uncertain,
                            "train": tcfg.to_dict()},
        "paper": {"accuracy": paper_ref.get("accuracy"), "f1": paper_ref.get("f1")},
        "data": data.meta, "device": str(tcfg.torch_device()), "torch_threads": torch.get_num_threads(),
    }
    if extra["n_params_paper_reported"] is not None:
        extra["n_params_paper_reported"] = int(extra["n_params_paper_reported"])
    t1 = time.time()
    metrics = run_protocol(factory, data, tcfg, out_dir, extra=extra)
    metrics["seconds"] = {"data": t_data, "train": time.time() - t1, "total": time.time() - t0}
    write_json(metrics, Path(out_dir) / "metrics.json")
    write_csv(params, params_csv)
    log.info("%s: accuracy %.3f +- %.3f, f1_macro %.3f +- %.3f, %.1f s", model, metrics["accuracy"], metrics["accuracy_std"],
             metrics["f1_macro"], metrics["f1_macro_std"], metrics["seconds"]["total"])
    return metrics


def output_files(section: Mapping[str, Any]) -> list[str]:
    """File names each model directory holds (for the workflow's ``output:``)."""
    tr = dict(section.get("train") or {})
    n_f, n_e = int(tr.get("n_folds", 5)), int(tr.get("n_ensembles", 3))
    weights = [f"fold{f}_ens{e}.pt" for f in range(n_f) for e in range(n_e)]
    return ["metrics.json", "predictions.parquet", "curves.csv", "pretrain_curves.csv", "pretrain.pt", *weights]


__all__ = ["MODELS", "ModelSpec", "parse_model", "run_baseline", "build_frame_data", "build_lightcurve_data",
           "EpochFrameData", "LightCurveData", "output_files", "train_config", "param_rows"]
