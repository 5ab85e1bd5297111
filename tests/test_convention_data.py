"""ConvEntion data modelling: band separation, band selection, normalisation, windows (training and
evaluation agree), crop/pad, augmentation alignment, the "SNIa?" switch and the weighted sampler."""
import numpy as np
import pytest
import torch

from transientrepro.convention import preprocess as pp
from transientrepro.convention.augment import AugmentConfig, augment_sequence
from transientrepro.convention.data import build_sequence_data, synthetic_ingest
from transientrepro.convention.sampler import inverse_frequency_weights, weighted_sampler


def test_separate_bands_drops_empty_channels():
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(3, 5, 8, 8)).astype(np.float32)
    cube[0, 1] = 0.0        # epoch 0, g missing (zeros)
    cube[1, [0, 4]] = np.nan  # epoch 1, u and z missing (NaN)
    cube[2, 3] = 0.0        # epoch 2, i missing
    images, band, epoch = pp.separate_bands(cube)
    assert len(images) == 15 - 4
    assert band.tolist() == [1, 3, 4, 5, 2, 3, 4, 1, 2, 3, 5]
    assert epoch.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert all((np.abs(im) > 0).any() for im in images)  # no empty channel survives
    np.testing.assert_array_equal(images[4], cube[1, 1])  # epoch 1 band g kept with its pixels
    with pytest.raises(ValueError, match=r"\(T, 5, S, S\)"):
        pp.separate_bands(cube[:, :4])


def test_drop_empty_and_select_bands_flat_layout():
    images = np.ones((7, 4, 4), np.float32)
    images[2] = 0.0
    band = np.array([1, 2, 3, 2, 5, 2, 4], np.int8)
    offsets = np.array([0, 3, 3, 7])  # object 1 has no image
    keep, off = pp.drop_empty_images(images, band, offsets)
    assert keep.tolist() == [0, 1, 3, 4, 5, 6] and off.tolist() == [0, 2, 2, 6]
    sel, off_g = pp.select_bands(band[keep], off, "g")
    assert band[keep][sel].tolist() == [2, 2, 2] and off_g.tolist() == [0, 1, 1, 3]
    with pytest.raises(ValueError, match="band id 7 at image row 1"):
        pp.drop_empty_images(images, np.array([1, 7, 1, 1, 1, 1, 1]), offsets)


def test_task_labels():
    y, names = pp.task_labels(["AGN", "SNIa_PT", "SNOther", "Unknown", "Variable"], "4class")
    assert names == ("AGN", "SNIa", "SNOther", "Variable") and y.tolist() == [0, 1, 2, -1, 3]
    y, names = pp.task_labels(["AGN", "SNIa_PT", "SNOther", "Unknown", "Variable"], "3class")
    assert names == ("AGN", "SN", "Variable") and y.tolist() == [0, 1, 1, -1, 2]
    with pytest.raises(ValueError, match="unknown task"):
        pp.task_labels(["AGN"], "5class")


def test_normalisation_and_window_and_pad():
    rng = np.random.default_rng(1)
    band = np.array([1, 1, 2, 2, 2])
    images = rng.normal(size=(5, 6, 6)) * np.array([1, 1, 10, 10, 10])[:, None, None] + band[:, None, None] * 3
    stats = pp.band_norm_stats(images, band)
    z = pp.normalise(images, band, stats)
    for b in (1, 2):
        assert abs(z[band == b].mean()) < 1e-5 and abs(z[band == b].std() - 1) < 1e-5
    bright = np.array([0, 0, 0, 0, 0, 0, 9, 0, 0, 0], float)
    assert pp.window(10, 4, "brightest", bright) == (4, 8)
    assert pp.window(10, 4, "first") == (0, 4)
    assert pp.window(3, 4, "brightest", None) == (0, 3)
    x, b, m = pp.pad(images[:3].astype(np.float32), band[:3], 5)
    assert x.shape == (5, 6, 6) and b.tolist() == [1, 1, 2, 0, 0] and m.tolist() == [True] * 3 + [False] * 2
    assert np.all(x[3:] == 0)


def _marked_sequence(n=12, s=8):
    """Images whose pixels encode their band id (constant) plus an orientation marker."""
    rng = np.random.default_rng(3)
    band = rng.integers(1, 6, n)
    images = np.repeat(band[:, None, None].astype(np.float32), s * s, axis=1).reshape(n, s, s)
    images[:, 0, 0] += 0.5  # a corner marker (moves under rotation/flip, value stays)
    return images, band


