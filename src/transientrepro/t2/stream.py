"""Batches of a streamed t2 split (:class:`~.data.StreamedX`) for Keras: each batch is read from the
GP store and scaled when Keras asks for it, so memory holds a few batches, not the data set.

Used by training and prediction when a split exceeds ``t2.stream_above_mb``. The epoch order is a
seeded permutation, redrawn after every epoch (the same role as ``model.fit(shuffle=True)``).
"""
from __future__ import annotations

import math
import weakref

import numpy as np


def batches(data, idx: np.ndarray, batch_size: int, y: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None, shuffle_seed: int | None = None):
    """A ``keras.utils.PyDataset`` over the objects ``idx`` of the :class:`~.data.T2Data` ``data``.

    ``y`` (one-hot) and ``sample_weight`` are aligned with ``idx``. Without ``y`` the batches hold
    inputs only (for ``predict``). With ``shuffle_seed`` the order is shuffled every epoch.
    """
    import keras

    idx = np.asarray(idx, dtype=np.int64)

    class T2Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
            self.order = np.arange(len(idx)) if self.rng is None else self.rng.permutation(len(idx))

        def __len__(self) -> int:
            return math.ceil(len(idx) / batch_size)

        def __getitem__(self, i: int):
            pos = self.order[i * batch_size:(i + 1) * batch_size]
            x = data.inputs(idx[pos])
            if y is None:
                return (x,)
            if sample_weight is None:
                return x, y[pos]
            return x, y[pos], sample_weight[pos]

        def on_epoch_end(self) -> None:
            if self.rng is not None:
                self.order = self.rng.permutation(len(idx))

    return T2Batches()


#: Objects per inference call. The fused attention op holds no (B, h, L, L) tensor, so the batch need
#: not fit a cache; 1024 amortises the per-call overhead (measured against 256 and 4096, issue 12).
PREDICT_BATCH = 1024

_SERVING: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def serving_fn(model, jit_compile: bool = True):
    """A ``tf.function`` of ``model(inputs, training=False)`` traced once for any batch size (input
    signature with a free batch axis), cached per model: no ``model.predict`` machinery (tf.data
    adapter, callbacks, per-call retracing) between batches. ``jit_compile`` (config
    ``t2.jit_compile``): with TensorFlow's attention ops the whole function is XLA-compiled, once per
    batch shape (probabilities within ~1e-6 of plain TensorFlow); the fused attention op is not
    XLA-compilable, so a model with it runs plain TensorFlow around the op."""
    from .layers import uses_fused_attention

    jit_compile = bool(jit_compile) and not uses_fused_attention(model)
    cache = _SERVING.setdefault(model, {})
    fn = cache.get(bool(jit_compile))
    if fn is None:
        import tensorflow as tf

        names = [t.name.split(":")[0] for t in model.inputs]
        spec = {n: tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=n) for n, t in zip(names, model.inputs)}

        @tf.function(input_signature=[spec], jit_compile=bool(jit_compile))
        def fn(inputs):
            return model(inputs, training=False)

        cache[bool(jit_compile)] = fn
    return fn


def predict(model, data, batch_size: int = PREDICT_BATCH, legacy: bool = False,
            jit_compile: bool = True) -> np.ndarray:
    """Class probabilities (float32, N x C) of every object of the :class:`~.data.T2Data` ``data``,
    ``batch_size`` objects per call of :func:`serving_fn` (see there for ``jit_compile``): from memory
    for an in-memory split, batch by batch from the GP store for a streamed one. ``legacy=True``:
    ``model.predict`` as before issue 12 (kept for ``make bench``'s ratio; the same numbers to ~1e-6)."""
    if legacy:
        if data.streamed:
            return model.predict(batches(data, np.arange(len(data)), batch_size), verbose=0)
        return model.predict(data.inputs(), batch_size=batch_size, verbose=0)
    n = len(data)
    fn = serving_fn(model, jit_compile)
    names = [t.name.split(":")[0] for t in model.inputs]
    out = np.empty((n, model.outputs[0].shape[-1]), np.float32)
    full = None if data.streamed else data.inputs()
    for i in range(0, n, int(batch_size)):
        part = data.inputs(np.arange(i, min(n, i + int(batch_size)))) if full is None else \
            {k: v[i:i + int(batch_size)] for k, v in full.items()}
        missing = [k for k in names if k not in part]
        if missing:
            raise ValueError(f"model {model.name!r} takes inputs {names}; the data lack {missing}")
        out[i:i + len(part[names[0]])] = fn({k: np.asarray(part[k], np.float32) for k in names}).numpy()
    return out
