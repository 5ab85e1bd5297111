"""Label- and band-preserving augmentations of one image sequence (ConvEntion §3.1).

Applied per sample, freshly at every epoch ("we recall the dataset at every epoch, the transforms
operation is executed"), to the variable-length separated sequence *before* cropping/padding:

* ``p_drop``: each image (step) is dropped with this probability (at least one image is kept);
  the band id of a dropped image is dropped with it (one index mask for both arrays).
* ``rotate90``: the whole sequence is rotated by the same random multiple of 90 degrees.
* ``flip``: random horizontal and (independently) vertical flip of the whole sequence.
* sequence shifting/cropping (a random window of M of a longer sequence) is done by the dataset
  through ``preprocess.window(..., rng=...)`` and is switched by ``shift``.

The label of the sequence is never touched; geometry transforms act on pixels only, so every
image keeps its band id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    p_drop: float = 0.1
    rotate90: bool = True
    flip: bool = True
    shift: bool = True

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None) -> "AugmentConfig":
        m = dict(m or {})
        unknown = set(m) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"convention.augment: unknown keys {sorted(unknown)}")
        cfg = cls(**m)
        if not 0.0 <= cfg.p_drop < 1.0:
            raise ValueError(f"convention.augment.p_drop must be in [0, 1), got {cfg.p_drop}")
        return cfg


def augment_sequence(images: np.ndarray, band: np.ndarray, rng: np.random.Generator,
                     cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return augmented (images (L', S, S), band (L',)) with L' <= L; labels untouched."""
    if len(images) != len(band):
        raise ValueError(f"augment_sequence: {len(images)} images but {len(band)} band ids")
    if cfg.p_drop > 0 and len(images) > 1:
        keep = rng.random(len(images)) >= cfg.p_drop
        if not keep.any():
            keep[rng.integers(len(images))] = True
        images, band = images[keep], band[keep]
    if cfg.rotate90:
        k = int(rng.integers(4))
        if k:
            images = np.rot90(images, k=k, axes=(1, 2))
    if cfg.flip:
        if rng.random() < 0.5:
            images = images[:, :, ::-1]
        if rng.random() < 0.5:
            images = images[:, ::-1, :]
    return np.ascontiguousarray(images), np.asarray(band)
