"""Embedded PLAsTiCC-like simulator, written in the exact layout of Zenodo record 2539456.

What it writes (names and columns of the unblinded PLAsTiCC release):

- ``plasticc_train_lightcurves.csv.gz`` and ``plasticc_test_lightcurves_NN.csv.gz`` (NN = 01..):
  object_id, mjd, passband, flux, flux_err, detected_bool
- ``plasticc_train_metadata.csv.gz`` and ``plasticc_test_metadata.csv.gz``: ``METADATA_COLUMNS``.
  As in the public test file, the test ``target`` column is blinded (0); the class is ``true_target``.

The physics is deliberately simple but class-specific (see ``CLASS_MODELS``): every extragalactic
object takes host redshift, photo-z, photo-z error and sky position from a *real* row of the same
class in the Kaggle training metadata, is time-dilated by (1+z), dimmed by its distance modulus and
observed at rest-frame wavelength lambda/(1+z) (so colours shift with z); galactic objects are at
z = 0 with hostgal_photoz = 0 and distmod NaN. The cadence has LSST-like seasons (~6 months per
year, phased by right ascension), irregular per-band sampling, sparse wide-fast-deep (WFD) and dense
deep-drilling-field (DDF) modes; noise is sky + Poisson-like, flux is in FLUXCAL units (ZP 27.5) and
``detected_bool`` is |flux|/flux_err >= 5. Objects with fewer than two detections are redrawn (a
detection trigger, as in PLAsTiCC). Everything is deterministic given the seed: each object draws
from its own ``numpy.random.default_rng([seed, split, index])`` stream and the gzip files carry no
timestamp or file name, so the same seed gives byte-identical files.
"""
from __future__ import annotations

import gzip
import io
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from transientrepro.io import atomic_path
from transientrepro.paper import paper_numbers
from transientrepro.plasticc.classes import (
    CLASS_CODES,
    CLASS_NAMES,
    GALACTIC_CODES,
    PASSBAND_WAVELENGTHS,
)

log = logging.getLogger(__name__)

LIGHTCURVE_COLUMNS = ["object_id", "mjd", "passband", "flux", "flux_err", "detected_bool"]
METADATA_COLUMNS = [
    "object_id", "ra", "decl", "ddf_bool", "hostgal_specz", "hostgal_photoz", "hostgal_photoz_err",
    "distmod", "mwebv", "target", "true_target", "true_submodel", "true_z", "true_distmod",
    "true_lensdmu", "true_vpec", "true_rv", "true_av", "true_peakmjd", "libid_cadence",
    "tflux_u", "tflux_g", "tflux_r", "tflux_i", "tflux_z", "tflux_y",
]

# --- survey ------------------------------------------------------------------------------------
SURVEY_START, SURVEY_END = 59580.0, 60675.0      # PLAsTiCC's ~3-year MJD span
ZERO_POINT = 27.5                                 # FLUXCAL: m = 27.5 - 2.5 log10(flux)
#: 5-sigma depths (WFD), u..y; DDF visits are coadded sequences, M5_DDF_BONUS deeper. Set so the
#: simulated DDF median flux_err per band matches the 10 real (DDF) Kaggle objects of the test
#: fixture (u 2.2, g 1.3, r 1.3, i 1.9, z 2.7, y 6.3 FLUXCAL).
M5_WFD = np.array([23.9, 24.45, 24.5, 24.05, 23.65, 22.75])
M5_DDF_BONUS = 1.0
#: relative share of visits per band (LSST-like: few u, many r/i/z/y)
BAND_WEIGHTS = np.array([0.07, 0.11, 0.22, 0.22, 0.20, 0.18])
#: Milky-Way extinction A_b / E(B-V) for R_V = 3.1 (LSST bands)
R_EXT = np.array([4.145, 3.237, 2.273, 1.684, 1.323, 1.088])
POISSON_K = 0.005                                 # sigma^2 += K * |source flux| (FLUXCAL units)
DETECTION_SNR = 5.0
MIN_DETECTIONS = 2
MAX_REDRAWS = 6                                   # per reference row
N_ROW_TRIES = 5                                   # reference rows tried per object
SUN_RA_EQUINOX_MJD = 59293.4                      # 2021 March equinox: sun at RA 0
LAM_REF = 5000.0                                  # Angstrom: peak absolute magnitudes refer here


# --- small physics helpers ---------------------------------------------------------------------
def planck_nu(lam: np.ndarray, temp: np.ndarray | float) -> np.ndarray:
    """B_nu(lambda, T) up to a constant (lambda in Angstrom)."""
    x = 1.4388e8 / (np.asarray(lam, dtype=float) * np.asarray(temp, dtype=float))
    return 1.0 / (np.asarray(lam, dtype=float) ** 3 * np.expm1(np.minimum(x, 700.0)))


