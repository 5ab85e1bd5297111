"""t2 on the SDSS-II light curves (issue 12): the SDSS GP (bands, wavelengths, detections, redshifts),
the split table being exactly ConvEntion's objects, partitions and folds (compared with what
ConvEntion's protocol itself predicted, fold by fold), and a tiny pre-train -> fine-tune run whose
metrics.json has ConvEntion's fields."""
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_synthetic_ingest

from transientrepro.convention import stages
from transientrepro.convention.data import build_sequence_data
from transientrepro.convention.model import ConvEntion, ModelConfig
from transientrepro.convention.protocol import TrainConfig, finetune_cv
from transientrepro.gp.config import GPInputError
from transientrepro.gp.sdss import gp_config, gp_inputs, redshifts, run_sdss_gp
from transientrepro.io import load_npz, read_json, save_npz, write_parquet
from transientrepro.sdss.classes import BAND_WAVELENGTHS

torch.set_num_threads(1)

TINY_MODEL = {"K": 2, "cnn_channels": [2, 4, 4, 4], "cnn_kernels": [3, 3, 3, 3], "cnn_strides": [2, 1, 1, 1],
              "cnn_paddings": [1, 1, 1, 1], "L": 1, "T": 2, "d_ff": 4, "attention_kernel": 3, "classifier_hidden": 8}
SECTION = {"seed": 5, "M": 6, "crop": "brightest", "model": TINY_MODEL,
           "train": {"lr": 0.003, "batch_size": 16, "epochs_pretrain": 1, "epochs_finetune": 1, "n_folds": 3,
                     "n_ensembles": 1}}
GP = {"n_points": 20, "engine": "batched", "device": "cpu", "time_grid": "transient", "normalisation": "none"}


def test_sdss_gp_uses_the_five_sdss_bands_and_their_wavelengths():
    cfg = gp_config(GP, "ugriz")
    assert cfg.passband_wavelengths == (3557.0, 4825.0, 6261.0, 7672.0, 9097.0)  # Fukugita et al. 1996, u..z
    assert cfg.passband_wavelengths == tuple(BAND_WAVELENGTHS[b] for b in "ugriz") and cfg.n_passbands == 5
    assert gp_config(GP, "g").passband_wavelengths == (4825.0,)
    for bad in ("ugrizy", "gg", "x", ""):
        with pytest.raises(GPInputError, match="SDSS bands"):
            gp_config(GP, bad)


def _objects_and_lightcurves(n=6, seed=0):
    rng = np.random.default_rng(seed)
    cids = np.arange(100, 100 + n) * 7
    objects = pd.DataFrame({"CID": cids, "label": ["SNIa", "AGN", "Variable", "SNIa_PT", "SNOther_PT", "Unknown"][:n],
                            "redshift": [0.1, np.nan, np.nan, 0.2, np.nan, np.nan][:n],
                            "redshift_err": [1e-3, np.nan, np.nan, np.nan, np.nan, np.nan][:n],
                            "redshift_phot": [np.nan, 0.5, np.nan, 0.25, 0.3, np.nan][:n],
                            "redshift_phot_err": [np.nan, 0.05, np.nan, 0.02, 0.04, np.nan][:n]})
    rows = []
    for k, cid in enumerate(cids):
        for night in np.arange(53620.0, 53720.0, 4.0):
            for band in range(1, 6):
                # band b has a constant level 10 * b plus a transient bump: the GP must keep the bands apart
                flux = 10.0 * band + 200.0 * np.exp(-0.5 * ((night - 53670.0) / 8.0) ** 2) + rng.normal(0, 0.5)
                rows.append((cid, night + 0.01 * band, band, flux, 0.5))
    lc = pd.DataFrame(rows, columns=["CID", "mjd", "band", "flux", "flux_err"])
    return objects, lc


