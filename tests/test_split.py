"""The representative, class x redshift stratified train/test split (t2 §5.1)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transientrepro import split as sp
from transientrepro.io import read_json, save_npz

# a PLAsTiCC-like population: big, medium and tiny classes; galactic classes at z = 0
GALACTIC = {16: 300, 53: 4, 65: 250, 92: 200, 6: 3}
EXTRAGALACTIC = {90: 1500, 42: 900, 62: 200, 67: 80, 52: 60, 15: 30, 64: 2, 88: 120, 95: 40}


def population(seed=0):
    rng = np.random.default_rng(seed)
    targets, zs = [], []
    for c, n in GALACTIC.items():
        targets += [c] * n
        zs += [0.0] * n
    for c, n in EXTRAGALACTIC.items():
        targets += [c] * n
        zs += list(np.round(rng.lognormal(mean=np.log(0.3 + 0.01 * (c % 7)), sigma=0.5, size=n), 4))
    oid = rng.permutation(np.arange(1000, 1000 + 7 * len(targets), 7))
    return oid, np.array(targets), np.array(zs)


@pytest.fixture(scope="module")
def pop():
    return population()


def test_ratios_and_tiny_classes(pop):
    oid, target, z = pop
    df = sp.make_split(oid, target, z, 0.3, 5, seed=42)
    assert list(df.columns) == ["object_id", "split"]
    assert df.object_id.is_monotonic_increasing and set(df.object_id) == set(oid)
    assert set(df.split) == {"train", "test"}
    assert abs((df.split == "test").mean() - 0.3) < 0.01
    lab = pd.Series(target, index=oid).loc[df.object_id].to_numpy()
    for c in np.unique(target):
        m = lab == c
        n_te = int(np.sum(df.split.to_numpy()[m] == "test"))
        n = int(m.sum())
        assert 1 <= n_te <= n - 1, (c, n, n_te)  # every class (even 2 objects) in both sets
        if n >= 30:
            assert abs(n_te / n - 0.3) <= 0.5 / n + 1e-9  # exact rounding for the class
    # a single-object class can only go to train
    df1 = sp.make_split([1, 2, 3, 4], [5, 5, 5, 7], [0.1, 0.2, 0.3, 0.4], 0.3, 2, seed=0)
    assert df1.split.tolist()[3] == "train" and (df1.split[:3] == "test").sum() == 1


def test_stratified_in_redshift_bins(pop):
    oid, target, z = pop
    df = sp.make_split(oid, target, z, 0.3, 5, seed=42)
    s = pd.Series(df.split.to_numpy(), index=df.object_id).loc[oid].to_numpy()
    bins = sp.redshift_bins(z, 5)
    assert (bins[z == 0] == 0).all()  # galactic pile in one bin
    for c in (90, 42):
        for b in np.unique(bins[target == c]):
            m = (target == c) & (bins == b)
            frac = np.mean(s[m] == "test")
            assert abs(frac - 0.3) <= 1.0 / m.sum() + 1e-9, (c, b, m.sum(), frac)


def test_redshift_representative(pop):
    oid, target, z = pop
    df = sp.make_split(oid, target, z, 0.3, 5, seed=42)
    order = np.argsort(oid)
    rep = sp.balance_report(df, target[order], z[order])
    assert rep["ks_statistic"] < 0.03 and rep["ks_pvalue"] > 0.5
    assert rep["ks_statistic_extragalactic"] < 0.04
    qtr, qte = np.array(rep["redshift_quantiles"]["train"]), np.array(rep["redshift_quantiles"]["test"])
    assert np.all(np.abs(qtr - qte) < 0.05)
    assert rep["classes_missing_from_test"] == [] and rep["classes_missing_from_train"] == []
    assert rep["n"]["train"] + rep["n"]["test"] == len(oid)


def test_deterministic_and_order_independent(pop):
    oid, target, z = pop
    a = sp.make_split(oid, target, z, 0.3, 5, seed=7)
    perm = np.random.default_rng(1).permutation(len(oid))
    b = sp.make_split(oid[perm], target[perm], z[perm], 0.3, 5, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = sp.make_split(oid, target, z, 0.3, 5, seed=8)
    assert (a.split != c.split).any()
    assert (c.split == "test").sum() == (a.split == "test").sum()


def test_bad_input_errors():
    with pytest.raises(sp.SplitError, match="test_fraction"):
        sp.make_split([1, 2], [1, 1], [0.1, 0.2], 1.0, 2, 0)
    with pytest.raises(sp.SplitError, match="duplicated"):
        sp.make_split([1, 1], [1, 1], [0.1, 0.2], 0.3, 2, 0)
    with pytest.raises(sp.SplitError, match=r"non-finite redshift.*\[2\]"):
        sp.make_split([1, 2], [1, 1], [0.1, np.nan], 0.3, 2, 0)
    with pytest.raises(sp.SplitError, match="redshift_bins"):
        sp.make_split([1, 2], [1, 1], [0.1, 0.2], 0.3, 0, 0)


def test_run_split_files(pop, tmp_path):
    oid, target, z = pop
    npz = tmp_path / "gp.npz"
    save_npz(npz, object_id=oid.astype(np.int64), target=target.astype(np.int64), z=z.astype(np.float32))
    rep = sp.run_split(npz, tmp_path / "split.parquet", tmp_path / "split_summary.json", 0.3, 5, 42)
    df = pd.read_parquet(tmp_path / "split.parquet")
    assert list(df.columns) == ["object_id", "split"] and df.object_id.dtype == np.int64
    assert read_json(tmp_path / "split_summary.json")["n"] == rep["n"]
    save_npz(tmp_path / "bad.npz", object_id=oid)
    with pytest.raises(sp.SplitError, match=r"bad.npz.*target"):
        sp.run_split(tmp_path / "bad.npz", tmp_path / "s2.parquet", tmp_path / "s2.json", 0.3, 5, 42)
