"""SDSS-II-SN-survey-like image time series (deterministic by seed), written in the layout of
:mod:`.fitsio` (``catalog.csv``, ``stamps/{CID}.fits``, ``lightcurves.csv``).

Model (cheap but physically motivated):

- Cadence: three autumn seasons (1 Sep - 30 Nov 2005/2006/2007, MJD 53614-54435). Survey nights
  every ``night_step_days`` (jittered; the real survey revisited each strip about every other
  night), a fraction ``weather_loss`` lost to weather, each object further misses a fraction
  ``object_epoch_loss`` of nights (strip edges, chip gaps). All five bands share one MJD per night
  (drift scan); each band is independently missing with probability ``band_missing[b]`` (at least
  one band is kept per epoch).
- Observing conditions per night: seeing FWHM (r) log-normal around 1.4" (clipped 0.9-2.4"),
  band-dependent (u worse), Moon-phase-dependent sky brightness (blue bands most), giving the pixel
  noise through single-epoch 5-sigma depths u,g,r,i,z = 22.0, 22.2, 22.2, 21.3, 20.5 (dark sky,
  1.4"); source Poisson noise included; small astrometric jitter (0.15 px) per epoch.
- PSF: double Gaussian (core + 10% wing of twice the width), pixel-integrated for point sources;
  host galaxies are Sersic (n=1 discs, n=4 spheroids) convolved with the same PSF by FFT.
- Pixels: sky-subtracted calibrated flux in nanomaggies, 0.396"/pixel, stamp centred on the
  candidate (RA, DEC).
- Classes (labels as ConvEntion Table 1, scaled to ``n_objects``, floored at ``min_per_class``):
  SNe (Ia: SALT-like stretch/colour Bazin template + i/z secondary bump, blue at peak; II:
  plateau, fast UV decline; Ibc: faster and redder) at an offset in a host, in one season only;
  AGN: nuclear point source with damped-random-walk variability over all seasons (bluer bands more
  variable), host for z < 0.8; Variables: stellar point sources without host (RR Lyrae, eclipsing
  binaries, long-period and irregular variables); Unknown: faint/high-z transients, faint
  variables or artefacts with sparse coverage. Photometrically typed SNe (``*_PT``) are fainter
  and at higher redshift than the spectroscopic ones and a fraction ``pt_contamination`` of them
  has the wrong type, as photometric typing does.
- Light curves: forced PSF photometry at the candidate position on each stamp after subtracting
  the (noiseless) host model, i.e. an ideal difference image: FLUX, FLUXERR in microjansky.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import erf
from tqdm import tqdm

from ..io import atomic_path
from ..paper import paper_numbers
from .classes import BANDS, LABELS, SPEC_CONFIRMED_LABELS
from .fitsio import (
    NMGY_TO_UJY,
    PIXEL_SCALE_ARCSEC,
    stamp_path,
    write_catalog,
    write_lightcurves,
    write_stamps,
)

log = logging.getLogger(__name__)

#: 1 Sep - 30 Nov of 2005, 2006, 2007 (MJD, end exclusive).
SEASONS: tuple[tuple[float, float], ...] = ((53614.0, 53705.0), (53979.0, 54070.0), (54344.0, 54435.0))
LAMBDA_EFF = np.array([3551.0, 4686.0, 6166.0, 7480.0, 8932.0])  # Angstrom
DEPTH_5SIG = np.array([22.0, 22.2, 22.2, 21.3, 20.5])  # single-epoch 5-sigma point-source AB mag
SKY_MAG = np.array([22.1, 21.8, 20.9, 20.2, 19.0])  # dark-sky AB mag / arcsec^2
MOON_SKY_BOOST = np.array([3.0, 2.2, 1.3, 0.8, 0.5])  # extra sky (x dark) at full Moon
NEW_MOON_MJD = 53616.8  # 2005-09-03
SYNODIC = 29.530589
FIDUCIAL_FWHM = 1.4
PIX_AREA = PIXEL_SCALE_ARCSEC**2


@dataclass
class SimConfig:
    """Simulator settings (config ``sdss.simulate``)."""

    seed: int = 2014
    n_objects: int = 600
    stamp_size: int = 32
    min_per_class: int = 20
    night_step_days: float = 7.0
    weather_loss: float = 0.3
    object_epoch_loss: float = 0.1
    band_missing: list[float] = field(default_factory=lambda: [0.10, 0.04, 0.03, 0.04, 0.10])
    pt_contamination: float = 0.08

    @classmethod
    def from_dict(cls, d: dict) -> "SimConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"config sdss.simulate: unknown key(s) {sorted(unknown)}")
        cfg = cls(**known)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.stamp_size < 8:
            raise ValueError(f"config sdss.simulate.stamp_size={self.stamp_size}: must be >= 8")
        if len(self.band_missing) != 5 or not all(0 <= p < 1 for p in self.band_missing):
            raise ValueError(f"config sdss.simulate.band_missing={self.band_missing}: need 5 values in [0, 1)")
        if not 0 <= self.weather_loss < 1 or not 0 <= self.object_epoch_loss < 1:
            raise ValueError("config sdss.simulate.weather_loss / object_epoch_loss must be in [0, 1)")
        if self.night_step_days < 1:
            raise ValueError(f"config sdss.simulate.night_step_days={self.night_step_days}: must be >= 1")
        if self.n_objects < 7 * self.min_per_class:
            raise ValueError(f"config sdss.simulate.n_objects={self.n_objects} < 7 classes x "
                             f"min_per_class={self.min_per_class}")


# ----------------------------------------------------------------------------- class mix

def class_counts(n_objects: int, min_per_class: int) -> dict[str, int]:
    """ConvEntion Table 1 proportions scaled to ``n_objects`` (largest remainder), each class at
    least ``min_per_class``."""
    paper = paper_numbers()["convention"]["class_counts"]
    w = np.array([float(paper[c]) for c in LABELS])
    counts = np.full(len(LABELS), min_per_class, dtype=int)
    rest = n_objects - counts.sum()
    if rest < 0:
        raise ValueError(f"n_objects={n_objects} < {len(LABELS)} x min_per_class={min_per_class}")
    # distribute so that final counts follow the paper shares where they exceed the floor
    target = w / w.sum() * n_objects
    extra = np.clip(target - min_per_class, 0, None)
    if extra.sum() > 0:
        share = extra / extra.sum() * rest
        add = np.floor(share).astype(int)
        rem = rest - add.sum()
        add[np.argsort(-(share - add), kind="stable")[:rem]] += 1
        counts += add
    else:
        counts[np.argmax(w)] += rest
    return dict(zip(LABELS, counts.tolist()))


# ----------------------------------------------------------------------------- cosmology

def _comoving_mpc(z: float, h0: float = 70.0, om: float = 0.3) -> float:
    zz = np.linspace(0.0, z, 256)
    return 299792.458 / h0 * np.trapezoid(1.0 / np.sqrt(om * (1 + zz) ** 3 + 1 - om), zz)


def distance_modulus(z: float) -> float:
    dl = (1 + z) * _comoving_mpc(z)
    return 5 * np.log10(dl) + 25.0


def arcsec_per_kpc(z: float) -> float:
    da = _comoving_mpc(z) / (1 + z)
    return 206265.0 / (da * 1000.0)


def mag_to_nmgy(m):
    return 10.0 ** (-0.4 * (np.asarray(m, dtype=float) - 22.5))


# ----------------------------------------------------------------------------- cadence

def survey_nights(rng: np.random.Generator, cfg: SimConfig) -> np.ndarray:
    """Survey night MJDs (integer days) over the three seasons, after weather losses."""
    nights = []
    for a, b in SEASONS:
        base = np.arange(a, b, cfg.night_step_days)
        jit = rng.integers(0, max(int(cfg.night_step_days), 1), size=len(base))
        n = np.floor(base + jit)
        n = n[n < b]
        keep = rng.random(len(n)) >= cfg.weather_loss
        nights.append(n[keep])
    return np.unique(np.concatenate(nights))


@dataclass
class NightConditions:
    mjd: np.ndarray  # (n_nights,) observation mid-time
    fwhm: np.ndarray  # (n_nights, 5) arcsec
    sky_scale: np.ndarray  # (n_nights, 5) sky / dark sky


def night_conditions(rng: np.random.Generator, nights: np.ndarray) -> NightConditions:
    n = len(nights)
    mjd = nights + rng.uniform(0.13, 0.38, n)  # ~03:00-09:00 UT at APO
    fr = np.clip(np.exp(rng.normal(np.log(FIDUCIAL_FWHM), 0.18, n)), 0.9, 2.4)
    fwhm = fr[:, None] * (LAMBDA_EFF[None, :] / LAMBDA_EFF[2]) ** -0.2 * np.exp(rng.normal(0, 0.03, (n, 5)))
    illum = 0.5 * (1 - np.cos(2 * np.pi * (mjd - NEW_MOON_MJD) / SYNODIC))
    up = rng.uniform(0.2, 1.0, n)  # Moon altitude / distance factor
    sky = (1 + illum[:, None] * up[:, None] * MOON_SKY_BOOST[None, :]) * np.exp(rng.normal(0, 0.08, (n, 5)))
    return NightConditions(mjd=mjd, fwhm=fwhm, sky_scale=sky)


def _noise_constants() -> tuple[np.ndarray, np.ndarray]:
    """Dark-sky pixel rms (nMgy) at the fiducial seeing and effective gain (electrons / nMgy)."""
    sig_px = FIDUCIAL_FWHM / 2.3548 / PIXEL_SCALE_ARCSEC
    n_eff = 4 * np.pi * sig_px**2
    sigma0 = mag_to_nmgy(DEPTH_5SIG) / 5.0 / np.sqrt(n_eff)
    sky_pix = mag_to_nmgy(SKY_MAG) * PIX_AREA
    gain = sky_pix / sigma0**2
    return sky_pix, gain


SKY_PIX_DARK, GAIN = _noise_constants()


# ----------------------------------------------------------------------------- light-curve models

def _bazin(dt, tau_r, tau_f):
    dt = np.asarray(dt, float)
    shift = tau_r * np.log(max(tau_f / tau_r - 1.0, 1e-3))
    u = dt + shift
    return np.exp(-np.clip(u / tau_f, -50, 50)) / (1 + np.exp(-np.clip(u / tau_r, -50, 50)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def sn_shape(kind: str, dt: np.ndarray, b: int, p: dict) -> np.ndarray:
    """Un-normalised rest-frame light-curve shape of band ``b`` at rest-frame days ``dt``."""
    if kind == "Ia":
        s = p["stretch"]
        tau_f = np.array([10.0, 14.0, 22.0, 28.0, 30.0])[b] * s
        f = _bazin(dt, 4.0 * s, tau_f)
        bump = np.array([0.0, 0.0, 0.12, 0.45, 0.40])[b]
        return f + bump * np.exp(-0.5 * ((dt - 27.0 * s) / (7.0 * s)) ** 2) * _sigmoid(dt / 3.0)
    if kind == "II":
        plateau_w = np.array([0.15, 0.45, 0.80, 0.85, 0.85])[b]
        tau1 = np.array([12.0, 20.0, 30.0, 35.0, 40.0])[b]
        early = _bazin(dt, 3.0, tau1)
        plat = _sigmoid((dt + 6.0) / 2.5) * _sigmoid(-(dt - p["t_plateau"]) / 6.0) * np.exp(-np.clip(dt, 0, None) / 300.0)
        tail = 0.08 * _sigmoid((dt - p["t_plateau"]) / 6.0) * np.exp(-np.clip(dt - p["t_plateau"], 0, None) / 111.0)
        return (1 - plateau_w) * early + plateau_w * (plat + tail)
    if kind == "Ibc":
        tau_f = np.array([8.0, 10.0, 15.0, 19.0, 21.0])[b] * p["stretch"]
        return _bazin(dt, 2.5 * p["stretch"], tau_f) + 0.05 * _sigmoid(dt / 5.0) * np.exp(-np.clip(dt, 0, None) / 60.0)
    raise ValueError(f"unknown SN kind {kind!r}")


# colour at peak relative to r (mag) at z=0 and its slope with redshift
SN_COLOUR = {
    "Ia": (np.array([0.35, -0.05, 0.0, 0.40, 0.50]), np.array([6.0, 2.2, 0.0, -1.2, -1.2])),
    "II": (np.array([0.35, 0.02, 0.0, 0.02, 0.08]), np.array([4.0, 1.6, 0.0, -0.8, -0.8])),
    "Ibc": (np.array([1.10, 0.35, 0.0, -0.05, 0.00]), np.array([5.0, 2.0, 0.0, -1.0, -1.0])),
}
DUST = np.array([1.6, 1.25, 1.0, 0.75, 0.55])  # relative extinction per unit colour excess


def sn_params(rng: np.random.Generator, kind: str, z: float) -> dict:
    p: dict = {"kind": kind, "z": z}
    if kind == "Ia":
        p["stretch"] = float(np.clip(rng.normal(1.0, 0.1), 0.7, 1.3))
        m_abs = -19.25 + rng.normal(0, 0.15) - 1.1 * (p["stretch"] - 1.0)
        ebv = abs(rng.normal(0, 0.08))
    elif kind == "II":
        p["t_plateau"] = float(rng.uniform(70, 120))
        m_abs = -16.9 + rng.normal(0, 0.8)
        ebv = abs(rng.normal(0, 0.15))
    else:
        p["stretch"] = float(np.clip(rng.normal(1.0, 0.15), 0.6, 1.5))
        m_abs = -17.4 + rng.normal(0, 0.6)
        ebv = abs(rng.normal(0, 0.15))
    c0, slope = SN_COLOUR[kind]
    m_peak = m_abs + distance_modulus(z) + c0 + slope * z + ebv * DUST + rng.normal(0, 0.05, 5)
    p["peak_flux"] = mag_to_nmgy(m_peak)
    # normalise each band's shape to peak 1 on a dense rest-frame grid
    grid = np.arange(-40.0, 250.0, 0.5)
    p["norm"] = np.array([sn_shape(kind, grid, b, p).max() for b in range(5)])
    return p


def sn_flux(p: dict, t_peak: float, mjd: np.ndarray, bidx: np.ndarray) -> np.ndarray:
    dt = (mjd - t_peak) / (1 + p["z"])
    out = np.zeros(len(mjd))
    for b in range(5):
        m = bidx == b
        if m.any():
            out[m] = sn_shape(p["kind"], dt[m], b, p) / p["norm"][b] * p["peak_flux"][b]
    return out


def _ou(rng: np.random.Generator, t: np.ndarray, tau: float) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck (damped random walk) at sorted unique times ``t``."""
    x = np.empty(len(t))
    if len(t) == 0:
        return x
    x[0] = rng.normal()
    a = np.exp(-np.diff(t) / tau)
    e = rng.normal(size=len(t) - 1)
    for k in range(1, len(t)):
        x[k] = a[k - 1] * x[k - 1] + np.sqrt(1 - a[k - 1] ** 2) * e[k - 1]
    return x


