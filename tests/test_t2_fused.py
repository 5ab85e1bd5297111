"""t2's fused attention op (``transientrepro.t2.fused``, C++ in ``t2/kernels``): the same function as
TensorFlow's ops (forward to 1e-5 against a float64 reference, gradients against TensorFlow's
autodiff), on every compiled instruction-set copy, independent of how the batch is sharded, with clear
errors for bad shapes, and a build that fails cleanly (nothing half-written, a fallback for ``auto``)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from transientrepro.t2 import fused

ROOT = Path(__file__).resolve().parents[1]
#: the tests that run the op; the build-failure and settings tests run without it
needs_op = pytest.mark.skipif(not fused.available(), reason=f"fused op unavailable: {fused.unavailable_reason()}")


def qkv(B, L, H, D, seed=0, scale=1.5):
    rng = np.random.default_rng(seed)
    return [(scale * rng.normal(size=(B, L, H, D))).astype(np.float32) for _ in range(3)]


def reference(q, k, v):
    """softmax(q k^T) v per object and head in float64; (B, L, H, D) in and out."""
    q, k, v = (np.transpose(x.astype(np.float64), (0, 2, 1, 3)) for x in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.transpose(p @ v, (0, 2, 1, 3))


def tf_attention(q, k, v):
    """TensorFlow's ops, as MultiHeadSelfAttention._call_tf computes them."""
    import tensorflow as tf

    t = lambda x: tf.transpose(x, (0, 2, 1, 3))  # noqa: E731
    return t(tf.matmul(tf.nn.softmax(tf.matmul(t(q), t(k), transpose_b=True), axis=-1), t(v)))


# head widths 1, 2, 4 and 8 run the register-resident specialisations, 3 and 16 the generic code
@needs_op
@pytest.mark.parametrize("B,L,H,D", [(3, 102, 16, 2), (2, 20, 4, 4), (2, 17, 1, 8), (1, 33, 2, 1), (2, 16, 8, 2),
                                     (2, 19, 2, 3), (1, 12, 1, 16)])
def test_forward_matches_float64_reference(B, L, H, D):
    q, k, v = qkv(B, L, H, D)
    out = fused.attention(q, k, v).numpy()
    assert out.shape == (B, L, H, D) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference(q, k, v), atol=1e-5, rtol=1e-5)


@needs_op
def test_forward_survives_large_scores():
    """Scores of +-200 (exp overflows without the row maximum) stay finite and right."""
    q, k, v = qkv(2, 30, 2, 2, scale=10.0)
    out = fused.attention(q, k, v).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference(q, k, v), atol=1e-4, rtol=1e-4)


@needs_op
@pytest.mark.parametrize("B,L,H,D", [(4, 102, 16, 2), (3, 21, 4, 4), (2, 9, 1, 8), (2, 11, 2, 3), (1, 18, 1, 16)])
def test_gradients_match_tensorflow_autodiff(B, L, H, D):
    import tensorflow as tf

    q, k, v = (tf.constant(x) for x in qkv(B, L, H, D, seed=1))
    w = tf.constant(np.random.default_rng(2).normal(size=(B, L, H, D)).astype(np.float32))
    grads = []
    for f in (fused.attention, tf_attention):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            loss = tf.reduce_sum(f(q, k, v) * w)
        grads.append([g.numpy() for g in tape.gradient(loss, [q, k, v])])
    for name, a, b in zip("qkv", *grads):
        np.testing.assert_allclose(a, b, atol=2e-5 * np.abs(b).max(), rtol=0, err_msg=f"d{name}")


@needs_op
def test_results_do_not_depend_on_batching():
    """Each (object, head) pair is computed alone in a fixed order: objects one at a time give the
    batch's numbers bit for bit (so thread count and sharding cannot change results)."""
    q, k, v = qkv(5, 40, 4, 2, seed=3)
    whole = fused.attention(q, k, v).numpy()
    for i in range(5):
        np.testing.assert_array_equal(fused.attention(q[i:i + 1], k[i:i + 1], v[i:i + 1]).numpy(), whole[i:i + 1])
    np.testing.assert_array_equal(fused.attention(q, k, v).numpy(), whole)


@needs_op
def test_bad_shapes_are_named():
    import tensorflow as tf

    q, k, v = qkv(2, 10, 2, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="q, k and v must have one shape"):
        fused.attention(q, k[:, :9], v)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="rank|must be"):
        fused.attention(q[0], k[0], v[0])


