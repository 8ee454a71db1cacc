"""Build Keras models from a validated :class:`~dlpipe.config.schema.ModelConfig`."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from dlpipe.config.schema import ConvConfig, DenseConfig, InitializerConfig, ModelConfig
from dlpipe.models.pretrained import load_pretrained_weights


def _activation(name: str, leaky_relu_slope: float) -> layers.Layer:
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=leaky_relu_slope)
    return layers.Activation(name)


def _initializer(config: InitializerConfig):
    """A fresh initializer instance (Keras initializers must not be shared between layers)."""
    if config.name in ("pretrained", "glorot_uniform"):
        # Pretrained weights are copied in after the build; layers the saved model lacks keep
        # Keras' default (Glorot uniform).
        return keras.initializers.GlorotUniform()
    if config.name == "random_normal":
        return keras.initializers.RandomNormal(stddev=config.stddev)
    if config.name == "truncated_normal":
        return keras.initializers.TruncatedNormal(stddev=config.stddev)
    if config.name == "random_uniform":
        return keras.initializers.RandomUniform(-config.scale, config.scale)
    if config.name == "orthogonal":
        return keras.initializers.Orthogonal(gain=config.gain)
    return keras.initializers.get(config.name)


class _LayerOptions:
    """The kernel initializer, regularizer and constraint every conv and dense layer gets."""

    def __init__(self, config: ModelConfig):
        self.config = config

    def __call__(self) -> dict:
        reg = self.config.regularization
        regularizer = None
        if reg.l1 or reg.l2:
            regularizer = keras.regularizers.L1L2(l1=reg.l1, l2=reg.l2)
        return {
            "kernel_initializer": _initializer(self.config.initializer),
            "kernel_regularizer": regularizer,
            "kernel_constraint": keras.constraints.MaxNorm(reg.max_norm) if reg.max_norm else None,
        }


def _normalize_and_activate(x, *, batch_norm: bool, position: str, activation, name: str):
    if batch_norm and position == "before_activation":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = activation(x)
    if batch_norm and position == "after_activation":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def _conv_blocks(x, config: ConvConfig, options: _LayerOptions):
    for block in range(config.num_blocks):
        filters = max(1, round(config.filters * config.filters_growth**block))
        for conv in range(config.convs_per_block):
            name = f"block{block + 1}_conv{conv + 1}"
            # Batch norm has its own shift, which makes the conv bias redundant.
            x = layers.Conv2D(
                filters,
                config.kernel_size,
                strides=config.stride,
                padding=config.padding,
                use_bias=not config.batch_norm,
                name=name,
                **options(),
            )(x)
            x = _normalize_and_activate(
                x,
                batch_norm=config.batch_norm,
                position=config.batch_norm_position,
                activation=_activation(config.activation, config.leaky_relu_slope),
                name=name,
            )
        is_last = block == config.num_blocks - 1
        pools_here = config.pooling != "none" and ((block + 1) % config.pool_every == 0 or is_last)
        if pools_here:
            pool = layers.MaxPooling2D if config.pooling == "max" else layers.AveragePooling2D
            x = pool(config.pool_size, padding="same", name=f"block{block + 1}_pool")(x)
        if config.dropout > 0 and (pools_here or config.pooling == "none"):
            x = layers.Dropout(config.dropout, name=f"block{block + 1}_dropout")(x)
    return x


def _dense_head(x, config: DenseConfig, options: _LayerOptions):
    for index in range(config.num_layers):
        name = f"dense{index + 1}"
        x = layers.Dense(config.units, use_bias=not config.batch_norm, name=name, **options())(x)
        x = _normalize_and_activate(
            x,
            batch_norm=config.batch_norm,
            position=config.batch_norm_position,
            activation=_activation(config.activation, config.leaky_relu_slope),
            name=name,
        )
        if config.dropout > 0:
            x = layers.Dropout(config.dropout, name=f"{name}_dropout")(x)
    return x


def build_model(
    input_shape: Sequence[int], num_classes: int, config: ModelConfig, *, binary_output: bool = False
) -> keras.Model:
    """Return an uncompiled functional model for ``config.family``.

    ``cnn``: conv blocks (conv, optional batch norm, activation, pooling, dropout), then a dense head.
    ``mlp``: the input flattened, then the dense head. The output is a ``num_classes`` softmax, or
    one sigmoid unit when ``binary_output`` (two classes with binary cross-entropy). With the
    ``pretrained`` initializer, weights of same-named layers are copied from the saved model.
    Build it inside the distribution strategy's scope so its variables are mirrored.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes: expected at least 2 classes, got {num_classes}")
    if binary_output and num_classes != 2:
        raise ValueError(f"binary_output needs exactly 2 classes, got {num_classes}")
    options = _LayerOptions(config)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if config.family == "cnn":
        if len(input_shape) != 3:
            raise ValueError(
                f"model.family 'cnn' needs image inputs of shape (height, width, channels), "
                f"got input_shape {list(input_shape)}"
            )
        x = _conv_blocks(x, config.conv, options)
    x = layers.Flatten(name="flatten")(x)
    x = _dense_head(x, config.dense, options)
    units, activation = (1, "sigmoid") if binary_output else (num_classes, "softmax")
    outputs = layers.Dense(units, activation=activation, name="predictions", **options())(x)
    model = keras.Model(inputs, outputs, name=config.family)
    if config.initializer.name == "pretrained":
        load_pretrained_weights(model, config.initializer.pretrained_model)
    return model
