"""Build Keras models from a validated :class:`~dlpipe.config.schema.ModelConfig`."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from dlpipe.config.schema import ConvConfig, DenseConfig, ModelConfig

# Losses that compare probability distributions need a softmax output; regression-style losses on
# one-hot targets (MSE) work on it too.
OUTPUT_ACTIVATION = "softmax"


def _activation(name: str) -> layers.Layer:
    if name == "leaky_relu":
        return layers.LeakyReLU()
    return layers.Activation(name)


def _conv_blocks(x, config: ConvConfig):
    for block in range(config.num_blocks):
        filters = max(1, round(config.filters * config.filters_growth**block))
        for conv in range(config.convs_per_block):
            # With batch norm after the convolution, the conv bias is redundant (BN has its own).
            x = layers.Conv2D(
                filters,
                config.kernel_size,
                strides=config.stride,
                padding=config.padding,
                use_bias=not config.batch_norm,
                name=f"block{block + 1}_conv{conv + 1}",
            )(x)
            if config.batch_norm:
                x = layers.BatchNormalization(name=f"block{block + 1}_bn{conv + 1}")(x)
            x = _activation(config.activation)(x)
        is_last = block == config.num_blocks - 1
        pools_here = config.pooling != "none" and ((block + 1) % config.pool_every == 0 or is_last)
        if pools_here:
            pool = layers.MaxPooling2D if config.pooling == "max" else layers.AveragePooling2D
            x = pool(config.pool_size, padding="same", name=f"block{block + 1}_pool")(x)
        if config.dropout > 0 and (pools_here or config.pooling == "none"):
            x = layers.Dropout(config.dropout, name=f"block{block + 1}_dropout")(x)
    return x


def _dense_head(x, config: DenseConfig):
    for index in range(config.num_layers):
        x = layers.Dense(config.units, use_bias=not config.batch_norm, name=f"dense{index + 1}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"dense{index + 1}_bn")(x)
        x = _activation(config.activation)(x)
        if config.dropout > 0:
            x = layers.Dropout(config.dropout, name=f"dense{index + 1}_dropout")(x)
    return x


def build_model(input_shape: Sequence[int], num_classes: int, config: ModelConfig) -> keras.Model:
    """Return an uncompiled functional model for ``config.family``.

    ``cnn``: conv blocks (conv, optional batch norm, activation, pooling, dropout), then a dense head.
    ``mlp``: the input flattened, then the dense head. Both end in a ``num_classes`` softmax.
    Build it inside the distribution strategy's scope so its variables are mirrored.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes: expected at least 2 classes, got {num_classes}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if config.family == "cnn":
        if len(input_shape) != 3:
            raise ValueError(
                f"model.family 'cnn' needs image inputs of shape (height, width, channels), "
                f"got input_shape {list(input_shape)}"
            )
        x = _conv_blocks(x, config.conv)
    x = layers.Flatten(name="flatten")(x)
    x = _dense_head(x, config.dense)
    outputs = layers.Dense(num_classes, activation=OUTPUT_ACTIVATION, name="predictions")(x)
    return keras.Model(inputs, outputs, name=config.family)