def test_augmentations_keep_band_ids_aligned_with_images():
    images, band = _marked_sequence()
    cfg = AugmentConfig(p_drop=0.3, geometry="rot90_flips", rotate90=True, flip=True, shift=True)
    rng = np.random.default_rng(0)
    seen_lengths, seen_corner = set(), set()
    for _ in range(200):
        im, bd = augment_sequence(images, band, rng, cfg)
        assert len(im) == len(bd) >= 1
        # the median pixel of every image is its band id: images and ids stayed aligned
        np.testing.assert_array_equal(np.median(im.reshape(len(im), -1), axis=1), bd)
        # same geometric transform for the whole sequence: the marker sits in the same corner
        corners = {tuple(np.argwhere(x == x.max())[0]) for x in im}
        assert len(corners) == 1
        seen_corner |= corners
        seen_lengths.add(len(im))
    assert len(seen_lengths) > 3 and len(seen_corner) == 4  # drops and all four corners happened


def test_dataset_items_keep_labels_and_bands_aligned():
    objects, stamps = synthetic_ingest(n_objects=40, stamp=8, max_epochs=10, seed=2)
    # mark every image's pixels with its band id so the alignment survives normalisation
    stamps["images"] = np.repeat(stamps["band"].astype(np.float32)[:, None, None], 64, axis=1).reshape(-1, 8, 8) \
        + np.random.default_rng(0).normal(0, 1e-3, (len(stamps["band"]), 8, 8)).astype(np.float32)
    data = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, crop="brightest")
    stats = data.norm_stats
    ds = data.dataset(np.arange(len(data.labels)), train=True, seed=0,
                      augment=AugmentConfig(p_drop=0.2, geometry="rot90_flips", rotate90=True, flip=True, shift=True))
    for j in range(len(ds)):
        (x, b, m), y = ds[j]
        assert y == data.labels[ds.rows[j]]
        raw = x.numpy()[m.numpy()] * stats[b.numpy()[m.numpy()], 1][:, None, None] + stats[b.numpy()[m.numpy()], 0][:, None, None]
        np.testing.assert_allclose(np.median(raw.reshape(len(raw), -1), axis=1), b.numpy()[m.numpy()], atol=0.01)
        assert torch.all(b[~m] == 0) and torch.all(x[~m] == 0)


def test_build_sequence_data_band_separation_and_g_only():
    objects, stamps = synthetic_ingest(n_objects=60, stamp=8, seed=4)
    ug = build_sequence_data(objects, stamps, "ugriz", "4class", M=10)
    g = build_sequence_data(objects, stamps, "g", "3class", M=10)
    assert set(np.unique(ug.band)) == {1, 2, 3, 4, 5}
    assert set(np.unique(g.band)) == {2}
    assert g.class_names == ("AGN", "SN", "Variable") and g.labels.max() == 2
    assert ug.meta["n_excluded_label"] == int((objects["label"] == "Unknown").sum())
    assert set(ug.partition) <= {"Train", "FineTune", "Test"}
    # objects keep their own images: compare one object's g images with the raw stamps
    k = 0
    cid = g.object_ids[k]
    raw_obj = int(np.flatnonzero(stamps["cid"] == cid)[0])
    a, b = stamps["offsets"][raw_obj], stamps["offsets"][raw_obj + 1]
    raw_g = stamps["images"][a:b][stamps["band"][a:b] == 2]
    imgs, bands = g.sequence(k)
    np.testing.assert_allclose(imgs * g.norm_stats[2, 1] + g.norm_stats[2, 0], raw_g, rtol=1e-4, atol=1e-4)
    bad = dict(stamps)
    bad["cid"] = stamps["cid"] + 10_000
    with pytest.raises(ValueError, match="CID 11000 has stamps but no row"):
        build_sequence_data(objects, bad, "ugriz", "4class", M=10)
    with pytest.raises(ValueError, match="missing column 'label'"):
        build_sequence_data(objects.drop(columns="label"), stamps, "ugriz", "4class", M=10)


def test_partition_column_is_used_when_present():
    objects, stamps = synthetic_ingest(n_objects=30, stamp=8, seed=5)
    objects = objects.assign(partition=np.where(np.arange(30) % 2 == 0, "Train", "FineTune"))
    data = build_sequence_data(objects, stamps, "ugriz", "4class", M=10)
    kept = objects.set_index("CID").loc[data.object_ids]
    assert (kept["partition"].to_numpy() == data.partition).all()
    objects.loc[0, "partition"] = "Validation"
    with pytest.raises(ValueError, match="'Validation' not in"):
        build_sequence_data(objects, stamps, "ugriz", "4class", M=10)


