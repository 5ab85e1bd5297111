"""Issue 12 item 2: the faster t2 paths give today's numbers. The model with the fused attention op
(``t2.attention_kernel`` fused, the default where it builds) against TensorFlow's all-heads attention
(``tf``, the path before issue 12) on the same weights: predictions within 1e-5, gradients within
float32 rounding; the inference entry point (:func:`transientrepro.t2.stream.predict`) against the
previous ``model.predict``; and the t2 benchmark's output at a tiny size."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras

from transientrepro.t2 import fused
from transientrepro.t2.layers import TransformerBlock, attention_kernel, uses_fused_attention
from transientrepro.t2.model import build_t2

ROOT = Path(__file__).resolve().parents[1]


def hp(**kw):
    return {**dict(d=32, h=16, d_ff=128, N=1, dropout=0.1, learning_rate=0.017), **kw}


def set_impl(model, impl):
    for layer in model.layers:
        if isinstance(layer, TransformerBlock):
            layer.attention.impl = impl
    return model


NEW = "fused" if fused.available() else "tf"


def twin_models(params, n_aux, concat, L=20, M=6, C=14):
    """Two models with the same weights: the fused op (where it builds) and TensorFlow's ops."""
    new = set_impl(build_t2(L, M, C, params, n_aux=n_aux, concat=concat, positional_encoding="vaswani"), NEW)
    old = set_impl(build_t2(L, M, C, params, n_aux=n_aux, concat=concat, positional_encoding="vaswani"), "tf")
    old.set_weights(new.get_weights())
    return new, old


def make_inputs(n, L=20, M=6, n_aux=2, seed=0):
    rng = np.random.default_rng(seed)
    x = {"lightcurve": rng.normal(size=(n, L, M)).astype("float32")}
    if n_aux:
        x["aux"] = rng.normal(size=(n, n_aux)).astype("float32")
    return x


@pytest.mark.parametrize("params,n_aux,concat", [
    (hp(), 2, "L"),  # Table 2, t2
    (hp(), 0, "L"),  # Table 2, t2_noz
    (hp(d=16, h=4, d_ff=40, N=2), 2, "M"),
    (hp(d=8, h=1, d_ff=8), 2, "L"),  # one head
])
def test_fused_attention_predicts_as_tensorflow(params, n_aux, concat):
    new, old = twin_models(params, n_aux, concat)
    x = make_inputs(37, n_aux=n_aux)  # not a multiple of any batch size below
    ref = old.predict(x, batch_size=16, verbose=0)
    for bs in (1, 16, 64):
        np.testing.assert_allclose(new.predict(x, batch_size=bs, verbose=0), ref, atol=1e-5, rtol=0)
    assert np.abs(new.predict(x, batch_size=16, verbose=0) - ref).max() < 1e-6


def test_fused_attention_gradients_match_tensorflow():
    import tensorflow as tf

    new, old = twin_models(hp(), 2, "L")
    x = make_inputs(9)
    grads = []
    for m in (new, old):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.math.log(m(x, training=False)[:, :3]))
        grads.append(tape.gradient(loss, m.trainable_variables))
    for g_new, g_old in zip(*grads):
        np.testing.assert_allclose(g_new.numpy(), g_old.numpy(), atol=1e-4, rtol=1e-3)


def test_stream_predict_equals_legacy_predict():
    """The inference entry point used by evaluate / transientrepro predict against the previous path
    (the all-heads model through ``model.predict`` at batch 1024) on the same weights."""
    from transientrepro.t2.data import T2Data
    from transientrepro.t2.stream import predict

    new, old = twin_models(hp(), 2, "L")
    x = make_inputs(300)
    data = T2Data(x["lightcurve"], x["aux"], np.zeros(300, np.int64), np.arange(300, dtype=np.int64), list(range(14)))
    ref = old.predict(x, batch_size=1024, verbose=0)
    got = predict(new, data)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_aux", [2, 0])
def test_xla_inference_equals_plain_tensorflow(n_aux):
    """t2.jit_compile: the XLA serving function against plain TensorFlow and the legacy path, with a
    last batch of another shape (a second XLA compilation)."""
    from transientrepro.t2.data import T2Data
    from transientrepro.t2.stream import predict

    new, old = twin_models(hp(), n_aux, "L")
    x = make_inputs(70, n_aux=n_aux)
    data = T2Data(x["lightcurve"], x.get("aux", np.zeros((70, 0), np.float32)), np.zeros(70, np.int64),
                  np.arange(70, dtype=np.int64), list(range(14)))
    plain = predict(new, data, 32, jit_compile=False)
    xla = predict(new, data, 32, jit_compile=True)
    np.testing.assert_allclose(xla, plain, atol=1e-5, rtol=0)
    np.testing.assert_allclose(xla, predict(old, data, 32, legacy=True), atol=1e-5, rtol=0)
    np.testing.assert_allclose(predict(old, data, 32, jit_compile=True), plain, atol=1e-5, rtol=0)  # whole-function XLA
    np.testing.assert_array_equal(predict(new, data, 32, jit_compile=True), xla)  # reruns identical


def test_jit_compile_setting_is_checked():
    from transientrepro.t2.params import T2ConfigError, settings

    assert settings({})["jit_compile"] is True
    assert settings({"jit_compile": False})["jit_compile"] is False
    with pytest.raises(T2ConfigError, match="t2.jit_compile must be true or false"):
        settings({"jit_compile": "yes"})


def test_saved_model_uses_the_configured_kernel(tmp_path):
    """The kernel is not saved with the model: a loaded model runs whatever t2.attention_kernel chose."""
    new, _ = twin_models(hp(), 2, "L")
    new.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    blocks = [l for l in loaded.layers if isinstance(l, TransformerBlock)]
    assert blocks and all(b.attention.impl is None for b in blocks)
    assert uses_fused_attention(loaded) == (attention_kernel() == "fused")
    assert attention_kernel() == NEW


def test_bench_t2_tiny_prints_both_paths():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "transientrepro.bench.t2", "-n", "96", "--epochs", "1", "--rounds", "1",
                          "--threads", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    for line in ("t2 training (previous):", "t2 training (new):", "t2 training ratio new/previous:",
                 "t2 inference (previous):", "t2 inference (new):", "t2 inference ratio new/previous:",
                 "max |p_new - p_previous|", "per CPU-second"):
        assert line in out, out