def _ms_colours(x: float) -> np.ndarray:
    """Main-sequence stellar colours relative to r for g-r = x (u, g, r, i, z)."""
    ug = min(0.85 + 1.05 * x, 2.7)
    ri = max(0.42 * x - 0.05, -0.1)
    iz = 0.25 * x
    return np.array([x + ug, x, 0.0, -ri, -ri - iz])


# ----------------------------------------------------------------------------- rendering

def _psf_components(fwhm: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Double Gaussian: (weight, sigma in pixels) for each component; fwhm in arcsec (n,)."""
    s1 = fwhm / 2.3548 / PIXEL_SCALE_ARCSEC
    return [(0.9, s1), (0.1, 2.0 * s1)]


def point_source_images(size: int, fwhm: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Pixel-integrated unit-flux PSFs (n, size, size) centred at 0-based pixel coords (cx, cy)."""
    edges = np.arange(size + 1, dtype=float) - 0.5
    out = np.zeros((len(fwhm), size, size))
    for w, s in _psf_components(fwhm):
        d = np.sqrt(2.0) * s[:, None]
        gx = 0.5 * np.diff(erf((edges[None, :] - cx[:, None]) / d), axis=1)
        gy = 0.5 * np.diff(erf((edges[None, :] - cy[:, None]) / d), axis=1)
        out += w * gy[:, :, None] * gx[:, None, :]
    return out


def sersic_image(pad: int, cx: float, cy: float, r_e_px: float, n: float, q: float, pa: float,
                 oversample: int = 2) -> np.ndarray:
    """Unit-sum Sersic profile on a (pad, pad) pixel grid, centred at 0-based (cx, cy)."""
    sub = (np.arange(pad * oversample) + 0.5) / oversample - 0.5
    x = sub[None, :] - cx
    y = sub[:, None] - cy
    c, s = np.cos(pa), np.sin(pa)
    xr = c * x + s * y
    yr = (-s * x + c * y) / q
    r = np.sqrt(xr**2 + yr**2) / max(r_e_px, 0.3)
    bn = 2 * n - 1.0 / 3.0 + 0.009876 / n
    img = np.exp(-bn * (np.power(r, 1.0 / n) - 1.0))
    img = img.reshape(pad, oversample, pad, oversample).mean(axis=(1, 3))
    return img / img.sum()


def convolve_psf(img_pad: np.ndarray, fwhm: np.ndarray, jx: np.ndarray, jy: np.ndarray) -> np.ndarray:
    """Convolve one (pad, pad) image with each epoch's PSF (shifted by jitter): (n, pad, pad)."""
    pad = img_pad.shape[0]
    ft = np.fft.rfft2(img_pad)
    ky = np.fft.fftfreq(pad)[:, None]
    kx = np.fft.rfftfreq(pad)[None, :]
    k2 = kx**2 + ky**2
    tf = np.zeros((len(fwhm), *ft.shape), dtype=complex)
    for w, s in _psf_components(fwhm):
        tf += w * np.exp(-2 * np.pi**2 * (s**2)[:, None, None] * k2[None])
    tf *= np.exp(-2j * np.pi * (kx[None] * jx[:, None, None] + ky[None] * jy[:, None, None]))
    return np.fft.irfft2(ft[None] * tf, s=(pad, pad))


# ----------------------------------------------------------------------------- objects

STAR_TYPES = ("RRLyr", "EB", "LPV", "IrrVar")
STAR_P = (0.35, 0.20, 0.15, 0.30)


def _z_sn(rng, kind: str, spec: bool) -> float:
    if kind == "Ia":
        return float(np.clip(rng.normal(0.18, 0.08), 0.03, 0.40) if spec else np.clip(rng.normal(0.27, 0.10), 0.05, 0.55))
    return float(np.clip(rng.normal(0.09, 0.04), 0.015, 0.25) if spec else np.clip(rng.normal(0.13, 0.05), 0.02, 0.35))


def _host(rng, z: float, m_abs_mean: float = -20.6) -> dict:
    spheroid = rng.random() < 0.35
    m_r = m_abs_mean + rng.normal(0, 0.9) + distance_modulus(z)
    re_kpc = np.exp(rng.normal(np.log(4.0), 0.4)) * (0.7 if spheroid else 1.0)
    re_px = re_kpc * arcsec_per_kpc(z) / PIXEL_SCALE_ARCSEC
    if spheroid:
        col = np.array([2.3, 0.75, 0.0, -0.40, -0.70]) + np.array([2.0, 1.5, 0.0, -0.3, -0.4]) * z
    else:
        col = np.array([1.5, 0.45, 0.0, -0.25, -0.40]) + np.array([1.5, 0.8, 0.0, -0.2, -0.3]) * z
    col = col + rng.normal(0, 0.08, 5)
    return {
        "flux": mag_to_nmgy(m_r + col),
        "rmag": float(m_r),
        "n": 4.0 if spheroid else 1.0,
        "re_px": float(np.clip(re_px, 0.8, 25.0)),
        "q": float(rng.uniform(0.35, 1.0)),
        "pa": float(rng.uniform(0, np.pi)),
    }


def _choose_true_type(rng, label: str, contamination: float) -> str:
    if label == "SNIa":
        return "Ia"
    if label == "SNOther":
        return "II" if rng.random() < 0.72 else "Ibc"
    if label == "SNIa_PT":
        return "Ia" if rng.random() >= contamination else ("II" if rng.random() < 0.6 else "Ibc")
    if label == "SNOther_PT":
        if rng.random() < contamination:
            return "Ia"
        return "II" if rng.random() < 0.72 else "Ibc"
    if label == "AGN":
        return "AGN"
    if label == "Variable":
        return str(rng.choice(STAR_TYPES, p=STAR_P))
    if label == "Unknown":
        return str(rng.choice(["Faint", "FaintVar", "Noise"], p=[0.55, 0.25, 0.20]))
    raise ValueError(label)


def simulate_object(rng: np.random.Generator, cid: int, label: str, cond: NightConditions, cfg: SimConfig,
                    ra: float, dec: float) -> tuple[dict, dict, pd.DataFrame]:
    """Simulate one object. Returns (stamp arrays for :func:`write_stamps`, catalog row,
    light-curve rows)."""
    S = cfg.stamp_size
    c = (S - 1) / 2.0
    true = _choose_true_type(rng, label, cfg.pt_contamination)
    spec = label in SPEC_CONFIRMED_LABELS

    # ---- epochs and bands
    n_n = len(cond.mjd)
    keep_night = rng.random(n_n) >= cfg.object_epoch_loss
    if label == "Unknown":
        keep_night &= rng.random(n_n) < rng.uniform(0.12, 0.45)
    if keep_night.sum() < 3:
        keep_night[rng.choice(n_n, size=min(3, n_n), replace=False)] = True
    nights = np.flatnonzero(keep_night)
    present = rng.random((len(nights), 5)) >= np.asarray(cfg.band_missing)[None, :]
    none = ~present.any(axis=1)
    present[none, rng.integers(0, 5, none.sum())] = True
    ni, bi = np.nonzero(present)  # row-major: sorted by (night, band)
    night_idx = nights[ni]
    mjd = cond.mjd[night_idx]
    fwhm = cond.fwhm[night_idx, bi]
    sky_scale = cond.sky_scale[night_idx, bi]
    n_img = len(mjd)

    # ---- sources
    row: dict = {"CID": cid, "RA": ra, "DEC": dec, "IAUName": "", "label": label, "spec_confirmed": spec,
                 "SIM_TYPE": true}
    host = None
    host_off = (0.0, 0.0)  # host centre relative to the candidate, pixels
    ps_flux = np.zeros(n_img)
    peak_mjd = np.nan
    z = np.nan
    if true in ("Ia", "II", "Ibc") or true == "Faint":
        kind = true if true != "Faint" else str(rng.choice(["Ia", "II", "Ibc"], p=[0.5, 0.35, 0.15]))
        if true == "Faint":
            z = float(rng.uniform(0.35, 0.6) if kind == "Ia" else rng.uniform(0.2, 0.4))
        else:
            z = _z_sn(rng, kind, spec)
        p = sn_params(rng, kind, z)
        a, b = SEASONS[int(rng.integers(0, 3))]
        peak_mjd = float(rng.uniform(a - 10.0, b + 5.0))
        ps_flux = sn_flux(p, peak_mjd, mjd, bi)
        if rng.random() < 0.9:
            host = _host(rng, z)
            r_off = host["re_px"] * abs(rng.normal(0, 0.8))
            r_off = min(r_off, 0.3 * S)
            ang = rng.uniform(0, 2 * np.pi)
            host_off = (-r_off * np.cos(ang), -r_off * np.sin(ang))
    elif true == "AGN":
        z = float(rng.uniform(0.08, 0.6) if rng.random() < 0.55 else rng.uniform(0.6, 2.2))
        m_r = rng.uniform(18.5, 21.5)
        col = np.array([0.25, 0.15, 0.0, -0.15, -0.20]) + rng.normal(0, 0.1, 5)
        if z > 2.0:
            col[0] += 1.0
        tau = np.exp(rng.normal(np.log(200.0), 0.4)) * (1 + z)
        sf = rng.uniform(0.12, 0.35) * np.array([1.35, 1.2, 1.0, 0.9, 0.85])
        tn = cond.mjd[nights]
        x = _ou(rng, tn, tau)[ni]
        dm = sf[bi] / np.sqrt(2) * x + rng.normal(0, 0.02, n_img)
        ps_flux = mag_to_nmgy(m_r + col[bi] + dm)
        if z < 0.8:
            host = _host(rng, z, m_abs_mean=-21.3)
    elif true in STAR_TYPES or true == "FaintVar":
        t = mjd
        if true == "RRLyr":
            m_r = rng.uniform(16.0, 21.0)
            col = np.array([1.40, 0.25, 0.0, -0.10, -0.12]) + rng.normal(0, 0.05, 5)
            per, ph0, amp = rng.uniform(0.45, 0.75), rng.random(), rng.uniform(0.5, 1.1)
            phase = np.mod(t / per + ph0, 1.0)
            g = np.where(phase < 0.85, phase / 0.85, (1 - phase) / 0.15)
            dm = amp * np.array([1.25, 1.0, 0.8, 0.65, 0.6])[bi] * (g - 0.5)
        elif true == "EB":
            m_r = rng.uniform(16.0, 21.5)
            col = _ms_colours(rng.uniform(0.2, 1.2))
            per, ph0 = np.exp(rng.uniform(np.log(0.3), np.log(5.0))), rng.random()
            d1 = rng.uniform(0.3, 0.9)
            d2, w = d1 * rng.uniform(0.1, 0.8), rng.uniform(0.04, 0.1)
            phase = np.mod(t / per + ph0, 1.0)
            dm = d1 * np.exp(-0.5 * (np.minimum(phase, 1 - phase) / w) ** 2) + d2 * np.exp(-0.5 * ((phase - 0.5) / w) ** 2)
        elif true == "LPV":
            m_r = rng.uniform(15.5, 20.0)
            col = np.array([4.0, 1.4, 0.0, -1.2, -1.9]) + rng.normal(0, 0.1, 5)
            per, ph0, amp = rng.uniform(80, 400), rng.random(), rng.uniform(0.8, 2.5)
            arg = 2 * np.pi * (t / per + ph0)
            dm = amp / 2 * np.array([1.2, 1.2, 1.0, 0.8, 0.6])[bi] * (np.sin(arg) + 0.25 * np.sin(2 * arg))
        else:  # IrrVar / FaintVar: damped random walk
            faint = true == "FaintVar"
            m_r = rng.uniform(20.5, 22.3) if faint else rng.uniform(16.0, 21.5)
            col = (np.array([0.3, 0.05, 0.0, 0.0, 0.0]) + rng.normal(0, 0.1, 5)
                   if rng.random() < 0.35 else _ms_colours(rng.uniform(0.2, 1.4)))
            tau = np.exp(rng.normal(np.log(30.0), 0.8))
            sf = (rng.uniform(0.05, 0.2) if faint else rng.uniform(0.15, 0.5)) * np.array([1.3, 1.15, 1.0, 0.9, 0.85])
            tn = cond.mjd[nights]
            dm = sf[bi] / np.sqrt(2) * _ou(rng, tn, tau)[ni]
        ps_flux = mag_to_nmgy(m_r + col[bi] + dm)
    elif true == "Noise":
        # artefact: a static faint host or blank sky, plus one single-epoch spike (cosmic ray / mover)
        if rng.random() < 0.6:
            z = float(rng.uniform(0.1, 0.5))
            host = _host(rng, z)
            host_off = tuple(rng.normal(0, 2.0, 2))
        k = int(rng.integers(0, n_img))
        ps_flux[k] = mag_to_nmgy(rng.uniform(20.0, 22.0))
        z = np.nan if host is None else z
    else:  # pragma: no cover
        raise AssertionError(true)

    # ---- render
    jx = rng.normal(0, 0.15, n_img)
    jy = rng.normal(0, 0.15, n_img)
    psf = point_source_images(S, fwhm, c + jx, c + jy)
    static = np.zeros((n_img, S, S))
    if host is not None:
        pad = 2 * S
        off = S // 2
        shape = sersic_image(pad, off + c + host_off[0], off + c + host_off[1], host["re_px"], host["n"], host["q"], host["pa"])
        conv = convolve_psf(shape, fwhm, jx, jy)[:, off:off + S, off:off + S]
        static = conv * host["flux"][bi][:, None, None]
    model = static + ps_flux[:, None, None] * psf
    sky_pix = SKY_PIX_DARK[bi] * sky_scale
    var = (sky_pix / GAIN[bi])[:, None, None] + np.clip(model, 0, None) / GAIN[bi][:, None, None]
    images = (model + np.sqrt(var) * rng.standard_normal(model.shape)).astype(np.float32)

    # ---- forced photometry on the host-subtracted image
    p2 = (psf**2).sum(axis=(1, 2))
    flux = (psf * (images - static)).sum(axis=(1, 2)) / p2
    ferr = np.sqrt((psf**2 * var).sum(axis=(1, 2))) / p2
    lc = pd.DataFrame({"CID": cid, "MJD": mjd, "FILTER": np.array(BANDS)[bi],
                       "FLUX": flux * NMGY_TO_UJY, "FLUXERR": ferr * NMGY_TO_UJY})

    # ---- catalog row
    if np.isnan(peak_mjd):
        r = bi == 2
        peak_mjd = float(mjd[r][np.argmax(ps_flux[r])]) if r.any() else float(mjd[np.argmax(ps_flux)])
    row.update(_catalog_redshifts(rng, label, true, z))
    row["Classification"] = _classification(rng, label, true, has_zspec=np.isfinite(row["zspecHelio"]))
    row["PeakMJD"] = round(peak_mjd, 3)
    row["Nepochs"] = int(len(nights))
    if host is not None:
        row["objIDHost"] = int(1237663000000000000 + cid * 1000 + int(rng.integers(0, 1000)))
        row["DistHost"] = float(np.hypot(*host_off) * PIXEL_SCALE_ARCSEC)
        row["rmagHost"] = host["rmag"]
    else:
        row["objIDHost"] = np.nan
        row["DistHost"] = np.nan
        row["rmagHost"] = np.nan
    stamps = {
        "cid": cid, "ra": ra, "dec": dec, "images": images, "mjd": mjd, "band": bi + 1,
        "psf_fwhm": fwhm, "sky": mag_to_nmgy(SKY_MAG)[bi] * sky_scale, "skysig": np.sqrt(var.mean(axis=(1, 2))),
        "classification": row["Classification"],
    }
    return stamps, row, lc


def _catalog_redshifts(rng, label: str, true: str, z: float) -> dict:
    nan = np.nan
    out = {"zspecHelio": nan, "zspecerrHelio": nan, "zphotHost": nan, "zphoterrHost": nan, "zCMB": nan, "zerrCMB": nan}
    if not np.isfinite(z):
        return out
    zspec = label in ("SNIa", "SNOther", "AGN") or (label.endswith("_PT") and rng.random() < 0.5)
    if label == "Unknown":
        zspec = False
    if zspec:
        out["zspecHelio"] = round(z + rng.normal(0, 5e-4), 5)
        out["zspecerrHelio"] = 5e-4
        out["zCMB"], out["zerrCMB"] = out["zspecHelio"], 5e-4
    if label != "AGN" and (label != "Unknown" or rng.random() < 0.3):
        e = 0.04 * (1 + z)
        out["zphotHost"] = round(max(z + rng.normal(0, e), 0.005), 4)
        out["zphoterrHost"] = round(e, 4)
    return out


def _classification(rng, label: str, true: str, has_zspec: bool) -> str:
    if label == "SNIa":
        return "SNIa"
    if label == "SNOther":
        return "SNII" if true == "II" else str(rng.choice(["SNIb", "SNIc"]))
    prefix = "z" if has_zspec else "p"
    if label == "SNIa_PT":
        return prefix + "SNIa"
    if label == "SNOther_PT":
        sub = true if true in ("II", "Ibc") else str(rng.choice(["II", "Ibc"], p=[0.72, 0.28]))
        return prefix + "SN" + sub
    return label  # AGN, Variable, Unknown


# ----------------------------------------------------------------------------- driver

def simulate(cfg: SimConfig, out_dir: str | os.PathLike, *, catalog_path=None, lightcurves_path=None,
             stamps_dir=None, progress: bool = True) -> dict:
    """Simulate the data set into ``out_dir`` (``catalog.csv``, ``lightcurves.csv``, ``stamps/``).

    The stamps directory is filled under a temporary name and renamed at the end (atomic).
    Returns a summary (counts per label, images, seconds).
    """
    import time

    t0 = time.time()
    cfg.validate()
    out_dir = Path(out_dir)
    catalog_path = Path(catalog_path or out_dir / "catalog.csv")
    lightcurves_path = Path(lightcurves_path or out_dir / "lightcurves.csv")
    stamps_dir = Path(stamps_dir or out_dir / "stamps")
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0]))
    counts = class_counts(cfg.n_objects, cfg.min_per_class)
    labels = np.concatenate([[lab] * k for lab, k in counts.items()])
    rng.shuffle(labels)
    hi = max(22000, 2 * cfg.n_objects)
    cids = np.sort(rng.choice(np.arange(1, hi), size=cfg.n_objects, replace=False))
    # Stripe 82: RA -50..+60 deg (wrapped to 0..360), Dec -1.25..+1.25
    ra = np.mod(rng.uniform(-50.0, 60.0, cfg.n_objects), 360.0)
    dec = rng.uniform(-1.25, 1.25, cfg.n_objects)
    nights = survey_nights(rng, cfg)
    cond = night_conditions(rng, nights)
    rows, lcs = [], []
    n_images = 0
    stamps_dir.parent.mkdir(parents=True, exist_ok=True)
    if stamps_dir.exists():  # os.replace cannot overwrite a non-empty directory
        import shutil

        shutil.rmtree(stamps_dir)
    with atomic_path(stamps_dir, suffix="") as tmp_dir:
        tmp_dir.mkdir()
        it = tqdm(range(cfg.n_objects), desc="simulate sdss", mininterval=5.0, disable=not progress)
        for j in it:
            orng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1, int(cids[j])]))
            st, row, lc = simulate_object(orng, int(cids[j]), str(labels[j]), cond, cfg, float(ra[j]), float(dec[j]))
            write_stamps(stamp_path(tmp_dir, cids[j]), **st)
            n_images += len(st["mjd"])
            rows.append(row)
            lcs.append(lc)
        catalog = pd.DataFrame(rows)
        write_catalog(catalog, catalog_path)
        write_lightcurves(pd.concat(lcs, ignore_index=True), lightcurves_path)
    summary = {
        "n_objects": cfg.n_objects,
        "n_images": n_images,
        "n_survey_nights": int(len(nights)),
        "class_counts": counts,
        "seconds": round(time.time() - t0, 2),
        "config": asdict(cfg),
    }
    log.info("simulated %d objects, %d stamps in %.1f s", cfg.n_objects, n_images, summary["seconds"])
    return summary