@needs_op
def test_every_instruction_set_copy_agrees(tmp_path):
    """T2_ATTENTION_ISA caps the copy the op uses: base and x86-64-v3 run here too and give the
    reference's numbers (forward and one gradient)."""
    q, k, v = qkv(2, 102, 16, 2, seed=4)
    q3, k3, v3 = qkv(2, 37, 3, 3, seed=5)  # a width without a specialisation: the generic code
    np.savez(tmp_path / "in.npz", q=q, k=k, v=v, q3=q3, k3=k3, v3=v3)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        from transientrepro.t2 import fused
        a = np.load({str(tmp_path / 'in.npz')!r})
        q, k, v = (tf.constant(a[n]) for n in 'qkv')
        with tf.GradientTape() as t:
            t.watch(q)
            out = fused.attention(q, k, v)
            loss = tf.reduce_sum(out * out)
        out3 = fused.attention(*(tf.constant(a[n + '3']) for n in 'qkv'))
        np.savez({str(tmp_path)!r} + '/out_' + fused.isa() + '.npz', out=out.numpy(), dq=t.gradient(loss, q).numpy(),
                 out3=out3.numpy())
    """)
    isas = ["base"] + (["x86-64-v3", ""] if fused.isa() != "base" else [])
    for cap in isas:
        env = {**os.environ, "T2_ATTENTION_ISA": cap, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    outs = {p.stem[4:]: np.load(p) for p in tmp_path.glob("out_*.npz")}
    assert "base" in outs and fused.isa() in outs
    ref = reference(q, k, v)
    for name, o in outs.items():
        np.testing.assert_allclose(o["out"], ref, atol=1e-5, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(o["out3"], reference(q3, k3, v3), atol=1e-5, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(o["dq"], outs["base"]["dq"], atol=1e-5 * np.abs(o["dq"]).max(), err_msg=name)


def _run_with_env(code: str, **env):
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True, text=True,
                          timeout=300)


def test_missing_compiler_auto_falls_back_and_fused_fails_clearly(tmp_path):
    code = """
        import logging
        logging.basicConfig(level=logging.WARNING)
        from transientrepro.t2 import fused
        print("auto ->", fused.resolve("auto"))
        try:
            fused.resolve("fused")
        except fused.FusedKernelError as e:
            print("fused error:", e)
    """
    res = _run_with_env(code, CXX=str(tmp_path / "no-such-compiler"), TRANSIENTREPRO_CACHE=str(tmp_path / "cache"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "auto -> tf" in res.stdout
    assert "fused error: t2.attention_kernel is 'fused' but" in res.stdout
    assert "using TensorFlow's ops" in res.stderr
    assert not list((tmp_path / "cache").rglob("*.so")) and not list((tmp_path / "cache").rglob("*.part"))


def test_failed_compile_leaves_nothing(tmp_path):
    cxx = tmp_path / "broken-cxx"
    cxx.write_text("#!/bin/sh\necho 'attention_math.cc:1: error: simulated compiler failure' >&2\nexit 1\n")
    cxx.chmod(0o755)
    dest = tmp_path / "ops" / "t2.so"
    os.environ["CXX"] = str(cxx)
    try:
        with pytest.raises(fused.FusedKernelError, match="simulated compiler failure"):
            fused.build(dest)
    finally:
        del os.environ["CXX"]
    assert not dest.exists() and not list(dest.parent.glob("*.part"))


@needs_op
def test_build_to_a_new_place_and_reuse(tmp_path):
    dest = tmp_path / "t2.so"
    assert fused.build(dest) == dest and dest.stat().st_size > 0
    mtime = dest.stat().st_mtime_ns
    assert fused.build(dest) == dest and dest.stat().st_mtime_ns == mtime  # cached: not rebuilt
    assert fused.library_path().name.startswith("t2_attention-tf")


def test_attention_kernel_setting_is_checked():
    from transientrepro.t2.params import T2ConfigError, settings

    assert settings({})["attention_kernel"] == "auto"
    assert settings({"attention_kernel": "tf"})["attention_kernel"] == "tf"
    with pytest.raises(T2ConfigError, match="t2.attention_kernel must be one of"):
        settings({"attention_kernel": "cuda"})
    with pytest.raises(ValueError, match="t2.attention_kernel must be one of"):
        fused.resolve("cuda")