def test_weighted_sampler_batches_near_class_balanced():
    labels = np.array([0] * 800 + [1] * 150 + [2] * 40 + [3] * 10)
    w = inverse_frequency_weights(labels)
    assert np.allclose(np.bincount(labels, weights=w), 1.0)
    sampler = weighted_sampler(labels, seed=0, num_samples=20_000)
    drawn = labels[np.fromiter(iter(sampler), dtype=np.int64)]
    frac = np.bincount(drawn, minlength=4) / len(drawn)
    # each class expected 1/4; binomial sd = sqrt(.25*.75/20000) ~ 0.003; allow 5 sd
    assert np.all(np.abs(frac - 0.25) < 0.015), frac
    # reproducible given the seed
    assert list(weighted_sampler(labels, seed=1, num_samples=50)) == list(weighted_sampler(labels, seed=1, num_samples=50))
    with pytest.raises(ValueError, match="negative label"):
        inverse_frequency_weights(np.array([0, -1]))


def test_asinh_scaling_uses_train_statistics_only():
    objects, stamps = synthetic_ingest(n_objects=50, stamp=8, seed=6)
    lin = build_sequence_data(objects, stamps, "ugriz", "4class", M=10, scaling="linear")
    ash = build_sequence_data(objects, stamps, "ugriz", "4class", M=10, scaling="asinh")
    assert ash.meta["scaling"] == "asinh" and lin.meta["norm_stats"]["g"]["asinh_noise"] == 1.0
    # monotone per band: the pixel order of an image is unchanged
    i0 = np.flatnonzero(lin.band == 2)[0]
    assert np.array_equal(np.argsort(lin.images[i0].ravel(), kind="stable"), np.argsort(ash.images[i0].ravel(), kind="stable"))
    # Train-partition images of each band are z-scored exactly; the others are not used for the stats
    obj = np.repeat(np.arange(len(ash.labels)), np.diff(ash.offsets))
    train = ash.partition[obj] == "Train"
    for b in range(1, 6):
        x = ash.images[train & (ash.band == b)]
        assert abs(x.mean()) < 1e-4 and abs(x.std() - 1) < 1e-3
    with pytest.raises(ValueError, match="convention.scaling"):
        build_sequence_data(objects, stamps, "ugriz", "4class", M=10, scaling="log")


def test_released_rotate_or_flip_augmentation():
    """The authors' transform: half the time a rotation by U(-15, 15) deg (zero fill), otherwise a
    flip along one axis; the same for the whole sequence, band ids untouched."""
    images, band = _marked_sequence(n=6, s=9)
    images[:, 0, 0] = band  # no marker: rotation interpolates it away
    images[:, 4, 0] += 10.0  # an edge marker on the central row
    cfg = AugmentConfig(geometry="rotate_or_flip", rotate_degrees=15.0)
    rng = np.random.default_rng(4)
    kinds = {"rotated": 0, "flip_h": 0, "flip_v": 0}
    for _ in range(200):
        im, bd = augment_sequence(images, band, rng, cfg)
        np.testing.assert_array_equal(bd, band)
        assert im.shape == images.shape
        np.testing.assert_allclose(im[:, 4, 4], images[:, 4, 4], atol=1e-5)  # the centre stays
        if np.allclose(im, images[:, :, ::-1]):
            kinds["flip_h"] += 1
        elif np.allclose(im, images[:, ::-1, :]):
            kinds["flip_v"] += 1
        else:
            kinds["rotated"] += 1
            assert np.any(im == 0)  # zero fill outside the rotated stamp
            # a small rotation: the marker stays on the left edge, near the central row
            r, c = np.unravel_index(np.argmax(im[0]), im[0].shape)
            assert c <= 1 and 2 <= r <= 6
    assert 70 < kinds["rotated"] < 130 and kinds["flip_h"] > 30 and kinds["flip_v"] > 30
    with pytest.raises(ValueError, match="geometry"):
        AugmentConfig.from_mapping({"geometry": "rot45"})


def test_peak_windows_contain_the_peak_and_the_evaluation_window_is_one_of_them():
    bright = np.zeros(40)
    bright[30] = 9.0
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(300):
        a, b = pp.window(40, 8, rng=rng, bright=bright, shift="peak")
        assert b - a == 8 and a <= 30 < b
        starts.add(a)
    assert starts == set(range(23, 31))  # every window that holds the peak
    assert pp.window(40, 8, "brightest", bright)[0] in starts  # evaluation: centred on the peak
    uniform = [pp.window(40, 8, rng=rng, shift="uniform") for _ in range(300)]
    assert np.mean([a <= 30 < b for a, b in uniform]) < 0.5  # the uniform policy often misses it
    idx = pp.select_images(40, 8, "peak", "brightest", lambda i: bright[i], rng, train=True)
    assert 30 in idx and len(idx) == 8 and np.all(np.diff(idx) == 1)


