"""Loaders on the 10 real Kaggle objects and on malformed inputs (errors name file, object, row)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transientrepro.plasticc.loaders import (
    PlasticcFormatError,
    iter_lightcurves,
    load_plasticc,
    read_lightcurves,
    read_metadata,
    true_class,
)
from transientrepro.plasticc.simulate import LIGHTCURVE_COLUMNS, METADATA_COLUMNS

FIX = Path(__file__).resolve().parent / "data/plasticc_kaggle_training_sample10"
LC, META = FIX / "training_set.csv", FIX / "training_set_metadata.csv"
COUNTS = {615: 352, 713: 350, 730: 330, 745: 351, 1124: 352, 1227: 330, 1598: 352, 1632: 352, 1920: 255, 1926: 255}


def test_real_fixture_kaggle_variant():
    meta, lc = load_plasticc([LC], [META])
    assert list(meta.columns) == METADATA_COLUMNS and list(lc.columns) == LIGHTCURVE_COLUMNS
    assert len(meta) == 10 and len(lc) == 3279          # (SOURCE.md says 3,278; its per-object counts sum to 3,279)
    assert lc.groupby("object_id").size().to_dict() == COUNTS
    assert lc["passband"].value_counts().sort_index().tolist() == [598, 538, 538, 538, 536, 531]
    assert meta["target"].value_counts().to_dict() == {90: 4, 42: 2, 65: 2, 88: 1, 92: 1}
    assert (meta["ddf_bool"] == 1).all()                # Kaggle 'ddf' -> 'ddf_bool'
    assert (meta["true_target"] == meta["target"]).all()
    assert meta["true_z"].isna().all() and meta["tflux_u"].isna().all()
    assert str(lc["passband"].dtype) == "int8" and str(lc["detected_bool"].dtype) == "int8"
    first = lc.iloc[0]
    assert first["object_id"] == 615 and first["mjd"] == pytest.approx(59750.4229)
    assert first["flux"] == pytest.approx(-544.810303) and first["detected_bool"] == 1
    assert (lc.groupby("object_id")["mjd"].diff().dropna() >= 0).all()
    m = meta.set_index("object_id")
    assert np.isnan(m.loc[615, "distmod"]) and m.loc[713, "hostgal_photoz"] == pytest.approx(1.6267)


def test_unsorted_rows_are_sorted(tmp_path):
    df = pd.read_csv(LC)
    shuffled = df.sample(frac=1.0, random_state=0)
    p = tmp_path / "shuffled.csv"
    shuffled.to_csv(p, index=False)
    lc = read_lightcurves(p)
    ref = read_lightcurves(LC)
    pd.testing.assert_frame_equal(lc.sort_values(["object_id", "mjd", "passband"]).reset_index(drop=True),
                                  ref.sort_values(["object_id", "mjd", "passband"]).reset_index(drop=True))
    assert (lc.groupby("object_id")["mjd"].diff().dropna() >= 0).all()
    assert lc["object_id"].is_monotonic_increasing


def test_zenodo_variant_and_blinded_target(tmp_path):
    meta = pd.read_csv(META).drop(columns=["gal_l", "gal_b"]).rename(columns={"ddf": "ddf_bool"})
    for c in METADATA_COLUMNS:
        if c not in meta:
            meta[c] = np.nan
    meta["true_target"] = meta["target"]
    meta["target"] = 0
    p = tmp_path / "plasticc_test_metadata.csv.gz"
    meta[METADATA_COLUMNS].to_csv(p, index=False)
    m = read_metadata(p)
    assert list(m.columns) == METADATA_COLUMNS
    assert (m["target"] == 0).all()
    assert true_class(m).tolist() == pd.read_csv(META)["target"].tolist()
    lc = pd.read_csv(LC).rename(columns={"detected": "detected_bool"})
    q = tmp_path / "plasticc_test_lightcurves_01.csv.gz"
    lc.to_csv(q, index=False)
    assert read_lightcurves(q).shape == (3279, 6)


def _bad_lc(tmp_path, mutate, name="bad_lc.csv"):
    text = LC.read_text().splitlines()
    text = mutate(text)
    p = tmp_path / name
    p.write_text("\n".join(text) + "\n")
    return p


def _set_field(lines, line_no, col, value):
    fields = lines[line_no].split(",")
    fields[col] = value
    lines[line_no] = ",".join(fields)
    return lines


@pytest.mark.parametrize("line_no,col,value,expect", [
    (5, 2, "7", "unknown passband"),
    (10, 3, "nan", "'flux' is missing or not finite"),
    (11, 3, "inf", "'flux' is missing or not finite"),
    (12, 4, "0.0", "flux_err must be > 0"),
    (13, 4, "-1.5", "flux_err must be > 0"),
    (14, 1, "abc", "non-numeric value 'abc'"),
    (15, 5, "2", "detected flag not 0/1"),
    (16, 1, "", "'mjd' is missing or not finite"),
])
def test_malformed_lightcurve_rows(tmp_path, line_no, col, value, expect):
    p = _bad_lc(tmp_path, lambda ls: _set_field(ls, line_no, col, value))
    with pytest.raises(PlasticcFormatError) as e:
        read_lightcurves(p)
    msg = str(e.value)
    assert expect in msg
    assert str(p) in msg and "object_id 615" in msg
    assert f"data row {line_no} (CSV line {line_no + 1})" in msg


def test_error_row_numbers_across_chunks(tmp_path):
    p = _bad_lc(tmp_path, lambda ls: _set_field(ls, 2000, 2, "9"))
    oid = pd.read_csv(LC)["object_id"].iloc[1999]
    with pytest.raises(PlasticcFormatError, match=rf"object_id {oid}, data row 2000 \(CSV line 2001\)"):
        for _ in iter_lightcurves(p, chunksize=300):
            pass


def test_missing_column_and_ragged_row(tmp_path):
    df = pd.read_csv(LC).drop(columns=["flux_err"])
    p = tmp_path / "nocol.csv"
    df.to_csv(p, index=False)
    with pytest.raises(PlasticcFormatError, match=r"nocol.csv: light-curve file is missing column\(s\) \['flux_err'\]"):
        read_lightcurves(p)
    q = _bad_lc(tmp_path, lambda ls: ls[:20] + [ls[20] + ",1,2"] + ls[21:], name="ragged.csv")
    with pytest.raises(PlasticcFormatError, match=r"ragged.csv, data row 20 \(CSV line 21\): malformed CSV row: expected 6 fields, saw 8"):
        read_lightcurves(q)


def test_metadata_errors(tmp_path):
    meta = pd.read_csv(META)
    dup = pd.concat([meta, meta.iloc[[3]]])
    p = tmp_path / "dup_meta.csv"
    dup.to_csv(p, index=False)
    with pytest.raises(PlasticcFormatError, match=r"dup_meta.csv, object_id 745: duplicate object in metadata at "
                                                  r"data rows \[4, 11\]"):
        read_metadata(p)
    q = tmp_path / "nomwebv.csv"
    meta.drop(columns=["mwebv"]).to_csv(q, index=False)
    with pytest.raises(PlasticcFormatError, match=r"nomwebv.csv: metadata file is missing column\(s\) \['mwebv'\]"):
        read_metadata(q)
    bad = meta.astype({"hostgal_photoz": object})
    bad.loc[6, "hostgal_photoz"] = "x1"
    r = tmp_path / "badz.csv"
    bad.to_csv(r, index=False)
    with pytest.raises(PlasticcFormatError, match=r"badz.csv, object_id 1598, data row 7 \(CSV line 8\): column "
                                                  r"'hostgal_photoz' has non-numeric value 'x1'"):
        read_metadata(r)


def test_objects_must_match_between_metadata_and_lightcurves(tmp_path):
    meta = pd.read_csv(META)
    p = tmp_path / "meta9.csv"
    meta[meta["object_id"] != 1227].to_csv(p, index=False)
    with pytest.raises(PlasticcFormatError, match=r"training_set.csv, object_id 1227, data row \d+ .*absent from the "
                                                  r"metadata"):
        load_plasticc([LC], [p])
    lc = pd.read_csv(LC)
    q = tmp_path / "lc9.csv"
    lc[lc["object_id"] != 1632].to_csv(q, index=False)
    with pytest.raises(PlasticcFormatError, match=r"training_set_metadata.csv, object_id 1632, data row 8 .*no "
                                                  r"photometry"):
        load_plasticc([q], [META])
