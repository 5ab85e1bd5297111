"""t2 architecture: §3.7 parameter formula vs the built Keras model, eq. (9) positional encoding,
eq. (11) CAM identity, concatenation of additional features, .keras round trip, bad inputs."""
import math

import numpy as np
import pytest

import keras  # noqa: E402

from transientrepro.paper import paper_numbers  # noqa: E402
from transientrepro.t2.cam import class_scores_check, compute_cams, dense_weights, cam_model, normalise_cams  # noqa: E402
from transientrepro.t2.layers import AuxConcat, positional_encoding  # noqa: E402
from transientrepro.t2.model import build_t2  # noqa: E402
from transientrepro.t2.params import T2ConfigError, check_hyperparameters, paper_n_params, table2_hyperparameters  # noqa: E402


def hp(**kw):
    base = dict(d=32, h=16, d_ff=128, N=1, dropout=0.1, learning_rate=0.017)
    base.update(kw)
    return base


def test_table2_formula_is_13390():
    t2 = table2_hyperparameters()
    n = paper_n_params(6, 14, t2["d"], t2["h"], t2["d_ff"], t2["N"])
    assert n == 13390 == paper_numbers()["t2"]["n_params"]["value"]
    # by hand: conv 6*32+32, MHA 4(32*32+32), LN 2*2*32, FFN 32*128+128 + 128*32+32, dense 32*14+14
    assert n == 224 + 4224 + 128 + 4224 + 4128 + 462


@pytest.mark.parametrize(
    "M,C,params,n_aux,concat",
    [
        (6, 14, hp(), 2, "L"),  # Table 2, t2
        (6, 14, hp(), 0, "L"),  # Table 2, t2_noz
        (6, 14, hp(N=2), 2, "L"),
        (6, 14, hp(d=16, h=4, d_ff=40, N=3), 2, "L"),
        (6, 14, hp(d=64, h=1, d_ff=32, N=2), 2, "M"),  # concat along M: M' = M + 2
        (4, 3, hp(d=8, h=8, d_ff=8, N=1), 0, "L"),
    ],
)
def test_count_params_equals_formula(M, C, params, n_aux, concat):
    model = build_t2(20, M, C, params, n_aux=n_aux, concat=concat)
    m_eff = M + n_aux if concat == "M" else M
    assert model.count_params() == paper_n_params(m_eff, C, params["d"], params["h"], params["d_ff"], params["N"])


def test_table2_model_has_13390_params():
    assert build_t2(100, 6, 14, table2_hyperparameters(), n_aux=2).count_params() == 13390


def test_positional_encoding_values_follow_eq9():
    P = positional_encoding(100, 128)
    assert P.shape == (100, 128)
    d = 128
    for l, k in [(1, 1), (1, 2), (3, 4), (50, 7), (100, 128), (10, 64)]:
        omega = 1.0 / 10000 ** (2 * k / d)
        expected = math.sin(omega * l) if k % 2 == 0 else math.cos(omega * l)
        assert P[l - 1, k - 1] == pytest.approx(expected, abs=1e-12)
    # specific numbers: l=1, k=1 -> cos(10000^(-1/64)); l=1, k=2 -> sin(10000^(-1/32))
    assert P[0, 0] == pytest.approx(math.cos(10000 ** (-1 / 64)))
    assert P[0, 1] == pytest.approx(math.sin(10000 ** (-1 / 32)))
    assert P[0, 0] == pytest.approx(0.647906, abs=1e-6)  # cos(0.865964)
    assert P[99, 127] == pytest.approx(math.sin(100 * 1e-8), abs=1e-12)  # k = d even: sin(100 / 10000^2)


def test_positional_encoding_rejects_bad_sizes():
    with pytest.raises(ValueError, match="length and d"):
        positional_encoding(0, 4)