def test_drop_then_window_coverage_and_reproducible_evaluation():
    L, M = 372, 99
    rng = np.random.default_rng(1)
    excess = L - M
    for _ in range(100):
        keep = pp.random_drop(L, M, rng)
        assert excess // 2 <= L - len(keep) <= excess  # drops excess//2 .. excess
        assert np.all(np.diff(keep) > 0)
        idx = pp.select_images(L, M, "drop_then_window", "brightest", None, rng, train=True)
        assert len(idx) == M and np.all(np.diff(idx) > 0)
    # the window covers at least M / (M + ceil(excess / 2)) of what is left (42 % here)
    assert round(M / (M + -(-excess // 2)), 2) == 0.42
    assert np.array_equal(pp.random_drop(50, 60, rng), np.arange(50))  # short sequences keep everything
    with pytest.raises(pp.ConventionDataError, match="random generator"):
        pp.select_images(L, M, "drop_then_window", "brightest", None, None, train=False)
    objects, stamps = synthetic_ingest(n_objects=30, stamp=8, max_epochs=12, seed=5)
    data = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, window="drop_then_window")
    rows = np.flatnonzero(np.diff(data.offsets) > 12)[:5]
    a, b = data.dataset(rows, train=False, seed=3), data.dataset(rows[::-1], train=False, seed=3)
    for j in range(len(rows)):  # evaluation: the same draw per object, whatever the order
        assert torch.equal(a[j][0][0], b[len(rows) - 1 - j][0][0])
    c = data.dataset(rows, train=False, seed=4)
    assert any(not torch.equal(a[j][0][0], c[j][0][0]) for j in range(len(rows)))


def test_dataset_training_windows_agree_with_evaluation_under_peak():
    """A sequence with one very bright image: under ``peak`` every training item and the
    evaluation item hold it; under ``uniform`` many training items do not."""
    objects, stamps = synthetic_ingest(n_objects=30, stamp=8, max_epochs=12, seed=6)
    lengths = np.diff(stamps["offsets"])
    k = int(np.argmax(lengths))
    spike = int(stamps["offsets"][k]) + lengths[k] // 2
    stamps["images"][spike, 3:6, 3:6] += 1e4
    held = {}
    for policy in ("peak", "uniform"):
        data = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, window=policy, scaling="linear")
        row = int(np.flatnonzero(data.object_ids == stamps["cid"][k])[0])
        aug = AugmentConfig(geometry="none", shift=True)
        ds = data.dataset([row] * 60, train=True, seed=0, augment=aug)
        held[policy] = np.mean([float(ds[j][0][0].amax()) > 50 for j in range(60)])
        (x, _, _), _ = data.dataset([row], train=False)[0]
        assert float(x.amax()) > 50  # evaluation window centred on the spike
    assert held["peak"] == 1.0 and held["uniform"] < 0.8


def test_uncertain_snia_excluded_or_spectroscopic():
    """The paper's 499 SNIa leave out master-table "SNIa?" objects; the authors' split counts them."""
    from transientrepro.sdss.partition import partition
    from transientrepro.sdss.summary import summarise

    objects, stamps = synthetic_ingest(n_objects=80, stamp=8, max_epochs=6, seed=7)
    objects["Classification"] = objects["label"].map({"SNIa": "SNIa"}).fillna("other")
    sn = np.flatnonzero(objects["label"].to_numpy() == "SNIa")
    objects.loc[sn[:3], "Classification"] = "SNIa?"
    ex = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, snia_uncertain="exclude")
    sp = build_sequence_data(objects, stamps, "ugriz", "4class", M=6, snia_uncertain="spectroscopic")
    cids = set(objects["CID"].to_numpy()[sn[:3]])
    assert not cids & set(ex.object_ids) and cids <= set(sp.object_ids[sp.spec_rows])
    assert len(sp.spec_rows) == len(ex.spec_rows) + 3 and ex.meta["n_snia_uncertain"] == 3
    p = partition(objects, 1, uncertain_snia="exclude")
    assert not cids & set(p["CID"])
    classes, _ = summarise(objects, 1, uncertain_snia="exclude")
    classes_sp, parts_sp = summarise(objects, 1, uncertain_snia="spectroscopic")
    n = dict(zip(classes["class"], classes["n"]))
    assert dict(zip(classes_sp["class"], classes_sp["n"]))["SNIa"] == n["SNIa"] + 3
    with pytest.raises(ValueError, match="snia_uncertain"):
        partition(objects, 1, uncertain_snia="maybe")
