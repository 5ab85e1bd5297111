"""Sequence data for ConvEntion and the image-sequence baselines.

``SequenceData`` holds the separated, bandwise-normalised images of every object in the flat
layout of the SDSS ingest (``images`` (n_img, S, S), ``band`` (n_img,) in 1..5, ``offsets``
(n_obj+1,)), the task labels, the object ids (CID) and the ConvEntion Table 5 partition of each
object (``Train`` = photometrically typed pre-training set; ``FineTune`` and ``Test`` = the
spectroscopic set that is cross-validated). ``data.dataset(rows, train, seed, augment)`` gives a
torch Dataset whose items are ``((x, band, mask), y)``:

    x    float32 (M, S, S)   images, zero-padded
    band int64   (M,)        band id 1..5, 0 = padding
    mask bool    (M,)        True for real images
    y    int64               class index

See ``preprocess`` for the crop/pad and normalisation policies.

Memory (issue 11): ``build_sequence_data`` reads the stamps block by block (the stamp store's
``images`` is a lazy view), computes the bandwise statistics blockwise and scales images as they
are read (:class:`ScaledRows`). When the selected images exceed ``stream_above_mb`` they stay on
disk and each sequence is read and normalised when the dataset asks for it; below it they are
normalised once into memory (one copy, the faster path of the embedded run).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..gp_store import LazyRows
from . import preprocess as pp
from .augment import AugmentConfig, augment_geometry, drop_images

log = logging.getLogger(__name__)

PARTITIONS = ("Train", "FineTune", "Test")
STREAM_ABOVE_MB = 2048  # default of convention.stream_above_mb / baselines.stream_above_mb (config/schema.yaml)


def stream_above_mb(section: Mapping[str, Any]) -> float | None:
    """``stream_above_mb`` of a ``convention`` / ``baselines`` config section (None: always in memory)."""
    v = section.get("stream_above_mb", STREAM_ABOVE_MB)
    return None if v is None else float(v)


class PartitionedRows:
    """Rows by Table 5 partition, for any data object of the protocol with ``partition`` (one entry
    per object) and ``class_names`` (ConvEntion's sequences, the baselines' frames and light curves)."""

    partition: np.ndarray
    class_names: Sequence[str]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def rows(self, *partitions: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.partition, partitions))

    @property
    def pretrain_rows(self) -> np.ndarray:
        """Objects of the photometrically typed pre-training set (Table 5 ``Train``)."""
        return self.rows("Train")

    @property
    def spec_rows(self) -> np.ndarray:
        """Objects of the spectroscopic set cross-validated in fine-tuning (``FineTune`` + ``Test``)."""
        return self.rows("FineTune", "Test")


class ScaledRows(LazyRows):
    """Lazy, read-only view of rows ``rows`` of the stamps ``source`` (an array or the store's
    :class:`~transientrepro.gp_store.LazyRows`), every image scaled as it is read: asinh(x / noise_b)
    when ``noise`` is given, then (x - mean_b) / std_b when ``stats`` is given -- the float32 operations
    of the in-memory path, image by image, so the numbers are the same. ``band``: band id per row."""

    def __init__(self, source, rows, band, noise: np.ndarray | None = None, stats: np.ndarray | None = None,
                 block_rows: int = pp.BLOCK_IMAGES):
        rows = np.asarray(rows, dtype=np.int64)
        super().__init__(source, rows, block_rows)
        self.band = np.asarray(band)
        if len(self.band) != len(rows):
            raise ValueError(f"ScaledRows: {len(self.band)} band ids for {len(rows)} rows")
        self.noise, self.stats = noise, stats

    @property
    def dtype(self):
        return np.dtype(np.float32)

    def read(self, idx: np.ndarray) -> np.ndarray:
        x = super().read(idx)
        b = self.band[idx]
        if self.noise is not None:
            x = pp.asinh_scale(x, b, self.noise)
        if self.stats is not None:
            x = pp.normalise(x, b, self.stats)
        return np.asarray(x, dtype=np.float32)

    def subset(self, idx) -> "ScaledRows":
        idx = self._index(idx)
        return ScaledRows(self._ds, self._rows[idx], self.band[idx], self.noise, self.stats, self.block_rows)

    def scaled(self, noise: np.ndarray | None = None, stats: np.ndarray | None = None) -> "ScaledRows":
        """The same rows with other scalings (nothing is read)."""
        return ScaledRows(self._ds, self._rows, self.band, noise, stats, self.block_rows)

    def materialise(self) -> np.ndarray:
        """Every row, scaled, as one float32 array, filled block by block (one copy in memory)."""
        out = np.empty(self.shape, dtype=np.float32)
        for a in range(0, len(self), self.block_rows):
            out[a:a + self.block_rows] = self.read(np.arange(a, min(a + self.block_rows, len(self))))
        return out


@dataclass
class SequenceData(PartitionedRows):
    images: np.ndarray | ScaledRows
    band: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    object_ids: np.ndarray
    partition: np.ndarray
    class_names: tuple[str, ...]
    M: int
    crop: str = "brightest"
    window: str = "peak"
    norm_stats: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    image_rows: np.ndarray | None = None  # row of the stamps behind each image (set by build_sequence_data)

    def __post_init__(self) -> None:
        n = len(self.offsets) - 1
        for name in ("labels", "object_ids", "partition"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"SequenceData: {name} has {len(getattr(self, name))} rows, offsets describe {n} objects")
        if len(self.band) != len(self.images) or self.offsets[-1] != len(self.images):
            raise ValueError("SequenceData: images, band and offsets[-1] disagree")
        if self.crop not in pp.CROP_POLICIES:
            raise ValueError(f"convention.data.crop: unknown policy {self.crop!r}; expected {pp.CROP_POLICIES}")
        if self.window not in pp.WINDOW_POLICIES:
            raise ValueError(f"convention.window: unknown policy {self.window!r}; expected {pp.WINDOW_POLICIES}")
        lengths = np.diff(self.offsets)
        if (lengths == 0).any():
            i = int(np.flatnonzero(lengths == 0)[0])
            raise ValueError(f"SequenceData: object_id {int(self.object_ids[i])} has no image")

    @property
    def stamp_size(self) -> int:
        return int(self.images.shape[-1])

    def sequence(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.images[a:b], self.band[a:b]

    def dataset(self, rows: Sequence[int], train: bool = False, seed: int = 0,
                augment: AugmentConfig | None = None) -> "SequenceDataset":
        return SequenceDataset(self, np.asarray(rows, dtype=np.int64), train=train, seed=seed, augment=augment)


class RowsDataset(Dataset):
    """A torch Dataset over ``rows`` of a data object with ``labels``: the part every dataset of the
    protocol shares (ConvEntion's sequences, the baselines' frames and light curves). Training
    datasets get the augmentation config and a seeded generator; evaluation ones get no augmentation."""

    def __init__(self, data: Any, rows: np.ndarray, train: bool, seed: int, augment: AugmentConfig | None) -> None:
        self.data, self.rows, self.train = data, np.asarray(rows, dtype=np.int64), train
        self.augment = augment if train else None
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)

    @property
    def shifting(self) -> bool:
        """Training with random sequence shifts (``augment.shift``)."""
        return self.augment is not None and self.augment.shift

    def window_rng(self, i: int) -> np.random.Generator:
        """The generator of the window draw of object row ``i``: the dataset's stream when shifting;
        otherwise (evaluation) a per-object seeded one, used only by the random ``drop_then_window``
        policy, so evaluation is reproducible and independent of the order of the rows."""
        if self.shifting:
            return self.rng
        return np.random.default_rng([self.seed, 7, int(i)])

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> np.ndarray:
        return self.data.labels[self.rows]


class SequenceDataset(RowsDataset):
    """Items ``((x, band, mask), y)``; training items are augmented and shifted (``data.window``)."""

    def __getitem__(self, j: int):
        i = int(self.rows[j])
        images, band = self.data.sequence(i)
        if self.augment is not None:
            images, band = drop_images(images, band, self.rng, self.augment.p_drop)
        keep = pp.select_images(len(images), self.data.M, self.data.window, self.data.crop,
                                lambda idx: pp.brightness(images[idx]), self.window_rng(i), self.shifting)
        images, band = np.asarray(images[keep]), np.asarray(band[keep])
        if self.augment is not None:
            images = augment_geometry(images, self.rng, self.augment)
        x, bd, mask = pp.pad(images, band, self.data.M)
        return (torch.from_numpy(x), torch.from_numpy(bd), torch.from_numpy(mask)), int(self.data.labels[i])


def default_partition(objects: pd.DataFrame, labels: np.ndarray, seed: int) -> np.ndarray:
    """Fallback Table 5 partition (used only when the SDSS ingest provides none).

    Photometrically typed SNe (``spec_confirmed`` False) -> Train; spectroscopically confirmed SNe
    -> FineTune (80 %) / Test (20 %); AGN and Variable (typed by other means) -> Train / FineTune /
    Test in Table 5's 40 / 40 / 20 proportions, per class, seeded.
    """
    rng = np.random.default_rng(seed)
    out = np.full(len(objects), "", dtype=object)
    lab = objects["label"].astype(str).to_numpy()
    spec = objects["spec_confirmed"].to_numpy().astype(bool) if "spec_confirmed" in objects else np.ones(len(objects), bool)
    is_sn = np.char.startswith(lab.astype(str), "SN")
    for cls in np.unique(lab[labels >= 0]):
        rows = np.flatnonzero((lab == cls) & (labels >= 0))
        if is_sn[rows[0]]:
            out[rows[~spec[rows]]] = "Train"
            sp = rng.permutation(rows[spec[rows]])
            n_test = int(round(0.2 * len(sp)))
            out[sp[:n_test]] = "Test"
            out[sp[n_test:]] = "FineTune"
        else:
            rows = rng.permutation(rows)
            n_tr, n_ft = int(round(0.4 * len(rows))), int(round(0.4 * len(rows)))
            out[rows[:n_tr]] = "Train"
            out[rows[n_tr:n_tr + n_ft]] = "FineTune"
            out[rows[n_tr + n_ft:]] = "Test"
    return out.astype(str)


def _ingest_partition(objects: pd.DataFrame, seed: int, snia_uncertain: str = "exclude") -> np.ndarray | None:
    """The Table 5 partition: an explicit ``partition`` column, else the SDSS stage's
    ``transientrepro.sdss.partition.assign_partitions(objects, seed, uncertain_snia=...)`` (fold 0;
    its FineTune + Test union, the pool we cross-validate, does not depend on the fold), else None."""
    if "partition" in objects.columns:
        return objects["partition"].fillna("").astype(str).to_numpy()
    try:
        from transientrepro.sdss.partition import assign_partitions
    except ImportError:
        return None
    return np.asarray(assign_partitions(objects, int(seed), uncertain_snia=snia_uncertain)).astype(str)


def _uncertain_snia(objects: pd.DataFrame) -> np.ndarray:
    try:
        from transientrepro.sdss.partition import uncertain_snia_rows
    except ImportError:
        return np.zeros(len(objects), dtype=bool)
    return uncertain_snia_rows(objects)


def build_sequence_data(objects: pd.DataFrame, stamps: Mapping[str, np.ndarray], bands: str, task: str,
                        M: int, crop: str = "brightest", seed: int = 42, source: str = "stamps.h5",
                        scaling: str = "linear", window: str = "peak", snia_uncertain: str = "exclude",
                        stream_above_mb: float | None = None) -> SequenceData:
    """Assemble ``SequenceData`` for (bands, task) from the SDSS ingest tables.

    ``objects``: one row per object with CID, label (and spec_confirmed, optional partition);
    ``stamps``: images, band, offsets, cid (flat layout; ``images`` an array or the stamp store's lazy
    view, read block by block). Objects whose task label is excluded
    (Unknown) or that have no image in ``bands`` are dropped (counted in ``meta``). ``seed`` is the
    partition seed (the workflow's top-level ``seed``, as for the Table 5 summary);
    ``snia_uncertain`` decides whether ``SNIa?`` objects are excluded (the paper's Table 1/5) or
    spectroscopic SNIa (the authors' split files); ``window`` is the training-window policy.
    ``stream_above_mb``: when the selected images exceed this many MB, ``SequenceData.images`` is a
    :class:`ScaledRows` reading and normalising each sequence from ``stamps['images']`` when it is
    fetched (bounded memory); otherwise (and when None) they are normalised into memory once.
    """
    for key in ("images", "band", "offsets", "cid"):
        if key not in stamps:
            raise ValueError(f"{source}: missing array {key!r}")
    for col in ("CID", "label"):
        if col not in objects.columns:
            raise ValueError(f"objects table: missing column {col!r}")
    images, band, offsets, cid = stamps["images"], stamps["band"], np.asarray(stamps["offsets"], np.int64), np.asarray(stamps["cid"])
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"{source}: images must be (n, S, S), got shape {images.shape}")
    if len(offsets) != len(cid) + 1 or offsets[-1] != len(images) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{source}: offsets (len {len(offsets)}, last {offsets[-1]}) inconsistent with "
                         f"{len(cid)} objects and {len(images)} images")
    by_cid = objects.set_index("CID")
    missing = np.setdiff1d(cid, by_cid.index.to_numpy())
    if len(missing):
        raise ValueError(f"{source}: CID {int(missing[0])} has stamps but no row in the objects table")
    obj = by_cid.loc[cid].reset_index()
    labels, names = pp.task_labels(obj["label"].tolist(), task)
    partition = _ingest_partition(obj, seed, snia_uncertain)
    if partition is None:
        partition = default_partition(obj, labels, seed)
    bad = ~np.isin(partition, PARTITIONS + ("",))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"partition of CID {int(cid[r])}: {partition[r]!r} not in {PARTITIONS}")

    keep_img, off1 = pp.drop_empty_images(images, band, offsets)
    sel, off2 = pp.select_bands(band[keep_img], off1, bands)
    img_rows = keep_img[sel]
    lengths = np.diff(off2)
    keep_obj = (labels >= 0) & (lengths > 0) & (partition != "")
    # rebuild the flat arrays for the kept objects only
    seg = np.repeat(keep_obj, lengths)
    img_rows = img_rows[seg]
    new_off = np.concatenate([[0], np.cumsum(lengths[keep_obj])]).astype(np.int64)
    band_k = np.asarray(band)[img_rows].astype(np.int8)
    part_k = partition[keep_obj]
    # bandwise statistics from the pre-training (Train) images only
    obj_of_img = np.repeat(np.arange(keep_obj.sum()), np.diff(new_off))
    train_img = np.flatnonzero(part_k[obj_of_img] == "Train")
    stats_rows = train_img if len(train_img) else np.arange(len(img_rows))
    # statistics block by block over a lazy view of the selected rows (never the whole array at once)
    view = ScaledRows(images, img_rows, band_k)
    if scaling == "asinh":
        noise = pp.noise_scale(view, band_k, stats_rows)
        view = view.scaled(noise=noise)
    elif scaling != "linear":
        raise ValueError(f"convention.scaling: {scaling!r} not in ['linear', 'asinh']")
    else:
        noise = np.ones(6)
    stats = pp.band_norm_stats(view, band_k, stats_rows)
    norm = view.scaled(noise=noise if scaling == "asinh" else None, stats=stats)
    mb = norm.nbytes / 2**20
    if stream_above_mb is None or mb <= float(stream_above_mb):
        norm = norm.materialise()
    else:
        log.info("%s: %d selected images (%.0f MB) > stream_above_mb %s: each sequence is read and normalised "
                 "when fetched", source, len(img_rows), mb, stream_above_mb)
    meta = {
        "bands": bands, "task": task, "n_objects_in": int(len(cid)),
        "n_excluded_label": int((labels < 0).sum()), "n_no_image_in_bands": int(((labels >= 0) & (lengths == 0)).sum()),
        "snia_uncertain": snia_uncertain, "n_snia_uncertain": int(_uncertain_snia(obj).sum()),
        "n_no_partition": int(((labels >= 0) & (lengths > 0) & (partition == "")).sum()),
        "n_objects": int(keep_obj.sum()), "n_images": int(len(img_rows)),
        "partition_counts": {p: {names[c]: int(((part_k == p) & (labels[keep_obj] == c)).sum()) for c in range(len(names))}
                             for p in PARTITIONS},
        "scaling": scaling, "window": window,
        "norm_stats": {pp.BAND_NAMES[b - 1]: {"mean": float(stats[b, 0]), "std": float(stats[b, 1]),
                                              "asinh_noise": float(noise[b])} for b in range(1, 6)},
        "sequence_length": {"median": float(np.median(np.diff(new_off))) if len(new_off) > 1 else 0.0,
                            "max": int(np.diff(new_off).max()) if len(new_off) > 1 else 0},
    }
    return SequenceData(images=norm, band=band_k, offsets=new_off, labels=labels[keep_obj],
                        object_ids=cid[keep_obj].astype(np.int64), partition=part_k, class_names=tuple(names),
                        M=int(M), crop=crop, window=window, norm_stats=stats, meta=meta, image_rows=img_rows)


def synthetic_ingest(n_objects: int = 120, stamp: int = 16, max_epochs: int = 12, seed: int = 0,
                     ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Tiny SDSS-ingest-like tables for tests: a class-dependent Gaussian blob light curve.

    Classes carry a learnable signal (SNe rise and fade, AGN/Variable vary, Unknown is noise);
    each epoch has a random subset of the 5 bands (missing channels are absent).
    """
    rng = np.random.default_rng(seed)
    classes = np.array(["AGN", "SNIa", "SNOther", "Variable", "Unknown"])
    lab = classes[rng.integers(0, len(classes), n_objects)]
    spec = rng.random(n_objects) < 0.6
    yy, xx = np.mgrid[:stamp, :stamp] - stamp / 2
    blob = np.exp(-(xx ** 2 + yy ** 2) / 4.0).astype(np.float32)
    imgs, bands, offs, mjds = [], [], [0], []
    for k in range(n_objects):
        n_ep = int(rng.integers(3, max_epochs + 1))
        t = np.sort(rng.uniform(0, 100, n_ep))
        for e, tt in enumerate(t):
            amp = {"AGN": 1 + 0.3 * np.sin(tt / 7), "SNIa": 4 * np.exp(-((tt - 40) / 12) ** 2),
                   "SNOther": 2 * np.exp(-((tt - 40) / 25) ** 2), "Variable": 1 + np.sin(tt / 2),
                   "Unknown": 0.0}[lab[k]]
            present = np.flatnonzero(rng.random(5) < 0.7)
            if len(present) == 0:
                present = np.array([1])
            for b in present:
                imgs.append(amp * (1 + 0.2 * b) * blob + rng.normal(0, 0.3, (stamp, stamp)).astype(np.float32) + 0.5 * b)
                bands.append(b + 1)
                mjds.append(tt)
        offs.append(len(imgs))
    is_sn = np.isin(lab, ["SNIa", "SNOther"])
    spec = np.where(np.isin(lab, ["AGN"]), True, np.where(lab == "Variable", False, spec))
    lab = np.where(is_sn & ~spec, np.char.add(lab.astype(str), "_PT"), lab)  # photometrically typed SNe
    objects = pd.DataFrame({"CID": np.arange(1000, 1000 + n_objects, dtype=np.int64), "label": lab,
                            "spec_confirmed": spec, "redshift": rng.uniform(0.05, 0.4, n_objects)})
    offsets = np.asarray(offs, dtype=np.int64)
    stamps = {"images": np.asarray(imgs, dtype=np.float32), "band": np.asarray(bands, dtype=np.int8),
              "mjd": np.asarray(mjds, dtype=np.float64), "offsets": offsets,
              "obj_index": np.repeat(np.arange(n_objects), np.diff(offsets)).astype(np.int32),
              "cid": objects["CID"].to_numpy()}
    return objects, stamps
