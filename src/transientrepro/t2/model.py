"""The t2 model (Fig. 6) as a Keras functional model.

Inputs: ``lightcurve`` (L, M) -- the GP mean on a regular grid -- and, for the variant with
additional features, ``aux`` (R,) = (z, z_err). Layers (names fixed, used by the CAM code):
``aux_concat`` (optional) -> ``embedding`` -> ``positional_encoding`` -> ``block_1 .. block_N`` ->
``gap`` (GlobalAveragePooling1D) -> ``gap_dropout`` -> ``logits`` (Dense C) -> ``probs`` (softmax).
Splitting the final Dense from its softmax keeps the pre-softmax class scores S_c addressable
(the parameter count is that of a Dense-with-softmax).
"""
from __future__ import annotations

from typing import Any, Mapping

import keras
from keras import layers

from .layers import AuxConcat, ConvEmbedding, PositionalEncoding, TransformerBlock
from .params import check_hyperparameters

LAST_BLOCK_PREFIX = "block_"


def build_t2(
    L: int,
    M: int,
    C: int,
    hyperparameters: Mapping[str, Any],
    n_aux: int = 0,
    concat: str = "L",
    name: str = "t2",
    positional_encoding: str = "paper_eq9",
    aux_layout: str = "per_feature",
) -> keras.Model:
    """Build (not compile) t2 with ``L`` time samples, ``M`` passbands, ``C`` classes.

    ``n_aux`` additional scalar features (R) are concatenated along ``concat`` in {"L", "M"};
    ``n_aux=0`` gives the light-curve-only model (variant t2_noz). ``positional_encoding`` and
    ``aux_layout`` are the config switches ``t2.positional_encoding`` / ``t2.aux_layout``.
    """
    hp = check_hyperparameters(hyperparameters)
    if concat not in ("L", "M"):
        raise ValueError(f"t2.concat must be 'L' or 'M', got {concat!r}")
    x_in = keras.Input(shape=(L, M), name="lightcurve")
    inputs = [x_in]
    x = x_in
    if n_aux > 0:
        aux_in = keras.Input(shape=(n_aux,), name="aux")
        inputs.append(aux_in)
        x = AuxConcat(axis=concat, layout=aux_layout, name="aux_concat")([x_in, aux_in])
    x = ConvEmbedding(hp["d"], name="embedding")(x)
    x = PositionalEncoding(kind=positional_encoding, name="positional_encoding")(x)
    for i in range(hp["N"]):
        x = TransformerBlock(hp["d"], hp["h"], hp["d_ff"], hp["dropout"], name=f"{LAST_BLOCK_PREFIX}{i + 1}")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    x = layers.Dropout(hp["dropout"], name="gap_dropout")(x)
    logits = layers.Dense(C, name="logits")(x)
    probs = layers.Activation("softmax", name="probs", dtype="float32")(logits)
    return keras.Model(inputs=inputs, outputs=probs, name=name)


def last_block(model: keras.Model) -> layers.Layer:
    """The last transformer block (its output is the feature map f_k(l) of the CAM)."""
    blocks = [l for l in model.layers if l.name.startswith(LAST_BLOCK_PREFIX)]
    if not blocks:
        raise ValueError(f"model {model.name!r} has no transformer block layer named {LAST_BLOCK_PREFIX}*")
    return max(blocks, key=lambda l: int(l.name[len(LAST_BLOCK_PREFIX):]))


def compile_t2(model: keras.Model, learning_rate: float, loss: str = "class_weighted",
               clipnorm: float | None = None) -> keras.Model:
    """Adam (§4.4) on one-hot targets with the loss of ``t2.loss`` (see :mod:`.losses`) and, when
    ``clipnorm`` is set, gradient-norm clipping (the authors' ``Adam(lr, clipnorm=1)``)."""
    from .losses import make_loss

    opt = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=None if clipnorm is None else float(clipnorm))
    model.compile(optimizer=opt, loss=make_loss(loss), metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    return model


def build_and_compile(L: int, M: int, C: int, hyperparameters: Mapping[str, Any], s: Mapping[str, Any],
                      n_aux: int = 0, name: str = "t2") -> keras.Model:
    """:func:`build_t2` + :func:`compile_t2` with every model/optimiser switch of the ``t2:``
    settings ``s`` (concat, positional_encoding, aux_layout, loss, clipnorm)."""
    model = build_t2(L, M, C, hyperparameters, n_aux=n_aux, concat=s["concat"], name=name,
                     positional_encoding=s["positional_encoding"], aux_layout=s["aux_layout"])
    return compile_t2(model, hyperparameters["learning_rate"], loss=s["loss"], clipnorm=s["clipnorm"])
