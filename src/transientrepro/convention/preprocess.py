"""ConvEntion data modelling (Bairouk et al. 2023, §3.1, Fig. 4).

Band separation
    A multi-band epoch is a 5-channel image (u, g, r, i, z), often with empty (missing) channels.
    ConvEntion drops the empty channels and turns every remaining (epoch, band) channel into its own
    2-D sequence element, tagged with its band id u..z -> 1..5 (``BAND_IDS``). Band id 0 is reserved
    for padding ("missing"): it is masked in attention and pooling and its BandEmbed row is fixed 0.
    ``separate_bands`` does this for a (T, 5, S, S) cube; the SDSS ingest already stores the flat,
    separated layout (images, band, offsets), and ``drop_empty_images`` re-checks it.

Bands
    ``ugriz`` keeps every image; ``g`` keeps only band 2 images (``select_bands``).

Tasks
    ``4class``: AGN, SNIa, SNOther, Variable (Unknown excluded); ``3class``: AGN, SN, Variable with
    SNIa and SNOther merged into SN (Table 4). Photometrically typed labels (``SNIa_PT``,
    ``SNOther_PT``) map to their class.

Bandwise normalisation (§4.1 "the images were normalized bandwise")
    For each band b: mean_b and std_b over all pixels of all images of band b in the *pre-training*
    (photometrically typed, Train partition) set; x <- (x - mean_b) / std_b. The Train partition is
    disjoint from the spectroscopic cross-validation set, so no statistic leaks from a test fold.
    Optional (``scaling="asinh"``, our addition; ``"linear"`` is the paper literally): before that,
    x <- asinh(x / noise_b) with noise_b the robust (MAD) pixel noise of band b in the same set,
    which compresses the heavy-tailed fluxes of bright stars and nuclei.

Windows of at most M images (the paper: M = 99) -- training and test must agree (issue 10, row 4)
    An SN lives in one season of a three-season sequence, so a window that misses the peak is a
    sequence with the label but not the signal. ``window`` (config ``convention.window``) picks
    the training windows; evaluation always uses a deterministic one:
    * ``peak`` (default): training windows are random shifts that contain the brightest image
      (largest mean over the central 5x5 pixels of the normalised image), its position in the
      window uniform; evaluation takes the window centred on the brightest image (``crop=
      "brightest"``, clipped to the sequence ends) -- one of the training windows;
    * ``uniform``: a uniformly random window in training (the project before issue 10), the
      brightest-centred (or first) one at evaluation: the two disagree;
    * ``drop_then_window`` (the authors' code, a6d0e5c ``finetune_dataset_SDSSFewChanSpectro.py``
      ``RandomDrop`` + ``randint`` start): first drop a random ``excess//2 .. excess`` of the
      images (excess = length - M), then take a uniformly random window of M, which covers at
      least M / (M + ceil(excess / 2)) of the remaining sequence (42 % for a 372-image sequence at
      M = 99). The authors evaluate with the same random transform; here the
      evaluation draw is seeded per object, so it is reproducible.
    Sequences shorter than M are left-aligned and padded with zero images of band id 0, mask False.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

BAND_NAMES = ("u", "g", "r", "i", "z")
BAND_IDS = {b: i + 1 for i, b in enumerate(BAND_NAMES)}  # u..z -> 1..5; 0 = padding
BANDSETS = {"ugriz": (1, 2, 3, 4, 5), "g": (2,)}
TASKS = {
    "4class": ("AGN", "SNIa", "SNOther", "Variable"),
    "3class": ("AGN", "SN", "Variable"),
}
_LABEL_ALIASES = {"SNIa_PT": "SNIa", "SNOther_PT": "SNOther", "SNIa-PT": "SNIa", "SNOther-PT": "SNOther"}
CROP_POLICIES = ("brightest", "first")
WINDOW_POLICIES = ("peak", "uniform", "drop_then_window")
BLOCK_IMAGES = 4096  # images per read when scanning the stamps (4096 x 32 x 32 float32 = 16 MB)


class ConventionDataError(ValueError):
    """Bad input to the ConvEntion preprocessing (names what and where)."""


def task_labels(labels: Sequence[str], task: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer class index per object for ``task`` (-1 = excluded, e.g. Unknown) and class names."""
    if task not in TASKS:
        raise ConventionDataError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    names = TASKS[task]
    index = {n: i for i, n in enumerate(names)}
    out = np.full(len(labels), -1, dtype=np.int64)
    for row, lab in enumerate(labels):
        lab = _LABEL_ALIASES.get(str(lab), str(lab))
        if task == "3class" and lab in ("SNIa", "SNOther"):
            lab = "SN"
        out[row] = index.get(lab, -1)
    return out, names