def bb_colour(lam: np.ndarray, temp: np.ndarray | float, lam_ref: float = LAM_REF) -> np.ndarray:
    """f_nu(lambda) / f_nu(lam_ref) of a black body at temperature ``temp``."""
    return planck_nu(lam, temp) / planck_nu(lam_ref, temp)


def _mag_to_flux(m: np.ndarray | float) -> np.ndarray:
    return 10.0 ** (-0.4 * (np.asarray(m, dtype=float) - ZERO_POINT))


_ZGRID = np.linspace(0.0, 5.0, 2001)


def _distmod_table() -> np.ndarray:
    om, ol = 0.3, 0.7
    inv_e = 1.0 / np.sqrt(om * (1 + _ZGRID) ** 3 + ol)
    dc = np.concatenate([[0.0], np.cumsum(0.5 * (inv_e[1:] + inv_e[:-1]) * np.diff(_ZGRID))])
    dl_mpc = (1 + _ZGRID) * dc * 299792.458 / 70.0
    with np.errstate(divide="ignore"):
        return 5.0 * np.log10(np.maximum(dl_mpc, 1e-12)) + 25.0


_MU = _distmod_table()


def distance_modulus(z: np.ndarray | float) -> np.ndarray:
    """Flat LambdaCDM (H0 = 70, Om = 0.3) distance modulus."""
    return np.interp(np.asarray(z, dtype=float), _ZGRID[1:], _MU[1:])


# --- class models ------------------------------------------------------------------------------
#: One-line description of every class model (also reported in the workflow's summaries).
CLASS_MODELS: dict[int, str] = {
    90: "SNIa: smooth rise ~18 d x stretch, 15 d x stretch decline + tail, i/z/y secondary maximum, "
        "T 11000->5500 K, UV suppressed, M = -19.3 (Phillips-like stretch), host colour c ~ N(0,0.1)",
    52: "SNIax: as SNIa but fainter (M ~ -17.6 +- 0.8), faster (rise ~14 d, decline ~11 d), weak bump",
    67: "SNIa-91bg: fast (rise ~13 d, decline ~9 d), red (T 8000->4500 K), M ~ -18.0, no secondary max",
    42: "SNII: fast hot rise (5-12 d, T 20000->6000 K), plateau 60-110 d (IIP) or linear 0.03 mag/d "
        "(IIL), 2 mag drop, radioactive tail; M ~ -16.8 +- 0.9",
    62: "SNIbc: rise ~13 d, decline ~18 d, red (T 9000->5000 K), UV suppressed, M ~ -17.6 +- 0.6",
    95: "SLSN-I: rise 25-50 d, decline 40-90 d, luminous M ~ -21 +- 0.5, hot T 16000->9000 K",
    15: "TDE: rise 15-40 d, t^-5/3 decline, blue and constant colour (T 20000-40000 K), M ~ -19.5",
    64: "KN: rise 0.5-1.5 d, decline 1.5-3.5 d, red and cooling (T 6000->2500 K), M ~ -16 +- 0.5",
    88: "AGN: damped random walk in magnitude (tau 50-400 d rest, SF 0.1-0.35 mag, larger in the blue), "
        "f_nu ~ nu^-0.5, M ~ -22 +- 1; difference flux w.r.t. the mean (template)",
    16: "EB: period 0.3-10 d (log-uniform), Gaussian primary/secondary eclipses (depth 0.1-0.7, "
        "colour-dependent secondary), ellipsoidal modulation for P < 1 d",
    92: "RRL: period 0.4-0.8 d, sawtooth (fast rise, slow decline), amplitude 0.5-1.1 mag in g "
        "decreasing to the red, T ~ 7000 K (blue)",
    53: "Mira: period 100-500 d, amplitude 2.5-5 mag in g (smaller in the red), T 2400-3200 K (very red)",
    65: "M-dwarf: quiescent red star (T 2800-3500 K, template-subtracted) with flares: instant rise, "
        "exponential decay 0.02-0.3 d, hot 10000 K (blue), rate 0.02-0.1 per day",
    6: "mu-Lens-Single: Paczynski magnification (t_E ~ 30 d log-normal, u0 0.02-1), achromatic "
       "magnification of a 4000-7000 K source with blending",
}


def _uv_suppression(lam_rest: np.ndarray, strength: float) -> np.ndarray:
    return np.exp(-strength * np.maximum(0.0, 4000.0 - lam_rest) / 800.0)


