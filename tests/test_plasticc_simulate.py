"""Class catalogue and the embedded PLAsTiCC-like simulator (Zenodo 2539456 layout)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transientrepro.plasticc import classes as C
from transientrepro.plasticc.simulate import (
    LIGHTCURVE_COLUMNS,
    METADATA_COLUMNS,
    allocate_counts,
    object_flux,
    raw_file_stems,
    simulate_to_dir,
    table1_class_weights,
    transient_flux,
    _draw_transient,
)

REF = Path(__file__).resolve().parents[1] / "data/plasticc_kaggle_training_metadata/training_set_metadata.csv"
SMALL = dict(seed=7, n_train=40, n_test=160, min_per_class=5)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate_to_dir(out, REF, n_test_files=2, **SMALL)


def test_class_catalogue():
    assert C.CLASS_CODES == [6, 15, 16, 42, 52, 53, 62, 64, 65, 67, 88, 90, 92, 95]
    assert C.CLASS_NAMES[90] == "SNIa" and C.CLASS_NAMES[6] == "mu-Lens-Single" and C.CLASS_NAMES[95] == "SLSN-I"
    assert C.GALACTIC_CODES == {6, 16, 53, 65, 92}
    np.testing.assert_array_equal(C.PASSBAND_WAVELENGTHS, [3671, 4827, 6223, 7546, 8691, 9712])
    assert C.code_to_index(90) == 11 and C.index_to_code(11) == 90
    np.testing.assert_array_equal(C.index_to_code(C.code_to_index([95, 6, 42])), [95, 6, 42])
    with pytest.raises(C.UnknownClassError, match="991"):
        C.code_to_index([90, 991])
    with pytest.raises(C.UnknownClassError):
        C.index_to_code(14)


def test_allocate_counts_follows_table1_with_floor():
    counts = allocate_counts(table1_class_weights(), 1200, 30)
    assert sum(counts.values()) == 1200
    assert min(counts.values()) == 30
    assert counts[90] > counts[42] > counts[62] > 30          # Table 1 ordering of the big classes
    assert counts[90] == max(counts.values())
    with pytest.raises(ValueError, match="n_test"):
        allocate_counts(table1_class_weights(), 100, 30, "n_test")


def test_files_and_columns_are_zenodo(sim):
    assert sorted(sim) == sorted(raw_file_stems(2))
    assert [p.name for p in sim.values()] == [f"{s}.csv.gz" for s in raw_file_stems(2)]
    for stem, path in sim.items():
        header = gzip.open(path, "rt").readline().strip().split(",")
        assert header == (METADATA_COLUMNS if "metadata" in stem else LIGHTCURVE_COLUMNS), stem


def test_all_classes_and_metadata_semantics(sim):
    tr = pd.read_csv(sim["plasticc_train_metadata"])
    te = pd.read_csv(sim["plasticc_test_metadata"])
    assert set(tr["true_target"]) == set(C.CLASS_CODES)
    assert set(te["true_target"]) == set(C.CLASS_CODES)
    assert len(tr) == 40 and len(te) == 160
    assert te["true_target"].value_counts().min() >= 5
    assert (tr["target"] == tr["true_target"]).all()
    assert (te["target"] == 0).all()                      # blinded, as in the public test file
    assert not set(tr["object_id"]) & set(te["object_id"])
    both = pd.concat([tr, te])
    gal = both["true_target"].isin(C.GALACTIC_CODES)
    assert (both.loc[gal, "true_z"] == 0).all() and (both.loc[gal, "hostgal_photoz"] == 0).all()
    assert both.loc[gal, "distmod"].isna().all() and both.loc[gal, "true_distmod"].isna().all()
    xg = both.loc[~gal]
    assert (xg["true_z"] > 0).all() and xg["distmod"].notna().all() and (xg["hostgal_photoz_err"] > 0).all()
    # redshifts are drawn from the real metadata of the same class
    ref = pd.read_csv(REF)
    for code in (90, 88, 64):
        real = set(np.round(ref.loc[ref["target"] == code, "hostgal_specz"], 4))
        assert set(np.round(xg.loc[xg["true_target"] == code, "true_z"], 4)) <= real


def test_lightcurves_plausible(sim):
    lc = pd.concat([pd.read_csv(sim[s]) for s in ("plasticc_test_lightcurves_01", "plasticc_test_lightcurves_02")])
    te = pd.read_csv(sim["plasticc_test_metadata"])
    assert set(lc["object_id"]) == set(te["object_id"])
    assert lc["passband"].between(0, 5).all() and (lc["flux_err"] > 0).all()
    assert lc["mjd"].between(59580, 60675).all()
    snr = (lc["flux"] / lc["flux_err"]).abs()
    assert ((snr >= 5) == (lc["detected_bool"] == 1)).mean() > 0.999
    assert (lc["flux"] < 0).any()                           # difference fluxes can be negative
    npts = lc.groupby("object_id").size()
    wfd = te.set_index("object_id")["ddf_bool"].reindex(npts.index) == 0
    assert 40 <= npts[wfd].median() <= 150
    if (~wfd).any():
        assert npts[~wfd].median() > npts[wfd].median()
    ndet = lc.groupby("object_id")["detected_bool"].sum()
    assert (ndet >= 2).mean() > 0.95                        # detection trigger (redraws)
    # each object's rows are sorted by mjd and contiguous; files split objects without overlap
    f1 = pd.read_csv(sim["plasticc_test_lightcurves_01"])
    f2 = pd.read_csv(sim["plasticc_test_lightcurves_02"])
    assert not set(f1["object_id"]) & set(f2["object_id"])
    assert (f1.groupby("object_id")["mjd"].diff().dropna() >= 0).all()


def test_deterministic_by_seed(sim, tmp_path):
    again = simulate_to_dir(tmp_path / "a", REF, n_test_files=2, **SMALL)
    for stem in sim:
        assert sim[stem].read_bytes() == again[stem].read_bytes(), stem
    other = simulate_to_dir(tmp_path / "b", REF, n_test_files=2, **{**SMALL, "seed": 8})
    assert other["plasticc_test_lightcurves_01"].read_bytes() != sim["plasticc_test_lightcurves_01"].read_bytes()
    assert not pd.read_csv(other["plasticc_test_metadata"]).equals(pd.read_csv(sim["plasticc_test_metadata"]))


def _fwhm(t, f):
    above = t[f >= 0.5 * f.max()]
    return above.max() - above.min()


@pytest.mark.parametrize("code", [90, 52, 67, 62, 95, 42])
def test_time_dilation(code):
    p = _draw_transient(code, np.random.default_rng(3), mu=40.0)
    t = p["t_peak"] + np.linspace(-200, 600, 40001)
    widths = {}
    for z in (0.1, 0.7):
        f = transient_flux(p, t, 5000.0 * (1 + z), z)     # same rest-frame wavelength
        widths[z] = _fwhm(t, f)
        assert abs(t[np.argmax(f)] - p["t_peak"]) < 5 * (1 + z) or code == 42
    assert widths[0.7] / widths[0.1] == pytest.approx(1.7 / 1.1, rel=0.01)


def test_redshift_dims_and_reddens():
    p = _draw_transient(90, np.random.default_rng(5), mu=40.0)
    t = np.array([p["t_peak"]])
    near = transient_flux(p, t, 6223.0, 0.1)
    far = transient_flux({**p, "F0": p["F0"] * 10 ** (-0.4 * 3.0)}, t, 6223.0, 0.1)
    assert far[0] == pytest.approx(near[0] * 10 ** (-1.2))
    # u/r colour at peak drops with redshift (rest-frame UV suppression / blackbody)
    ratio = [transient_flux(p, t, 3671.0, z)[0] / transient_flux(p, t, 6223.0, z)[0] for z in (0.05, 0.5)]
    assert ratio[1] < ratio[0]


@pytest.mark.parametrize("code", C.CLASS_CODES)
def test_every_class_model_varies(code):
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(59580, 60675, 3000))
    band = rng.integers(0, 6, 3000)
    z, mu = (0.0, 0.0) if code in C.GALACTIC_CODES else (0.2, 40.0)
    flux, tflux, info = object_flux(code, rng, t, band, z, mu)
    assert flux.shape == t.shape and np.isfinite(flux).all() and np.isfinite(tflux).all()
    assert np.ptp(flux) > 0
    if code in C.GALACTIC_CODES or code == 88:
        assert (tflux > 0).all()                              # template (quiescent) flux
    else:
        assert (tflux == 0).all() and np.isfinite(info["peakmjd"])


def test_outputs_must_match_n_test_files(tmp_path):
    from transientrepro.plasticc.simulate import simulate_plasticc

    paths = {s: tmp_path / f"{s}.csv.gz" for s in raw_file_stems(3)}
    with pytest.raises(ValueError, match=r"n_test_files=2.*extra \['plasticc_test_lightcurves_03'\]"):
        simulate_plasticc(paths, REF, n_test_files=2, **SMALL)
    assert not list(tmp_path.iterdir())


def test_class_mix_from_config():
    from transientrepro.plasticc.simulate import allocate_counts, class_weights_from_config, table1_class_weights

    assert class_weights_from_config(None) == table1_class_weights()
    w = class_weights_from_config({90: 3, "42": 1})
    counts = allocate_counts(w, 200, 5)
    assert counts[90] > counts[42] > counts[6] == 5 and sum(counts.values()) == 200
    with pytest.raises(ValueError, match="class_weights: 99 is not one of"):
        class_weights_from_config({99: 1})
    with pytest.raises(ValueError, match=r"class_weights\.90"):
        class_weights_from_config({90: -1})