def test_gp_inputs_map_bands_detections_and_redshifts():
    objects, lc = _objects_and_lightcurves()
    glc, meta = gp_inputs(objects, lc, "ugriz", detection_snr=5.0)
    assert sorted(glc["passband"].unique()) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(glc["passband"].to_numpy(), lc["band"].to_numpy() - 1)
    np.testing.assert_array_equal(glc["detected_bool"], lc["flux"] / lc["flux_err"] >= 5.0)
    g_lc, _ = gp_inputs(objects, lc, "g")
    assert len(g_lc) == int((lc["band"] == 2).sum()) and set(g_lc["passband"]) == {0}
    z = redshifts(objects)
    np.testing.assert_allclose(z["z"], [0.1, 0.5, 0.0, 0.2, 0.3, 0.0])  # spec, else host photo-z, else 0
    np.testing.assert_allclose(z["z_err"], [1e-3, 0.05, 0.0, 0.0, 0.04, 0.0])
    assert z["redshift_source"].tolist() == ["spec", "phot", "none", "spec", "phot", "none"]
    assert meta["object_id"].tolist() == objects["CID"].tolist()
    with pytest.raises(GPInputError, match="missing column"):
        gp_inputs(objects.drop(columns=["label"]), lc, "ugriz")
    with pytest.raises(GPInputError, match="unknown label"):
        gp_inputs(objects.assign(label="Quasar"), lc, "ugriz")


def test_run_sdss_gp_writes_five_band_arrays(tmp_path):
    objects, lc = _objects_and_lightcurves()
    write_parquet(objects, tmp_path / "objects.parquet")
    write_parquet(lc, tmp_path / "lightcurves.parquet")
    out = tmp_path / "gp_ugriz.npz"
    s = run_sdss_gp(tmp_path / "objects.parquet", tmp_path / "lightcurves.parquet", "ugriz", GP, 5.0, out,
                    tmp_path / "f.csv", tmp_path / "s.json", progress=False)
    d = load_npz(out)
    assert d["X"].shape == (6, 20, 5) and s["n_objects"] == 6 and str(d["attr_bands"]) == "ugriz"
    np.testing.assert_allclose(d["attr_passband_wavelengths"], [3557.0, 4825.0, 6261.0, 7672.0, 9097.0])
    # far from the bump each column sits at its own band's level 10 * b (the wavelength axis is real)
    edge = d["X"][:, 0, :].mean(0)
    assert np.all(np.diff(edge) > 3.0), edge
    g = run_sdss_gp(tmp_path / "objects.parquet", tmp_path / "lightcurves.parquet", "g", GP, 5.0,
                    tmp_path / "gp_g.npz", tmp_path / "fg.csv", tmp_path / "sg.json", progress=False)
    assert load_npz(tmp_path / "gp_g.npz")["X"].shape == (6, 20, 1) and g["wavelengths"] == [4825.0]


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    d = tmp_path_factory.mktemp("ingest")
    objects, stamps = write_synthetic_ingest(d, n_objects=90, seed=21)
    return d, objects, stamps


@pytest.mark.parametrize("variant", ["convention_ugriz", "convention_g_3class"])
def test_split_table_is_exactly_the_folds_convention_trained_on(ingest, tmp_path, variant):
    """The t2-on-SDSS split table against ConvEntion's own predictions.parquet: same object ids in
    every fold, same labels, and the pre-training objects are ConvEntion's Train partition."""
    d, objects, stamps = ingest
    table = stages.run_split_table(d / "objects.parquet", d / "stamps.h5", variant, SECTION, tmp_path / "s.parquet",
                                   tmp_path / "s.json", partition_seed=9)
    info = read_json(tmp_path / "s.json")
    assert info["variant"] == variant and info["n_folds"] == 3 and info["fold_seed"] == 5
    bands, task = stages.parse_variant(variant)
    data = build_sequence_data(objects, stamps, bands, task, M=6, seed=9)
    cfg = TrainConfig.from_mapping({**SECTION["train"], "seed": 5})
    mcfg = ModelConfig.from_mapping(TINY_MODEL)
    finetune_cv(lambda c: ConvEntion(mcfg, c, data.stamp_size, data.M), data, cfg, tmp_path / "conv")
    conv = pd.read_parquet(tmp_path / "conv" / "predictions.parquet")
    spec = table[table["fold"] >= 0]
    assert len(spec) == len(conv) > 0
    for f in range(3):
        assert set(spec.loc[spec["fold"] == f, "object_id"]) == set(conv.loc[conv["fold"] == f, "object_id"])
    merged = spec.merge(conv, on="object_id")
    np.testing.assert_array_equal(merged["y"], merged["y_true"])
    pre = table[table["fold"] < 0]
    assert set(pre["object_id"]) == set(data.object_ids[data.pretrain_rows]) and set(pre["partition"]) == {"Train"}
    assert list(table["object_id"]) == list(data.object_ids)