def _sn_shape(tau: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    """Rest-frame bolometric-like shape, 1 at peak (tau = 0 days rest frame)."""
    tr = p["t_rise"]
    s = np.zeros_like(tau)
    rise = (tau < 0) & (tau > -tr)
    s[rise] = (1.0 - (tau[rise] / tr) ** 2) ** 2
    d = tau >= 0
    td = tau[d]
    kind = p["shape"]
    if kind == "bazin":
        a = p["a_tail"]
        s[d] = (1 - a) * np.exp(-td / p["t_fall"]) + a * np.exp(-td / p["t_tail"])
    elif kind == "powerlaw":
        t0 = p["t_fall"]
        s[d] = ((td + t0) / t0) ** (-5.0 / 3.0)
    elif kind == "plateau":
        tp, slope = p["t_plateau"], p["slope"]
        m = np.where(td < tp, slope * td,
                     slope * tp + p["drop"] * (1 - np.exp(-(td - tp) / 6.0)) + 0.0098 * np.maximum(td - tp, 0))
        s[d] = 10.0 ** (-0.4 * m)
    else:  # pragma: no cover - guarded by _draw_params
        raise ValueError(f"unknown shape {kind!r}")
    return s


def _temperature(tau: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    t_pk, t_late, t_t = p["T_peak"], p["T_late"], p["t_T"]
    early = p.get("T_early", t_pk)
    return np.where(
        tau < 0,
        t_pk + (early - t_pk) * np.clip(-tau / p["t_rise"], 0, 1),
        t_late + (t_pk - t_late) * np.exp(-np.maximum(tau, 0) / t_t),
    )


def transient_flux(p: Mapping[str, Any], t: np.ndarray, lam_obs: np.ndarray, z: float) -> np.ndarray:
    """Observed FLUXCAL flux of an extragalactic transient (no MW extinction, no noise).

    Rest-frame time tau = (t - t_peak) / (1+z) and rest wavelength lambda/(1+z): the observed light
    curve is the rest-frame one stretched by (1+z) in time and shifted in colour.
    """
    t = np.asarray(t, dtype=float)
    lam_obs = np.broadcast_to(np.asarray(lam_obs, dtype=float), t.shape)
    tau = (t - p["t_peak"]) / (1.0 + z)
    lam = lam_obs / (1.0 + z)
    shape = _sn_shape(tau, p)
    colour = bb_colour(lam, _temperature(tau, p))
    if p.get("uv", 0.0):
        colour = colour * _uv_suppression(lam, p["uv"]) / _uv_suppression(np.array(LAM_REF), p["uv"])
    if p.get("bump", 0.0):
        w = np.clip((lam - 6500.0) / 2000.0, 0.0, 1.0)
        shape = shape + p["bump"] * w * np.exp(-0.5 * ((tau - p["bump_t"]) / 8.0) ** 2) * (tau > -p["t_rise"])
    if p.get("colour_c", 0.0):
        colour = colour * 10.0 ** (-0.4 * p["colour_c"] * ((lam / LAM_REF) ** -1.5 - 1.0) * 2.5)
    return p["F0"] * shape * colour


def _draw_transient(code: int, rng: np.random.Generator, mu: float) -> dict[str, Any]:
    t_peak = rng.uniform(SURVEY_START - 40.0, SURVEY_END + 20.0)
    if code == 90:
        x = float(np.clip(rng.normal(1.0, 0.1), 0.7, 1.3))
        p = dict(shape="bazin", t_rise=18.0 * x * rng.normal(1, 0.05), t_fall=15.0 * x, t_tail=60.0,
                 a_tail=0.25, T_peak=11000.0 * rng.normal(1, 0.05), T_early=13000.0, T_late=5500.0, t_T=15.0,
                 uv=1.0, bump=0.35 * rng.uniform(0.6, 1.2), bump_t=28.0 * x, colour_c=rng.normal(0, 0.1),
                 M=-19.3 - 1.2 * (x - 1.0) + rng.normal(0, 0.12), submodel=0)
    elif code == 52:
        p = dict(shape="bazin", t_rise=max(6.0, rng.normal(14.0, 3.0)), t_fall=max(5.0, rng.normal(11.0, 3.0)),
                 t_tail=50.0, a_tail=0.2, T_peak=10500.0 * rng.normal(1, 0.07), T_early=12000.0, T_late=5500.0,
                 t_T=12.0, uv=1.0, bump=0.15 * rng.uniform(0, 1), bump_t=24.0, colour_c=rng.normal(0, 0.1),
                 M=rng.normal(-17.6, 0.8), submodel=0)
    elif code == 67:
        p = dict(shape="bazin", t_rise=max(7.0, rng.normal(13.0, 2.0)), t_fall=max(4.0, rng.normal(9.0, 2.0)),
                 t_tail=45.0, a_tail=0.15, T_peak=8000.0 * rng.normal(1, 0.06), T_early=9000.0, T_late=4500.0,
                 t_T=8.0, uv=1.5, bump=0.0, colour_c=rng.normal(0.05, 0.1), M=rng.normal(-18.0, 0.4), submodel=0)
    elif code == 42:
        linear = rng.uniform() < 0.3
        p = dict(shape="plateau", t_rise=rng.uniform(5.0, 12.0), t_plateau=rng.uniform(60.0, 110.0),
                 slope=rng.uniform(0.025, 0.04) if linear else rng.uniform(0.0, 0.012), drop=rng.uniform(1.5, 2.5),
                 T_peak=rng.uniform(12000.0, 20000.0), T_early=25000.0, T_late=6000.0, t_T=12.0, uv=0.0,
                 M=rng.normal(-16.8, 0.9), submodel=int(linear))
    elif code == 62:
        p = dict(shape="bazin", t_rise=max(6.0, rng.normal(13.0, 2.0)), t_fall=max(6.0, rng.normal(18.0, 4.0)),
                 t_tail=70.0, a_tail=0.15, T_peak=9000.0 * rng.normal(1, 0.07), T_early=10000.0, T_late=5000.0,
                 t_T=15.0, uv=1.2, colour_c=rng.normal(0.1, 0.15), M=rng.normal(-17.6, 0.6),
                 submodel=int(rng.integers(0, 2)))
    elif code == 95:
        p = dict(shape="bazin", t_rise=rng.uniform(25.0, 50.0), t_fall=rng.uniform(40.0, 90.0), t_tail=200.0,
                 a_tail=0.0, T_peak=rng.uniform(13000.0, 19000.0), T_early=20000.0, T_late=9000.0, t_T=60.0, uv=0.3,
                 M=rng.normal(-21.0, 0.5), submodel=0)
    elif code == 15:
        temp = rng.uniform(20000.0, 40000.0)
        p = dict(shape="powerlaw", t_rise=rng.uniform(15.0, 40.0), t_fall=rng.uniform(20.0, 60.0), T_peak=temp,
                 T_early=temp, T_late=temp, t_T=1e9, uv=0.0, M=rng.normal(-19.5, 0.6), submodel=0)
    elif code == 64:
        p = dict(shape="bazin", t_rise=rng.uniform(0.5, 1.5), t_fall=rng.uniform(1.5, 3.5), t_tail=10.0, a_tail=0.05,
                 T_peak=rng.uniform(5000.0, 7000.0), T_early=8000.0, T_late=2500.0, t_T=3.0, uv=0.0,
                 M=rng.normal(-16.0, 0.5), submodel=int(rng.integers(0, 2)))
    else:  # pragma: no cover
        raise ValueError(f"not a transient class: {code}")
    p["t_peak"] = t_peak
    p["F0"] = float(_mag_to_flux(p["M"] + mu))
    return p


def _periodic_phase(t: np.ndarray, period: float, phase0: float) -> np.ndarray:
    return np.mod((t - SURVEY_START) / period + phase0, 1.0)


def _drw(rng: np.random.Generator, t: np.ndarray, tau: float, sf: float) -> np.ndarray:
    """Damped random walk (Ornstein-Uhlenbeck, stationary std sf/sqrt(2)) at sorted times ``t``."""
    sigma = sf / np.sqrt(2.0)
    out = np.empty_like(t)
    x = rng.normal(0.0, sigma)
    prev = t[0] if len(t) else 0.0
    noise = rng.normal(0.0, 1.0, size=len(t))
    for i, ti in enumerate(t):
        r = np.exp(-(ti - prev) / tau)
        x = x * r + sigma * np.sqrt(1.0 - r * r) * noise[i]
        out[i] = x
        prev = ti
    return out


def object_flux(code: int, rng: np.random.Generator, t: np.ndarray, band: np.ndarray, z: float,
                mu: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Noise-free difference flux of one object at (t, band); returns (flux, template flux (6,), info)."""
    lam_obs = PASSBAND_WAVELENGTHS[band]
    lam6 = PASSBAND_WAVELENGTHS
    info: dict[str, Any] = {"peakmjd": np.nan, "submodel": 0}
    tflux = np.zeros(6)
    if code not in GALACTIC_CODES and code != 88:
        p = _draw_transient(code, rng, mu)
        flux = transient_flux(p, t, lam_obs, z)
        info.update(peakmjd=p["t_peak"], submodel=p["submodel"])
        return flux, tflux, info
    if code == 88:
        m_abs = rng.normal(-22.0, 1.0)
        f_mean6 = _mag_to_flux(m_abs + mu) * (lam6 / (1 + z) / LAM_REF) ** 0.5
        tau = rng.uniform(50.0, 400.0) * (1 + z)
        sf = rng.uniform(0.1, 0.35)
        order = np.argsort(t, kind="stable")
        x = np.empty_like(t)
        x[order] = _drw(rng, t[order], tau, sf)
        amp = (lam_obs / (1 + z) / LAM_REF) ** -0.5
        flux = f_mean6[band] * (10.0 ** (-0.4 * x * amp) - 1.0)
        return flux, f_mean6, info
    # galactic: z = 0
    if code == 92:
        temp = rng.uniform(6500.0, 7500.0)
        f_g = _mag_to_flux(rng.uniform(17.5, 21.0))
        base6 = f_g * bb_colour(lam6, temp, lam_ref=lam6[1])
        period, amp_g = rng.uniform(0.4, 0.8), rng.uniform(0.5, 1.1)
        ph = _periodic_phase(t, period, rng.uniform())
        b = np.where(ph < 0.15, ph / 0.15, 1.0 - (ph - 0.15) / 0.85) ** 1.5
        dm = -amp_g * (lam_obs / lam6[1]) ** -0.9 * (b - 0.4)
        flux = base6[band] * (10.0 ** (-0.4 * dm) - 1.0)
        return flux, base6, info
    if code == 16:
        t1, t2 = rng.uniform(4500.0, 9000.0), rng.uniform(3500.0, 8000.0)
        f_r = _mag_to_flux(rng.uniform(16.5, 21.0))
        base6 = f_r * bb_colour(lam6, t1, lam_ref=lam6[2])
        period = float(np.exp(rng.uniform(np.log(0.3), np.log(10.0))))
        d1 = rng.uniform(0.1, 0.7)
        w = rng.uniform(0.03, 0.1)
        ratio = planck_nu(lam_obs, t2) / planck_nu(lam_obs, t1)
        d2 = d1 * rng.uniform(0.2, 0.9) * ratio / (planck_nu(lam6[2], t2) / planck_nu(lam6[2], t1))
        ph = _periodic_phase(t, period, rng.uniform())
        dp = np.minimum(ph, 1 - ph)
        ds = np.abs(ph - 0.5)
        rel = 1.0 - d1 * np.exp(-0.5 * (dp / w) ** 2) - np.minimum(d2, 0.9) * np.exp(-0.5 * (ds / w) ** 2)
        if period < 1.0:
            rel = rel - rng.uniform(0.03, 0.15) * 0.5 * (1 - np.cos(4 * np.pi * ph))
        info["submodel"] = int(period < 1.0)
        flux = base6[band] * (rel - 0.97)
        return flux, base6 * 0.97, info
    if code == 53:
        temp = rng.uniform(2400.0, 3200.0)
        f_i = _mag_to_flux(rng.uniform(14.0, 18.5))
        base6 = f_i * bb_colour(lam6, temp, lam_ref=lam6[3])
        period, amp_g = rng.uniform(100.0, 500.0), rng.uniform(2.5, 5.0)
        ph = _periodic_phase(t, period, rng.uniform())
        shape = np.sin(2 * np.pi * ph) + 0.25 * np.sin(4 * np.pi * ph + 1.0)
        dm = -0.5 * amp_g * (lam_obs / lam6[1]) ** -1.5 * shape
        flux = base6[band] * (10.0 ** (-0.4 * dm) - 1.0)
        return flux, base6, info
    if code == 65:
        temp = rng.uniform(2800.0, 3500.0)
        f_i = _mag_to_flux(rng.uniform(17.0, 21.0))
        base6 = f_i * bb_colour(lam6, temp, lam_ref=lam6[3])
        rate = rng.uniform(0.02, 0.1)
        n_fl = rng.poisson(rate * (SURVEY_END - SURVEY_START + 10))
        t_fl = np.sort(rng.uniform(SURVEY_START - 5, SURVEY_END, size=n_fl))
        amp = base6[1] * np.exp(rng.uniform(np.log(1.0), np.log(40.0), size=n_fl))
        dec = np.exp(rng.uniform(np.log(0.02), np.log(0.3), size=n_fl))
        col = bb_colour(lam_obs, 10000.0, lam_ref=lam6[1])
        dt = t[:, None] - t_fl[None, :]
        pulse = np.where(dt >= 0, np.exp(-np.maximum(dt, 0) / dec[None, :]), 0.0) * amp[None, :]
        flux = pulse.sum(axis=1) * col
        return flux, base6, info
    if code == 6:
        temp = rng.uniform(4000.0, 7000.0)
        f_r = _mag_to_flux(rng.uniform(18.0, 22.5))
        base6 = f_r * bb_colour(lam6, temp, lam_ref=lam6[2])
        t_e = float(np.clip(np.exp(rng.normal(np.log(30.0), 0.7)), 5.0, 300.0))
        u0 = rng.uniform(0.02, 1.0)
        t0 = rng.uniform(SURVEY_START, SURVEY_END)
        fs = rng.uniform(0.3, 1.0)
        u = np.sqrt(u0 ** 2 + ((t - t0) / t_e) ** 2)
        mag = (u ** 2 + 2) / (u * np.sqrt(u ** 2 + 4))
        flux = fs * base6[band] * (mag - 1.0)
        info["peakmjd"] = t0
        return flux, base6, info
    raise ValueError(f"unknown PLAsTiCC class code {code}")  # pragma: no cover


# --- cadence -----------------------------------------------------------------------------------
def _seasons(ra: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    centre = SUN_RA_EQUINOX_MJD + (((ra + 180.0) / 360.0) % 1.0) * 365.25
    length = rng.uniform(150.0, 200.0)
    out = []
    for k in range(-2, 5):
        c = centre + k * 365.25 + rng.normal(0, 5)
        lo, hi = max(c - length / 2, SURVEY_START), min(c + length / 2, SURVEY_END)
        if hi - lo > 5:
            out.append((lo, hi))
    return out


def _uniform_in_windows(rng: np.random.Generator, windows: list[tuple[float, float]], n: int) -> np.ndarray:
    lens = np.array([hi - lo for lo, hi in windows])
    u = rng.uniform(0, lens.sum(), size=n)
    edges = np.concatenate([[0.0], np.cumsum(lens)])
    k = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(windows) - 1)
    return np.array([windows[i][0] for i in k]) + (u - edges[k])


def cadence(rng: np.random.Generator, ra: float, ddf: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mjd, passband, 5-sigma depth) of one object's visits, sorted by mjd."""
    windows = _seasons(ra, rng)
    if ddf:
        n_target = int(rng.integers(180, 280))
        per_night = 4
    else:
        n_target = int(rng.integers(60, 150))
        per_night = 2
    n_nights = max(3, int(round(n_target / (per_night * 0.85))))
    nights = np.floor(_uniform_in_windows(rng, windows, n_nights)) + rng.uniform(0.02, 0.35, size=n_nights)
    mjd, band = [], []
    k_per = rng.integers(1, per_night + 1, size=n_nights)
    for night, k in zip(nights, k_per):
        bands = rng.choice(6, size=int(k), replace=False, p=BAND_WEIGHTS)
        mjd.append(night + 0.021 * np.arange(k) + rng.uniform(0, 0.004, size=k))
        band.append(bands)
    mjd = np.concatenate(mjd)
    band = np.concatenate(band).astype(np.int64)
    order = np.argsort(mjd, kind="stable")
    mjd, band = mjd[order], band[order]
    depth = M5_WFD[band] + rng.normal(0.0, 0.3, size=len(band)) + (M5_DDF_BONUS if ddf else 0.0)
    return mjd, band, depth


# --- one object --------------------------------------------------------------------------------
def simulate_object(code: int, rng: np.random.Generator, ra: float, ddf: bool, z: float, mu: float,
                    mwebv: float) -> dict[str, Any]:
    """Simulate one object; redraws (same stream) until it has >= MIN_DETECTIONS detections."""
    for attempt in range(MAX_REDRAWS):
        mjd, band, depth = cadence(rng, ra, ddf)
        flux_true, tflux, info = object_flux(code, rng, mjd, band, z, mu)
        ext = 10.0 ** (-0.4 * R_EXT * mwebv)
        flux_true = flux_true * ext[band]
        tflux = tflux * ext
        sky = _mag_to_flux(depth) / DETECTION_SNR
        err = np.sqrt(sky ** 2 + POISSON_K * np.abs(flux_true + tflux[band]))
        flux = flux_true + rng.normal(0.0, 1.0, size=len(err)) * err
        detected = (np.abs(flux) / err >= DETECTION_SNR).astype(np.int8)
        if detected.sum() >= MIN_DETECTIONS:
            break
    return dict(mjd=mjd, passband=band, flux=flux, flux_err=err, detected_bool=detected,
                tflux=tflux, attempts=attempt + 1, **info)


# --- class mix ---------------------------------------------------------------------------------
def allocate_counts(weights: Mapping[int, float], n: int, floor: int, key: str = "n") -> dict[int, int]:
    """Split ``n`` objects over classes proportionally to ``weights`` with at least ``floor`` each.

    Largest-remainder rounding; the total is exactly ``n``.
    """
    codes = list(CLASS_CODES)
    if n < floor * len(codes):
        raise ValueError(f"config plasticc.simulate.{key}={n} is smaller than {len(codes)} classes x floor "
                         f"{floor}; raise {key} or lower min_per_class")
    w = np.array([float(weights[c]) for c in codes])
    fixed = np.zeros(len(codes), dtype=bool)
    while True:
        free = n - floor * fixed.sum()
        share = np.where(fixed, 0.0, w) / w[~fixed].sum() * free
        newly = (~fixed) & (share < floor)
        if not newly.any():
            break
        fixed |= newly
    base = np.where(fixed, floor, np.floor(share)).astype(int)
    rem = n - base.sum()
    frac = np.where(fixed, -1.0, share - np.floor(share))
    for i in np.argsort(-frac, kind="stable")[:rem]:
        base[i] += 1
    return {c: int(k) for c, k in zip(codes, base)}


def class_weights_from_config(weights: Mapping[Any, Any] | None) -> dict[int, float]:
    """The test-set class mix from config ``plasticc.simulate.class_weights``: PLAsTiCC code -> relative
    weight (classes left out get weight 0 but still ``min_per_class`` objects); None -> t2 Table 1."""
    if not weights:
        return table1_class_weights()
    out = {c: 0.0 for c in CLASS_CODES}
    for key, value in weights.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            code = None
        if code not in out:
            raise ValueError(f"config plasticc.simulate.class_weights: {key!r} is not one of the 14 PLAsTiCC "
                             f"codes {list(CLASS_CODES)}")
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"config plasticc.simulate.class_weights.{key}: weight must be a finite number >= 0, "
                             f"got {value!r}")
        out[code] = float(value)
    if sum(out.values()) <= 0:
        raise ValueError("config plasticc.simulate.class_weights: all weights are zero")
    return out


def table1_class_weights() -> dict[int, float]:
    """t2 Table 1 class counts (the unblinded PLAsTiCC test set without class 99)."""
    counts = paper_numbers()["t2"]["class_counts"]
    return {c: float(counts[c][1]) for c in CLASS_CODES}


# --- writing -----------------------------------------------------------------------------------
def write_csv_gz(df: pd.DataFrame, path: str | Path) -> None:
    """Deterministic gzip CSV (no mtime, no file name in the header), written atomically."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    data = buf.getvalue().encode("utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                                  compresslevel=6) as gz:
            gz.write(data)


def _simulate_split(split: str, counts: Mapping[int, int], ids: np.ndarray, ref: pd.DataFrame, seed: int,
                    ddf_fraction: float | None, keep_specz_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    split_id = {"train": 1, "test": 2}[split]
    codes = np.concatenate([np.full(counts[c], c, dtype=np.int64) for c in CLASS_CODES])
    rng_meta = np.random.default_rng([seed, split_id, 10 ** 9])
    codes = codes[rng_meta.permutation(len(codes))]
    rows = []
    lcs = []
    n_untriggered = 0
    by_class = {c: ref[ref["target"] == c].reset_index(drop=True) for c in CLASS_CODES}
    try:
        from tqdm import tqdm
        it = tqdm(range(len(codes)), desc=f"simulate {split}", mininterval=5.0, leave=False)
    except ImportError:  # pragma: no cover
        it = range(len(codes))
    for i in it:
        code = int(codes[i])
        oid = int(ids[i])
        rng = np.random.default_rng([seed, split_id, i])
        pool = by_class[code]
        # detection trigger: an object that never reaches MIN_DETECTIONS is redrawn (new cadence and
        # parameters, and after a few tries a new reference row, i.e. a new redshift): a selection like
        # PLAsTiCC's, which favours nearer / brighter objects.
        for row_try in range(N_ROW_TRIES):
            src = pool.iloc[int(rng.integers(len(pool)))]
            galactic = code in GALACTIC_CODES
            ddf = bool(src["ddf"]) if ddf_fraction is None else bool(rng.uniform() < ddf_fraction)
            if galactic:
                z, mu_true = 0.0, np.nan
                specz, photoz, photoz_err, distmod = 0.0, 0.0, 0.0, np.nan
            else:
                z = float(src["hostgal_specz"])
                mu_true = float(distance_modulus(z))
                specz = z if (split == "train" or rng.uniform() < keep_specz_fraction) else np.nan
                photoz, photoz_err = float(src["hostgal_photoz"]), float(src["hostgal_photoz_err"])
                distmod = float(src["distmod"])
            obj = simulate_object(code, rng, float(src["ra"]), ddf, z, mu_true if not galactic else 0.0,
                                  float(src["mwebv"]))
            if obj["detected_bool"].sum() >= MIN_DETECTIONS:
                break
        else:
            n_untriggered += 1
        n = len(obj["mjd"])
        lcs.append(pd.DataFrame({
            "object_id": np.full(n, oid, dtype=np.int64),
            "mjd": np.round(obj["mjd"], 4),
            "passband": obj["passband"].astype(np.int64),
            "flux": np.round(obj["flux"], 6),
            "flux_err": np.round(obj["flux_err"], 6),
            "detected_bool": obj["detected_bool"].astype(np.int64),
        }))
        row = {
            "object_id": oid, "ra": round(float(src["ra"]), 6), "decl": round(float(src["decl"]), 6),
            "ddf_bool": int(ddf), "hostgal_specz": specz, "hostgal_photoz": photoz,
            "hostgal_photoz_err": photoz_err, "distmod": distmod, "mwebv": float(src["mwebv"]),
            "target": code if split == "train" else 0, "true_target": code,
            "true_submodel": int(obj["submodel"]), "true_z": z,
            "true_distmod": round(mu_true, 4) if not galactic else np.nan,
            "true_lensdmu": 0.0, "true_vpec": np.nan, "true_rv": np.nan, "true_av": np.nan,
            "true_peakmjd": round(float(obj["peakmjd"]), 4) if np.isfinite(obj["peakmjd"]) else np.nan,
            "libid_cadence": int(split_id * 10 ** 7 + i),
        }
        for b, name in enumerate("ugrizy"):
            row[f"tflux_{name}"] = round(float(obj["tflux"][b]), 4)
        rows.append(row)
    if n_untriggered:
        log.info("%s: %d objects kept with < %d detections after all redraws", split, n_untriggered, MIN_DETECTIONS)
    meta = pd.DataFrame(rows, columns=METADATA_COLUMNS).sort_values("object_id", kind="stable")
    lc = pd.concat(lcs, ignore_index=True).sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True)
    return meta.reset_index(drop=True), lc


def simulate_plasticc(
    outputs: Mapping[str, str | Path],
    reference_metadata: str | Path,
    seed: int,
    n_train: int,
    n_test: int,
    n_test_files: int,
    min_per_class: int,
    test_ddf_fraction: float = 0.1,
    test_specz_fraction: float = 0.05,
    test_class_weights: Mapping[int, float] | None = None,
) -> dict[str, Any]:
    """Write the Zenodo-layout files named in ``outputs`` (keys = file stems, as ``plasticc_raw_files()``).

    ``reference_metadata``: the real Kaggle training metadata (7,848 rows) whose rows supply positions,
    MW extinction, DDF flags (train) and, per class, redshifts / photo-z. Returns a summary dict.
    """
    expected = raw_file_stems(n_test_files)
    missing = [k for k in expected if k not in outputs]
    extra = [k for k in outputs if k not in expected]
    if missing or extra:
        raise ValueError(f"simulate_plasticc: outputs must be exactly {expected} "
                         f"(config plasticc.simulate.n_test_files={n_test_files}); missing {missing}, extra {extra}")
    ref = pd.read_csv(reference_metadata)
    need = {"object_id", "ra", "decl", "ddf", "hostgal_specz", "hostgal_photoz", "hostgal_photoz_err", "distmod",
            "mwebv", "target"}
    if need - set(ref.columns):
        raise ValueError(f"{reference_metadata}: missing columns {sorted(need - set(ref.columns))}")
    absent = [c for c in CLASS_CODES if not (ref["target"] == c).any()]
    if absent:
        raise ValueError(f"{reference_metadata}: no rows for class codes {absent}")
    train_weights = ref["target"].value_counts().to_dict()
    train_counts = allocate_counts({c: train_weights.get(c, 0) for c in CLASS_CODES}, n_train, 1, "n_train")
    test_counts = allocate_counts(test_class_weights or table1_class_weights(), n_test, min_per_class,
                                  "n_test")
    # disjoint, sorted-at-random object ids in PLAsTiCC's range
    rng_ids = np.random.default_rng([seed, 0])
    ids = rng_ids.choice(130_000_000, size=n_train + n_test, replace=False) + 10
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    meta_tr, lc_tr = _simulate_split("train", train_counts, train_ids, ref, seed, None, 1.0)
    meta_te, lc_te = _simulate_split("test", test_counts, test_ids, ref, seed, test_ddf_fraction,
                                     test_specz_fraction)
    write_csv_gz(lc_tr[LIGHTCURVE_COLUMNS], outputs["plasticc_train_lightcurves"])
    write_csv_gz(meta_tr, outputs["plasticc_train_metadata"])
    write_csv_gz(meta_te, outputs["plasticc_test_metadata"])
    groups = np.array_split(np.sort(meta_te["object_id"].to_numpy()), n_test_files)
    for k, grp in enumerate(groups, start=1):
        part = lc_te[lc_te["object_id"].isin(grp)]
        write_csv_gz(part[LIGHTCURVE_COLUMNS], outputs[f"plasticc_test_lightcurves_{k:02d}"])
    summary = {
        "seed": seed,
        "n_train": int(len(meta_tr)), "n_test": int(len(meta_te)),
        "rows_train": int(len(lc_tr)), "rows_test": int(len(lc_te)),
        "train_counts": {CLASS_NAMES[c]: n for c, n in train_counts.items()},
        "test_counts": {CLASS_NAMES[c]: n for c, n in test_counts.items()},
        "points_per_object_test_median": float(lc_te.groupby("object_id").size().median()),
        "ddf_fraction_test": float(meta_te["ddf_bool"].mean()),
    }
    log.info("simulated PLAsTiCC-like data: %s", summary)
    return summary



def raw_file_stems(n_test_files: int) -> list[str]:
    """Zenodo 2539456 file stems (``<stem>.csv.gz``) for ``n_test_files`` test light-curve files."""
    return ["plasticc_train_lightcurves", "plasticc_train_metadata", "plasticc_test_metadata"] + [
        f"plasticc_test_lightcurves_{i:02d}" for i in range(1, n_test_files + 1)]


def simulate_to_dir(out_dir: str | Path, reference_metadata: str | Path, n_test_files: int = 2, **kwargs: Any
                    ) -> dict[str, Path]:
    """``simulate_plasticc`` into ``out_dir`` with the Zenodo names; returns stem -> path."""
    paths = {s: Path(out_dir) / f"{s}.csv.gz" for s in raw_file_stems(n_test_files)}
    simulate_plasticc(paths, reference_metadata, n_test_files=n_test_files, **kwargs)
    return paths
