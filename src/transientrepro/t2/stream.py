"""Batches of a streamed t2 split (:class:`~.data.StreamedX`) for Keras: each batch is read from the
GP store and scaled when Keras asks for it, so memory holds a few batches, not the data set.

Used by training and prediction when a split exceeds ``t2.stream_above_mb``. The epoch order is a
seeded permutation, redrawn after every epoch (the same role as ``model.fit(shuffle=True)``).
"""
from __future__ import annotations

import math

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


def predict(model, data, batch_size: int = 1024) -> np.ndarray:
    """``model.predict`` on every object of the :class:`~.data.T2Data` ``data``: from memory for an
    in-memory split, batch by batch from the GP store for a streamed one."""
    if data.streamed:
        return model.predict(batches(data, np.arange(len(data)), batch_size), verbose=0)
    return model.predict(data.inputs(), batch_size=batch_size, verbose=0)
