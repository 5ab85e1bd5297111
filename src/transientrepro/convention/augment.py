"""Label- and band-preserving augmentations of one image sequence (ConvEntion §3.1).

Applied per sample, freshly at every epoch ("we recall the dataset at every epoch, the transforms
operation is executed"):

* ``p_drop``: each image (step) is dropped with this probability (at least one image is kept);
  the band id of a dropped image is dropped with it (one index mask for both arrays). The
  authors' code has no such drop; its ``RandomDrop`` (drop ``excess//2 .. excess`` images of a
  sequence longer than M) is the window policy ``drop_then_window`` (``preprocess``).
* ``geometry`` (the same transform for every image of the sequence):
  - ``rotate_or_flip`` (the authors' code, a6d0e5c ``finetune_dataset_SDSSFewChanSpectro.py``
    ``RandomRotation`` / ``SeqFlip``): with probability 1/2 a rotation by an angle drawn from
    U(-rotate_degrees, +rotate_degrees) (bilinear, zero fill outside the stamp, about the
    centre, as ``skimage.transform.rotate``), otherwise a flip along one random axis;
  - ``rot90_flips`` (the project before issue 10, the paper's "sequence rotation, horizontal
    and vertical flip"): a random multiple of 90 degrees (``rotate90``) and independent
    horizontal and vertical flips (``flip``);
  - ``none``.
* sequence shifting (a random window of M of a longer sequence) is done by the dataset through
  ``preprocess.select_images`` and is switched by ``shift``.

The label of the sequence is never touched; geometry transforms act on pixels only, so every
image keeps its band id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy import ndimage

GEOMETRIES = ("rotate_or_flip", "rot90_flips", "none")


@dataclass(frozen=True)
class AugmentConfig:
    p_drop: float = 0.0
    geometry: str = "rotate_or_flip"
    rotate_degrees: float = 15.0
    rotate90: bool = True
    flip: bool = True
    shift: bool = True

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any] | None, where: str = "convention.augment") -> "AugmentConfig":
        m = dict(m or {})
        unknown = set(m) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if "rotate_degrees" in m:
            m["rotate_degrees"] = float(m["rotate_degrees"])
        cfg = cls(**m)
        if not 0.0 <= cfg.p_drop < 1.0:
            raise ValueError(f"{where}.p_drop must be in [0, 1), got {cfg.p_drop}")
        if cfg.geometry not in GEOMETRIES:
            raise ValueError(f"{where}.geometry: {cfg.geometry!r} not in {list(GEOMETRIES)}")
        if not 0.0 <= cfg.rotate_degrees <= 180.0:
            raise ValueError(f"{where}.rotate_degrees must be in [0, 180], got {cfg.rotate_degrees}")
        return cfg


def drop_images(images: np.ndarray, band: np.ndarray, rng: np.random.Generator, p_drop: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Drop each image (and its band id) with probability ``p_drop``; at least one is kept."""
    if len(images) != len(band):
        raise ValueError(f"augment: {len(images)} images but {len(band)} band ids")
    if p_drop > 0 and len(images) > 1:
        keep = rng.random(len(images)) >= p_drop
        if not keep.any():
            keep[rng.integers(len(images))] = True
        images, band = images[keep], band[keep]
    return images, band


def augment_geometry(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """The sequence-wide geometric transform of ``cfg.geometry`` on ``x`` (..., S, S)."""
    h, w = x.ndim - 2, x.ndim - 1
    if cfg.geometry == "rotate_or_flip":
        if rng.random() < 0.5:
            angle = float(rng.uniform(-cfg.rotate_degrees, cfg.rotate_degrees))
            x = ndimage.rotate(np.asarray(x, dtype=np.float32), angle, axes=(w, h), reshape=False, order=1,
                               mode="constant", cval=0.0)
        else:
            x = np.flip(x, axis=h if rng.random() < 0.5 else w)
    elif cfg.geometry == "rot90_flips":
        if cfg.rotate90:
            k = int(rng.integers(4))
            if k:
                x = np.rot90(x, k=k, axes=(h, w))
        if cfg.flip:
            if rng.random() < 0.5:
                x = np.flip(x, axis=w)
            if rng.random() < 0.5:
                x = np.flip(x, axis=h)
    return np.ascontiguousarray(x)


def augment_sequence(images: np.ndarray, band: np.ndarray, rng: np.random.Generator,
                     cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return augmented (images (L', S, S), band (L',)) with L' <= L; labels untouched."""
    images, band = drop_images(images, band, rng, cfg.p_drop)
    return augment_geometry(images, rng, cfg), np.asarray(band)