def separate_bands(cube: np.ndarray, mjd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band separation of Fig. 4 for one object.

    ``cube`` is (T, 5, S, S) in u,g,r,i,z channel order; an empty channel is all-zero or not finite
    everywhere. Returns ``images`` (n, S, S) float32, ``band`` (n,) int8 in 1..5 and the epoch
    index (n,) of each kept image, ordered by (epoch, band).
    """
    cube = np.asarray(cube)
    if cube.ndim != 4 or cube.shape[1] != 5:
        raise ConventionDataError(f"separate_bands: cube must be (T, 5, S, S), got shape {cube.shape}")
    finite = np.isfinite(cube)
    present = (finite & (cube != 0)).any(axis=(2, 3))  # (T, 5)
    t_idx, b_idx = np.nonzero(present)
    images = np.where(finite, cube, 0.0)[t_idx, b_idx].astype(np.float32)
    return images, (b_idx + 1).astype(np.int8), t_idx.astype(np.int64)


def drop_empty_images(images: np.ndarray, band: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the non-empty images of the flat layout and the matching new offsets.

    An image is empty when it is all zero or has no finite pixel; band ids outside 1..5 are errors.
    """
    band = np.asarray(band)
    bad = ~np.isin(band, (1, 2, 3, 4, 5))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConventionDataError(f"stamps: band id {int(band[i])} at image row {i} is not in 1..5 (u..z)")
    keep = np.zeros(len(images), dtype=bool)
    for start in range(0, len(images), BLOCK_IMAGES):  # block by block: images may be a lazy view of the store
        flat = np.asarray(images[start:start + BLOCK_IMAGES]).reshape(-1, int(np.prod(images.shape[1:])))
        keep[start:start + len(flat)] = (np.isfinite(flat) & (flat != 0)).any(axis=1)
    return _subset(keep, offsets)


def select_bands(band: np.ndarray, offsets: np.ndarray, bands: str | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the images whose band is in ``bands`` ("ugriz", "g" or ids) and the new offsets."""
    ids = BANDSETS[bands] if isinstance(bands, str) and bands in BANDSETS else bands
    if isinstance(ids, str):
        raise ConventionDataError(f"unknown band set {bands!r}; expected one of {sorted(BANDSETS)}")
    return _subset(np.isin(np.asarray(band), ids), offsets)


def _subset(keep: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.add.reduceat(keep.astype(np.int64), offsets[:-1]) if len(keep) else np.zeros(len(offsets) - 1, np.int64)
    # reduceat on an empty segment returns the next element; fix zero-length objects
    counts = np.where(np.diff(offsets) == 0, 0, counts)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.flatnonzero(keep), new_offsets


def band_norm_stats(images: np.ndarray, band: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(6, 2) array: [mean, std] of the pixels of each band id (row 0 = padding: [0, 1])."""
    stats = np.zeros((6, 2), dtype=np.float64)
    stats[:, 1] = 1.0
    rows = np.arange(len(band)) if rows is None else np.asarray(rows)
    for b in range(1, 6):
        sel = rows[np.asarray(band)[rows] == b]
        if len(sel) == 0:
            continue
        # blockwise moments: ``images`` may be a lazy view of the store (only a block is read at a time)
        s = s2 = 0.0
        n = 0
        for start in range(0, len(sel), BLOCK_IMAGES):
            chunk = np.asarray(images[sel[start:start + BLOCK_IMAGES]], dtype=np.float64)
            s += chunk.sum()
            s2 += np.square(chunk).sum()
            n += chunk.size
        mean = s / n
        std = float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
        stats[b] = [mean, std if std > 0 else 1.0]
    return stats


def noise_scale(images: np.ndarray, band: np.ndarray, rows: np.ndarray | None = None, max_images: int = 2000,
                seed: int = 0) -> np.ndarray:
    """(6,) robust per-band pixel noise, 1.4826 * MAD over (a seeded sample of) the ``rows`` images."""
    out = np.ones(6, dtype=np.float64)
    rows = np.arange(len(band)) if rows is None else np.asarray(rows)
    rng = np.random.default_rng(seed)
    for b in range(1, 6):
        sel = rows[np.asarray(band)[rows] == b]
        if len(sel) == 0:
            continue
        if len(sel) > max_images:
            sel = np.sort(rng.choice(sel, max_images, replace=False))
        x = np.asarray(images[sel], dtype=np.float64).ravel()
        mad = 1.4826 * np.median(np.abs(x - np.median(x)))
        out[b] = mad if mad > 0 else 1.0
    return out


def asinh_scale(images: np.ndarray, band: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Compress the dynamic range: x <- asinh(x / noise_b) (linear within the noise, log beyond)."""
    s = scale[np.asarray(band, dtype=np.int64)].astype(np.float32)[:, None, None]
    return np.arcsinh(np.asarray(images, dtype=np.float32) / s).astype(np.float32)


def normalise(images: np.ndarray, band: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Bandwise (x - mean_b) / std_b as float32 (a new array)."""
    b = np.asarray(band, dtype=np.int64)
    mean = stats[b, 0].astype(np.float32)[:, None, None]
    std = stats[b, 1].astype(np.float32)[:, None, None]
    return ((np.asarray(images, dtype=np.float32) - mean) / std).astype(np.float32)


def brightness(images: np.ndarray, half: int = 2) -> np.ndarray:
    """Mean over the central (2*half+1)^2 pixels of each image (used to find the brightest epoch)."""
    s = images.shape[-1]
    c = s // 2
    lo, hi = max(c - half, 0), min(c + half + 1, s)
    return np.asarray(images[:, lo:hi, lo:hi], dtype=np.float64).mean(axis=(1, 2))


def window(length: int, M: int, policy: str = "brightest", bright: np.ndarray | None = None,
           rng: np.random.Generator | None = None, shift: str = "uniform") -> tuple[int, int]:
    """[start, stop) of the at most M images kept from a sequence of ``length``.

    ``rng`` given (training-time sequence shifting): a random window, uniform over all starts
    (``shift="uniform"``) or over the starts whose window contains argmax(bright) (``"peak"``).
    Otherwise ``policy``: "brightest" centres the window on argmax(bright), "first" keeps the first M.
    """
    if length <= M:
        return 0, length
    if rng is not None:
        if shift == "peak":
            if bright is None or len(bright) != length:
                raise ConventionDataError("window: shift='peak' needs one brightness value per image")
            p = int(np.argmax(bright))
            start = int(rng.integers(max(0, p - M + 1), min(p, length - M) + 1))
        elif shift == "uniform":
            start = int(rng.integers(0, length - M + 1))
        else:
            raise ConventionDataError(f"window: unknown shift {shift!r}; expected 'peak' or 'uniform'")
    elif policy == "first":
        start = 0
    elif policy == "brightest":
        if bright is None or len(bright) != length:
            raise ConventionDataError("window: crop='brightest' needs one brightness value per image")
        start = int(np.clip(int(np.argmax(bright)) - M // 2, 0, length - M))
    else:
        raise ConventionDataError(f"convention.data.crop: unknown policy {policy!r}; expected {CROP_POLICIES}")
    return start, start + M


def random_drop(length: int, M: int, rng: np.random.Generator) -> np.ndarray:
    """Indices kept by the authors' ``RandomDrop``: a sequence longer than M loses a random
    ``excess//2 .. excess`` of its images (excess = length - M), drawn without replacement;
    shorter ones keep everything. Order is preserved."""
    if length <= M:
        return np.arange(length)
    excess = length - M
    n_drop = int(rng.integers(excess // 2, excess + 1))
    drop = rng.choice(length, size=n_drop, replace=False)
    keep = np.ones(length, dtype=bool)
    keep[drop] = False
    return np.flatnonzero(keep)


def select_images(length: int, M: int, window_policy: str, crop: str, bright_fn, rng: np.random.Generator | None,
                  train: bool) -> np.ndarray:
    """Indices (ascending) of the at most M images fed to the network (see the module docstring).

    ``bright_fn(idx)`` returns the brightness of images ``idx`` (computed only when needed);
    ``rng``: the training draw (``train``: random shifts) or, for ``drop_then_window``, the seeded
    evaluation draw.
    """
    if window_policy not in WINDOW_POLICIES:
        raise ConventionDataError(f"convention.window: unknown policy {window_policy!r}; expected {WINDOW_POLICIES}")
    idx = np.arange(length)
    if window_policy == "drop_then_window":
        if rng is None:
            raise ConventionDataError("select_images: window='drop_then_window' needs a random generator")
        idx = idx[random_drop(length, M, rng)]
        a, b = window(len(idx), M, rng=rng, shift="uniform")
        return idx[a:b]
    if length <= M:
        return idx
    if train and rng is not None:
        bright = bright_fn(idx) if window_policy == "peak" else None
        a, b = window(length, M, rng=rng, bright=bright, shift=window_policy)
    else:
        a, b = window(length, M, crop, bright_fn(idx) if crop == "brightest" else None)
    return idx[a:b]


def pad(images: np.ndarray, band: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left-aligned zero padding to M: x (M, S, S) float32, band (M,) int64 (0 = pad), mask (M,) bool."""
    n = len(images)
    if n > M:
        raise ConventionDataError(f"pad: {n} images exceed M={M}; crop first")
    s = images.shape[-1] if n else 0
    x = np.zeros((M,) + tuple(images.shape[1:]), dtype=np.float32) if n else None
    if x is None:
        raise ConventionDataError("pad: empty sequence (an object has no image in the selected bands)")
    x[:n] = images
    b = np.zeros(M, dtype=np.int64)
    b[:n] = band
    mask = np.zeros(M, dtype=bool)
    mask[:n] = True
    del s
    return x, b, mask
