"""Epoch grouping of SDSS observations: light-curve tensors (SuperNNova-style) and ugriz / g image
frames for the CNN+RNN baselines.

An *epoch* is a set of observations of one object whose MJDs lie within ``epoch_tol`` days of the
epoch's first observation (SDSS scans the five bands within minutes, so ugriz of one night form
one epoch). Inputs are flat arrays sorted or not; every function sorts by (object, mjd) itself.

Light-curve features per epoch (``n_bands=5``), in this order:
  ``flux_<b>`` (5, transformed, 0 where the band is missing),
  ``flux_err_<b>`` (5, transformed, 0 where missing),
  ``mask_<b>`` (5, 1 where the band was observed at this epoch),
  ``log1p_dt`` (log(1 + days since the previous epoch), 0 for the first).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND_NAMES = ("u", "g", "r", "i", "z")


class LightCurveError(ValueError):
    """Bad light-curve / stamp input; the message names the array, object and row."""


def _check_flat(obj: np.ndarray, mjd: np.ndarray, band: np.ndarray, n_bands: int, where: str, base: int = 0,
                **extra: np.ndarray) -> None:
    """Equal lengths, finite mjd, band ids in ``base .. base + n_bands - 1``."""
    n = len(obj)
    for name, arr in {"mjd": mjd, "band": band, **extra}.items():
        if len(arr) != n:
            raise LightCurveError(f"{where}: array {name!r} has length {len(arr)}, expected {n} (same as object ids)")
    bad = np.flatnonzero(~np.isfinite(mjd))
    if bad.size:
        raise LightCurveError(f"{where}: non-finite mjd at row {int(bad[0])} (object {obj[bad[0]]})")
    bad = np.flatnonzero((band < base) | (band >= base + n_bands))
    if bad.size:
        raise LightCurveError(
            f"{where}: band index {int(band[bad[0]])} at row {int(bad[0])} (object {obj[bad[0]]}) outside {base}..{base + n_bands - 1}"
        )


def epoch_index(mjd: np.ndarray, epoch_tol: float) -> np.ndarray:
    """Epoch number (0, 1, ...) of each observation of ONE object; ``mjd`` must be sorted."""
    mjd = np.asarray(mjd, dtype=np.float64)
    if mjd.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(np.diff(mjd) < 0):
        raise LightCurveError("epoch_index: mjd must be sorted ascending")
    out = np.zeros(len(mjd), dtype=np.int64)
    start, e = mjd[0], 0
    for i in range(1, len(mjd)):
        if mjd[i] - start > epoch_tol:
            e += 1
            start = mjd[i]
        out[i] = e
    return out


@dataclass
class LightCurveTensors:
    """Padded epoch-grouped light curves: ``X`` (N, L, 3*n_bands+1) float32, ``lengths`` (N,)
    int64 (>= 1), ``object_ids`` (N,) in the requested order, ``mjd`` (N, L) epoch MJD (NaN pad)."""

    X: np.ndarray
    lengths: np.ndarray
    object_ids: np.ndarray
    mjd: np.ndarray
    feature_names: tuple[str, ...]


def feature_names(n_bands: int = 5) -> tuple[str, ...]:
    names = BAND_NAMES[:n_bands] if n_bands <= 5 else tuple(str(i) for i in range(n_bands))
    return tuple([f"flux_{b}" for b in names] + [f"flux_err_{b}" for b in names] + [f"mask_{b}" for b in names] + ["log1p_dt"])


def flux_scales(band: np.ndarray, flux_err: np.ndarray, n_bands: int = 5) -> np.ndarray:
    """Per-band flux scale (median |flux_err|, >0) used by :func:`transform_flux` (fit on training rows)."""
    band = np.asarray(band)
    flux_err = np.abs(np.asarray(flux_err, dtype=np.float64))
    scales = np.ones(n_bands)
    for b in range(n_bands):
        v = flux_err[(band == b) & np.isfinite(flux_err) & (flux_err > 0)]
        if v.size:
            scales[b] = float(np.median(v))
    return scales


def transform_flux(x: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """Sign-preserving compression ``arcsinh(x / scale)``: linear near 0, logarithmic for bright objects."""
    return np.arcsinh(np.asarray(x, dtype=np.float64) / scale)


def build_lightcurve_tensors(
    object_id: np.ndarray,
    mjd: np.ndarray,
    band: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    objects: np.ndarray,
    max_len: int,
    epoch_tol: float = 0.5,
    n_bands: int = 5,
    scales: np.ndarray | None = None,
) -> LightCurveTensors:
    """Epoch-grouped, padded light-curve tensors for ``objects`` (in that order).

    Observations of one band repeated within an epoch are combined by inverse-variance weighting.
    Rows with non-finite flux or flux_err (or flux_err <= 0) are dropped; an object with no valid
    row raises :class:`LightCurveError`. Sequences longer than ``max_len`` keep their first
    ``max_len`` epochs.
    """
    object_id = np.asarray(object_id)
    mjd = np.asarray(mjd, dtype=np.float64)
    band = np.asarray(band).astype(np.int64)
    flux = np.asarray(flux, dtype=np.float64)
    flux_err = np.asarray(flux_err, dtype=np.float64)
    _check_flat(object_id, mjd, band, n_bands, "light curves", flux=flux, flux_err=flux_err)
    if max_len < 1:
        raise LightCurveError(f"config baselines.max_len must be >= 1, got {max_len}")
    scales = flux_scales(band, flux_err, n_bands) if scales is None else np.asarray(scales, dtype=np.float64)
    valid = np.isfinite(flux) & np.isfinite(flux_err) & (flux_err > 0)
    order = np.lexsort((mjd, object_id))
    order = order[valid[order]]
    sid = object_id[order]
    uniq, starts = np.unique(sid, return_index=True)
    ends = np.append(starts[1:], len(sid))
    where = {u: (s, e) for u, s, e in zip(uniq.tolist(), starts, ends)}

    objects = np.asarray(objects)
    nf = 3 * n_bands + 1
    X = np.zeros((len(objects), max_len, nf), dtype=np.float32)
    T = np.full((len(objects), max_len), np.nan)
    lengths = np.zeros(len(objects), dtype=np.int64)
    for k, oid in enumerate(objects.tolist()):
        if oid not in where:
            raise LightCurveError(f"light curves: object {oid} has no valid observation (finite flux, flux_err > 0)")
        s, e = where[oid]
        rows = order[s:e]
        t = mjd[rows]
        ep = epoch_index(t, epoch_tol)
        n_ep = min(int(ep[-1]) + 1, max_len)
        keep = ep < n_ep
        ep, rows = ep[keep], rows[keep]
        b = band[rows]
        w = 1.0 / flux_err[rows] ** 2
        sw = np.zeros((n_ep, n_bands))
        swf = np.zeros((n_ep, n_bands))
        np.add.at(sw, (ep, b), w)
        np.add.at(swf, (ep, b), w * flux[rows])
        seen = sw > 0
        f = np.where(seen, swf / np.where(seen, sw, 1.0), 0.0)
        fe = np.where(seen, 1.0 / np.sqrt(np.where(seen, sw, 1.0)), 0.0)
        t_ep = np.array([t[keep][ep == i].min() for i in range(n_ep)])
        dt = np.diff(t_ep, prepend=t_ep[0])
        X[k, :n_ep, :n_bands] = np.where(seen, transform_flux(f, scales), 0.0)
        X[k, :n_ep, n_bands:2 * n_bands] = np.where(seen, transform_flux(fe, scales), 0.0)
        X[k, :n_ep, 2 * n_bands:3 * n_bands] = seen
        X[k, :n_ep, -1] = np.log1p(dt)
        T[k, :n_ep] = t_ep
        lengths[k] = n_ep
    return LightCurveTensors(X=X, lengths=lengths, object_ids=objects, mjd=T, feature_names=feature_names(n_bands))


# ----------------------------------------------------------------------------------------------
# Image frames (CNN+GRU / CNN+LSTM)
# ----------------------------------------------------------------------------------------------
@dataclass
class EpochFrames:
    """Per object, which stamp goes to which (epoch, channel): flat arrays in object order.

    ``frame_offsets`` (n_obj+1): epochs of object k are ``frame_offsets[k]:frame_offsets[k+1]``
    (at most ``max_len``); ``image_index``/``frame``/``channel``: stamp ``image_index[j]`` fills
    channel ``channel[j]`` of global frame ``frame[j]``.
    """

    frame_offsets: np.ndarray
    image_index: np.ndarray
    frame: np.ndarray
    channel: np.ndarray
    n_channels: int

    def lengths(self) -> np.ndarray:
        return np.diff(self.frame_offsets)


def build_epoch_frames(
    obj_index: np.ndarray,
    mjd: np.ndarray,
    band: np.ndarray,
    objects: np.ndarray,
    bands: tuple[int, ...],
    max_len: int,
    epoch_tol: float = 0.5,
) -> EpochFrames:
    """Group the stamps of ``objects`` (indices into the ingest's object table) into epoch frames.

    ``band`` holds band ids 1..5 (ugriz) as in ``stamps.h5``; ``bands`` the ids kept, in channel
    order (``(1, 2, 3, 4, 5)`` = ugriz, ``(2,)`` = g only). Missing bands of an epoch stay zero
    images. An object with no stamp in ``bands`` raises :class:`LightCurveError`. Epochs are formed
    on the kept bands only; a band repeated within an epoch keeps its first stamp.
    """
    obj_index = np.asarray(obj_index, dtype=np.int64)
    mjd = np.asarray(mjd, dtype=np.float64)
    band = np.asarray(band, dtype=np.int64)
    _check_flat(obj_index, mjd, band, 5, "stamps.h5", base=1)
    if max_len < 1:
        raise LightCurveError(f"config baselines.max_len must be >= 1, got {max_len}")
    chan_of = np.full(6, -1, dtype=np.int64)
    for c, b in enumerate(bands):
        if not 1 <= int(b) <= 5:
            raise LightCurveError(f"config baselines bands: band id {b} outside 1..5 (ugriz)")
        chan_of[int(b)] = c
    keep = chan_of[band] >= 0
    order = np.lexsort((band, mjd, obj_index))
    order = order[keep[order]]
    so = obj_index[order]
    uniq, starts = np.unique(so, return_index=True)
    ends = np.append(starts[1:], len(so))
    where = {u: (s, e) for u, s, e in zip(uniq.tolist(), starts, ends)}
    offsets = [0]
    idx, frm, ch = [], [], []
    for k in np.asarray(objects).tolist():
        if k not in where:
            names = "".join(BAND_NAMES[int(b) - 1] for b in bands)
            raise LightCurveError(f"stamps.h5: object index {k} has no stamp in bands {names!r}")
        s, e = where[k]
        rows = order[s:e]
        ep = epoch_index(mjd[rows], epoch_tol)
        n_ep = min(int(ep[-1]) + 1, max_len)
        sel = ep < n_ep
        rows, ep = rows[sel], ep[sel]
        c = chan_of[band[rows]]
        # first stamp per (epoch, channel)
        _, first = np.unique(ep * 16 + c, return_index=True)
        idx.append(rows[first])
        frm.append(offsets[-1] + ep[first])
        ch.append(c[first])
        offsets.append(offsets[-1] + n_ep)
    cat = lambda parts: np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
    return EpochFrames(
        frame_offsets=np.asarray(offsets, dtype=np.int64), image_index=cat(idx), frame=cat(frm), channel=cat(ch),
        n_channels=len(bands),
    )