def test_aux_concat_along_L_and_M():
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    aux = np.array([[10.0, 20.0], [30.0, 40.0]], dtype="float32")
    out_l = keras.ops.convert_to_numpy(AuxConcat("L")([x, aux]))
    assert out_l.shape == (2, 5, 4)
    np.testing.assert_array_equal(out_l[:, :3], x)
    np.testing.assert_array_equal(out_l[0, 3], [10.0] * 4)  # z repeated across the M passbands
    np.testing.assert_array_equal(out_l[1, 4], [40.0] * 4)  # z_err row
    out_m = keras.ops.convert_to_numpy(AuxConcat("M")([x, aux]))
    assert out_m.shape == (2, 3, 6)
    np.testing.assert_array_equal(out_m[1, :, 4], [30.0] * 3)


def test_hyperparameter_errors_name_the_key():
    with pytest.raises(T2ConfigError, match="divisible"):
        check_hyperparameters(hp(d=30, h=16))
    with pytest.raises(T2ConfigError, match="dropout"):
        check_hyperparameters(hp(dropout=1.5))
    with pytest.raises(T2ConfigError, match="missing"):
        check_hyperparameters({"d": 4})
    with pytest.raises(ValueError, match="concat"):
        build_t2(10, 6, 14, hp(), n_aux=2, concat="X")


@pytest.fixture(scope="module")
def small_model_and_inputs():
    keras.utils.set_random_seed(0)
    model = build_t2(12, 6, 5, hp(d=8, h=2, d_ff=16), n_aux=2)
    rng = np.random.default_rng(0)
    # make the final dense weights and bias non-trivial
    w, b = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([rng.normal(size=w.shape).astype("float32"), rng.normal(size=b.shape).astype("float32")])
    inputs = {"lightcurve": rng.normal(size=(7, 12, 6)).astype("float32"), "aux": rng.random((7, 2)).astype("float32")}
    return model, inputs


def test_cam_sums_to_class_score(small_model_and_inputs):
    """Eq. (11): with GAP averaging, logit_c = (1/L') sum_l M_c(l) + b_c exactly (L' = L + R)."""
    model, inputs = small_model_and_inputs
    f, logits = cam_model(model).predict(inputs, verbose=0)
    w, b = dense_weights(model)
    assert f.shape == (7, 14, 8)  # L' = 12 + 2
    cams = np.einsum("bld,dc->blc", f.astype(np.float64), w)
    s_c = cams.sum(axis=1)  # the paper's S_c = sum_l M_c(l)
    np.testing.assert_allclose(s_c / 14 + b, logits, atol=1e-4)
    np.testing.assert_allclose(s_c, 14 * (logits - b), atol=1e-3)
    assert class_scores_check(f, logits, w, b) < 1e-4
    # and softmax(logits) is the model's output
    probs = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), atol=1e-5)


def test_compute_cams_normalised_and_redshift_share(small_model_and_inputs):
    model, inputs = small_model_and_inputs
    y = np.array([0, 1, 2, 3, 4, 0, 1])
    out = compute_cams(model, inputs, y, L=12, n_aux=2, batch_size=3)
    assert out["cams"].shape == (7, 14)
    np.testing.assert_allclose(out["cams"].sum(axis=1), 1.0, atol=1e-5)
    assert (out["cams"] >= 0).all()
    np.testing.assert_allclose(out["redshift_share"], out["cams"][:, 12:].sum(axis=1), atol=1e-6)
    np.testing.assert_allclose(out["feature_share"].sum(axis=1), out["redshift_share"], atol=1e-6)
    assert out["max_score_error"] < 1e-4
    probs = model.predict(inputs, verbose=0)
    np.testing.assert_array_equal(out["cam_class"], probs.argmax(axis=1))


def test_normalise_cams_minmax_then_sum_one():
    m = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    n = normalise_cams(m)
    np.testing.assert_allclose(n[0], [0.0, 1.0 / 1.5, 0.5 / 1.5])
    np.testing.assert_allclose(n[1], [1 / 3] * 3)


def test_keras_roundtrip(tmp_path, small_model_and_inputs):
    model, inputs = small_model_and_inputs
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-6)
    assert loaded.count_params() == model.count_params()