def test_t2_on_sdss_tiny_run_has_convention_fields(ingest, tmp_path):
    from transientrepro.t2.sdss import convention_variant, parse_variant, run_sdss_t2, section_settings
    from transientrepro.t2.params import T2ConfigError

    assert parse_variant("t2_sdss_g_3class_noz") == ("g", "3class", False)
    assert parse_variant("t2_sdss_ugriz") == ("ugriz", "4class", True)
    assert convention_variant("t2_sdss_g_noz") == "convention_g"
    with pytest.raises(T2ConfigError):
        parse_variant("t2_sdss_r")
    with pytest.raises(T2ConfigError, match="unknown key"):
        section_settings({"epochs": 3})

    d, objects, stamps = ingest
    table = stages.run_split_table(d / "objects.parquet", d / "stamps.h5", "convention_ugriz", SECTION,
                                   tmp_path / "s.parquet", tmp_path / "s.json", partition_seed=9)
    # GP arrays with a class signal for all but two objects (one pre-training, one in the folds)
    rng = np.random.default_rng(0)
    missing = [int(table.loc[table["fold"] < 0, "object_id"].iloc[0]), int(table.loc[table["fold"] == 1, "object_id"].iloc[0])]
    keep = table[~table["object_id"].isin(missing)]
    X = rng.normal(0, 0.3, (len(keep), 12, 5)).astype(np.float32) + 2 * keep["y"].to_numpy()[:, None, None].astype(np.float32)
    save_npz(tmp_path / "gp.npz", X=X, object_id=keep["object_id"].to_numpy(np.int64),
             z=rng.uniform(0, 1, len(keep)).astype(np.float32), z_err=np.full(len(keep), 0.01, np.float32),
             target=np.zeros(len(keep), np.int64))
    t2 = {"hyperparameters": {"d": 8, "h": 2, "d_ff": 8, "N": 1, "dropout": 0.1, "learning_rate": 0.01},
          "scaling": "dataset_band", "aux_scaling": "robust", "positional_encoding": "vaswani", "loss": "batch_flat"}
    out = tmp_path / "t2"
    m = run_sdss_t2(tmp_path / "gp.npz", tmp_path / "s.parquet", tmp_path / "s.json", "t2_sdss_ugriz", t2,
                    {"batch_size": 16, "epochs_pretrain": 6, "epochs_finetune": 2, "n_ensembles": 2}, out, seed=1, threads=1)
    conv_keys = {"class_names", "n_folds", "n_ensembles", "selection", "selection_metric", "summary", "accuracy",
                 "accuracy_std", "f1_macro", "f1_macro_std", "balanced_accuracy", "balanced_accuracy_std", "members",
                 "by_epoch", "selected_epochs", "fold_sizes", "recall_per_class", "recall_per_class_std",
                 "confusion_matrix_normalised", "confusion_matrix_normalised_std", "folds", "n_spec"}
    assert conv_keys <= set(read_json(out / "metrics.json"))
    assert m["n_folds"] == 3 and m["n_ensembles"] == 2 and m["n_without_gp"] == 2 and m["n_spec_without_gp"] == 1
    assert m["comparison"].startswith("t2 on SDSS-II") and m["uses_redshift"] is True
    assert m["accuracy"] > 0.6, m["accuracy"]  # a strong class signal is learnt
    pred = pd.read_parquet(out / "predictions.parquet")
    spec = table[table["fold"] >= 0]
    for f in range(3):
        assert set(pred.loc[pred["fold"] == f, "object_id"]) == set(spec.loc[spec["fold"] == f, "object_id"])
    p = pred[[f"p_{c}" for c in m["class_names"]]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    no_gp = pred[~pred["has_gp"]]
    assert no_gp["object_id"].tolist() == [missing[1]]
    np.testing.assert_allclose(no_gp[[f"p_{c}" for c in m["class_names"]]].to_numpy(), 0.25)
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 3 * 2 * 2 and {"val_accuracy", "test_accuracy", "train_loss"} <= set(curves.columns)
    assert len(pd.read_csv(out / "pretrain_curves.csv")) == 6 and (out / "pretrain.weights.h5").exists()
    assert all(s["n_fit"] + s["n_val"] <= s["n_train_folds"] for s in m["fold_sizes"])
    with pytest.raises(T2ConfigError, match="needs 'convention_g'"):
        run_sdss_t2(tmp_path / "gp.npz", tmp_path / "s.parquet", tmp_path / "s.json", "t2_sdss_g", t2, {}, tmp_path / "x")
