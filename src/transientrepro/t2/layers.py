"""Keras layers of the time-series transformer t2 (Allam & McEwen, §2.3 and §3).

Every layer is registered for Keras' native ``.keras`` format (package ``transientrepro.t2``), so a
saved model loads back with ``keras.models.load_model`` once this module has been imported.

- :class:`AuxConcat` -- §3.6, concatenation of R additional features (redshift, its error) to the
  light curve ``X in R^{L x M}``, along ``L`` (default, the paper's choice) or along ``M``.
- :class:`ConvEmbedding` -- §3.3, Conv1D with kernel size 1 and ReLU, ``M -> d``.
- :class:`PositionalEncoding` -- §2.3.3, eqs. (9)-(10), the paper's formula as written
  (see :func:`positional_encoding`).
- :class:`MultiHeadSelfAttention` -- §2.3.1, eqs. (5)-(6), with ``h d_v = d`` so its four linear
  maps W^Q, W^K, W^V, W^O hold ``4 (d*d + d)`` parameters (§3.7). The attention itself runs in the
  fused op of :mod:`.fused` or in TensorFlow's ops (config ``t2.attention_kernel``).
- :class:`TransformerBlock` -- §2.3.2, eq. (8): attention, dropout, residual + LayerNorm, then the
  feed-forward network (``d -> d_ff`` ReLU, ``d_ff -> d`` linear), dropout, residual + LayerNorm.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "transientrepro.t2"


def positional_encoding(length: int, d: int, kind: str = "paper_eq9") -> np.ndarray:
    """The positional-encoding matrix ``P in R^{length x d}`` (config ``t2.positional_encoding``).

    ``paper_eq9`` -- t2 eq. (9) exactly as printed. With 1-based position ``l = 1..L`` and 1-based
    embedding index ``k = 1..d``::

        P_lk = sin(omega_k * l)   if k is even
               cos(omega_k * l)   otherwise (k odd)
        omega_k = 1 / 10000^(2k/d)

    Array element ``P[i, j]`` (0-based) is ``P_lk`` with ``l = i + 1`` and ``k = j + 1``. Every
    column has its own frequency; because the exponent is ``2k/d`` with k up to d, frequencies fall
    to 1e-8 and the last half of the columns are nearly constant (cos ~ 1, sin ~ 0).

    ``vaswani`` -- Vaswani et al. (2017) as in the authors' code (astronet ``t2/transformer.py``
    ``PositionalEncoding``): 0-based position ``p``, pair index ``i = j // 2``,
    ``P[p, 2i] = sin(p / 10000^(2i/d))``, ``P[p, 2i+1] = cos(p / 10000^(2i/d))`` (d rounded up to
    even, then cut to d columns).
    """
    if length < 1 or d < 1:
        raise ValueError(f"positional_encoding: length and d must be >= 1, got length={length}, d={d}")
    if kind == "vaswani":
        d_even = d + (d % 2)
        p = np.arange(length, dtype=np.float64)[:, None]
        i = np.arange(d_even // 2, dtype=np.float64)[None, :]
        angle = p / np.power(10000.0, 2.0 * i / d_even)
        pe = np.empty((length, d_even))
        pe[:, 0::2] = np.sin(angle)
        pe[:, 1::2] = np.cos(angle)
        return pe[:, :d]
    if kind != "paper_eq9":
        raise ValueError(f"positional_encoding: kind must be 'paper_eq9' or 'vaswani', got {kind!r}")
    l = np.arange(1, length + 1, dtype=np.float64)[:, None]
    k = np.arange(1, d + 1, dtype=np.float64)[None, :]
    omega = 1.0 / np.power(10000.0, 2.0 * k / d)
    angle = omega * l
    even = (np.arange(1, d + 1) % 2 == 0)[None, :]
    return np.where(even, np.sin(angle), np.cos(angle))


@keras.saving.register_keras_serializable(package=PACKAGE)
class AuxConcat(layers.Layer):
    """Concatenate additional scalar features ``aux (B, R)`` to the light curve ``x (B, L, M)``.

    ``axis="L"`` (t2 §3.6, the paper's choice): each scalar feature becomes one extra *time row*
    holding the scalar repeated across the M passbands, giving ``(B, L + R, M)``; rows ``L .. L+R-1``
    (0-based) are z and z_err, so the CAM has one value per feature. This is how the authors' code
    turns a scalar into an M-vector (``tile`` then ``reshape`` to R x M).
    ``axis="M"``: each feature becomes one extra *channel* repeated at all L positions, giving
    ``(B, L, M + R)`` (broadcast to every input position, §3.6).
    """

    def __init__(self, axis: str = "L", layout: str = "per_feature", **kwargs):
        super().__init__(**kwargs)
        if axis not in ("L", "M"):
            raise ValueError(f"AuxConcat: axis must be 'L' or 'M', got {axis!r}")
        if layout not in ("per_feature", "interleaved"):
            raise ValueError(f"AuxConcat: layout must be 'per_feature' or 'interleaved', got {layout!r}")
        self.axis = axis
        self.layout = layout

    def call(self, inputs):
        x, aux = inputs
        aux = ops.cast(aux, x.dtype)
        if self.axis == "L":
            m = ops.shape(x)[2]
            if self.layout == "interleaved":
                # the authors' tf.tile(z, [1, M]) then Reshape([R, M]) (astronet t2/model.py): the
                # flat sequence z, z_err, z, z_err, ... cut into R rows of M values
                r = ops.shape(aux)[1]
                rows = ops.reshape(ops.tile(aux, (1, m)), (-1, r, m))
            else:
                rows = ops.repeat(ops.expand_dims(aux, 2), m, axis=2)  # (B, R, M)
            return ops.concatenate([x, rows], axis=1)
        length = ops.shape(x)[1]
        cols = ops.repeat(ops.expand_dims(aux, 1), length, axis=1)  # (B, L, R)
        return ops.concatenate([x, cols], axis=2)

    def compute_output_shape(self, input_shape):
        xs, auxs = input_shape
        b, length, m = xs
        r = auxs[-1]
        if self.axis == "L":
            return (b, None if length is None or r is None else length + r, m)
        return (b, length, None if m is None or r is None else m + r)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "layout": self.layout}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvEmbedding(layers.Layer):
    """§3.3: 1-D convolution with kernel size 1 and ReLU, projecting M channels to d (M*d + d params)."""

    def __init__(self, d: int, **kwargs):
        super().__init__(**kwargs)
        self.d = int(d)
        self.conv = layers.Conv1D(filters=self.d, kernel_size=1, activation="relu", name="conv1d")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.built = True

    def call(self, x):
        return self.conv(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.d)

    def get_config(self):
        return {**super().get_config(), "d": self.d}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PositionalEncoding(layers.Layer):
    """Eq. (10): ``x_l <- x_l + p_l`` with ``P`` from :func:`positional_encoding` (no parameters)."""

    def __init__(self, kind: str = "paper_eq9", **kwargs):
        super().__init__(**kwargs)
        positional_encoding(1, 2, kind)  # validates kind
        self.kind = kind

    def build(self, input_shape):
        length, d = input_shape[-2], input_shape[-1]
        if length is None or d is None:
            raise ValueError(f"PositionalEncoding needs a fixed sequence length and width, got {input_shape}")
        self._pe = ops.convert_to_tensor(positional_encoding(int(length), int(d), self.kind)[None].astype("float32"))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}

    def call(self, x):
        return x + ops.cast(self._pe, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


#: The attention kernel of every :class:`MultiHeadSelfAttention` traced from now on: ``fused`` (the op
#: of :mod:`.fused`) or ``tf`` (TensorFlow's ops). Set through :func:`use_attention_kernel`.
_KERNEL: dict = {"kind": None}  # None: "auto", resolved at the first trace


def use_attention_kernel(kind: str = "auto") -> str:
    """Select the attention kernel (config ``t2.attention_kernel``: auto, fused or tf) for the layers
    traced from now on; returns the one in use (``auto`` resolves to fused when the op builds)."""
    from .fused import resolve

    _KERNEL["kind"] = resolve(kind)
    return _KERNEL["kind"]


def attention_kernel() -> str:
    """The attention kernel in use: ``fused`` or ``tf`` (``auto`` is resolved on the first call)."""
    if _KERNEL["kind"] is None:
        use_attention_kernel("auto")
    return _KERNEL["kind"]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiHeadSelfAttention(layers.Layer):
    """Eqs. (5)-(6): h-head scaled dot-product self-attention with ``d_k = d_v = d / h``.

    Four dense maps ``d -> d`` (W^Q, W^K, W^V over all heads, and W^O after concatenation), each
    with bias: ``4 (d*d + d)`` parameters, independent of h.
    """

    def __init__(self, d: int, h: int, **kwargs):
        super().__init__(**kwargs)
        d, h = int(d), int(h)
        if h < 1 or d % h != 0:
            raise ValueError(f"MultiHeadSelfAttention: d={d} must be divisible by h={h} (h*d_v = d)")
        self.d, self.h, self.d_head = d, h, d // h
        #: None: the kernel of :func:`attention_kernel` at trace time; "fused" / "tf" force one (not saved:
        #: both compute the same function). ``make bench`` sets it to time the two side by side.
        self.impl = None
        self.wq = layers.Dense(d, name="query")
        self.wk = layers.Dense(d, name="key")
        self.wv = layers.Dense(d, name="value")
        self.wo = layers.Dense(d, name="output")

    def build(self, input_shape):
        for dense in (self.wq, self.wk, self.wv):
            dense.build(input_shape)
        self.wo.build((*input_shape[:-1], self.d))
        self.built = True

    def _split(self, x, b, length):
        x = ops.reshape(x, (b, length, self.h, self.d_head))
        return ops.transpose(x, (0, 2, 1, 3))  # (B, h, L, d_head)

    def call(self, x, return_attention: bool = False):
        impl = self.impl or attention_kernel()
        if impl not in ("fused", "tf"):
            raise ValueError(f"MultiHeadSelfAttention.impl must be 'fused', 'tf' or None, got {impl!r}")
        if impl == "tf" or return_attention:
            return self._call_tf(x, return_attention)
        # The fused op (t2/kernels): (B, L, h, d_head) in and out, so the Dense outputs are only
        # reshaped, never transposed; no (B, h, L, L) tensor exists, forward or backward. The 1/sqrt(d_head)
        # scale goes on Q instead of the scores (the same numbers to rounding; tests/test_t2_fused.py).
        from .fused import attention

        shape = ops.shape(x)
        b, length = shape[0], shape[1]
        split = (b, length, self.h, self.d_head)
        q = ops.reshape(self.wq(x) / math.sqrt(self.d_head), split)
        heads = attention(q, ops.reshape(self.wk(x), split), ops.reshape(self.wv(x), split))
        return self.wo(ops.reshape(heads, (b, length, self.d)))

    def _call_tf(self, x, return_attention: bool = False):
        """TensorFlow's ops, all heads at once: scores (B, h, L, L), softmax, weighted values. Used for
        ``t2.attention_kernel: tf``, when the fused op is unavailable, and for the attention weights."""
        shape = ops.shape(x)
        b, length = shape[0], shape[1]
        q = self._split(self.wq(x), b, length)
        k = self._split(self.wk(x), b, length)
        v = self._split(self.wv(x), b, length)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.d_head)
        weights = ops.softmax(scores, axis=-1)
        heads = ops.matmul(weights, v)  # (B, h, L, d_head)
        concat = ops.reshape(ops.transpose(heads, (0, 2, 1, 3)), (b, length, self.d))
        out = self.wo(concat)
        return (out, weights) if return_attention else out

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.d)

    def get_config(self):
        return {**super().get_config(), "d": self.d, "h": self.h}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformerBlock(layers.Layer):
    """Eq. (8), one transformer block (post-norm: residual added, then LayerNorm).

    ``X <- LayerNorm(X + Dropout(MHSA(X)))``; ``X <- LayerNorm(X + Dropout(FFN(X)))`` with
    ``FFN = Dense(d) . ReLU . Dense(d_ff)``. Eq. (8) prints ``LayerNorm(MHSA(X)) + X`` but the text
    ("combined with the output of the block and then normalised") and the authors' code normalise
    after the residual sum; the parameter count (4(d^2+d) + 2*2d + 2 d d_ff + d_ff + d) is the same.
    """

    def __init__(self, d: int, h: int, d_ff: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.d, self.h, self.d_ff, self.dropout = int(d), int(h), int(d_ff), float(dropout)
        self.attention = MultiHeadSelfAttention(self.d, self.h, name="mhsa")
        self.ffn_in = layers.Dense(self.d_ff, activation="relu", name="ffn_in")
        self.ffn_out = layers.Dense(self.d, name="ffn_out")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.drop1 = layers.Dropout(self.dropout)
        self.drop2 = layers.Dropout(self.dropout)

    def build(self, input_shape):
        if input_shape[-1] != self.d:
            raise ValueError(f"TransformerBlock: input width {input_shape[-1]} != d={self.d}")
        self.attention.build(input_shape)
        self.norm1.build(input_shape)
        self.ffn_in.build(input_shape)
        self.ffn_out.build((*input_shape[:-1], self.d_ff))
        self.norm2.build(input_shape)
        self.built = True

    def call(self, x, training=None):
        a = self.drop1(self.attention(x), training=training)
        x = self.norm1(x + a)
        f = self.drop2(self.ffn_out(self.ffn_in(x)), training=training)
        return self.norm2(x + f)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "d": self.d, "h": self.h, "d_ff": self.d_ff, "dropout": self.dropout}


def uses_fused_attention(model) -> bool:
    """Whether a model's transformer blocks run the fused attention op (which XLA cannot compile, so
    :func:`.stream.serving_fn` does not XLA-compile such a model)."""
    blocks = [l for l in model.layers if isinstance(l, TransformerBlock)]
    return any((b.attention.impl or attention_kernel()) == "fused" for b in blocks)
