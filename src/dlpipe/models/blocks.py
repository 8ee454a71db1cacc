"""Layer blocks that model families share: conv blocks, a dense stack, and their options."""

from __future__ import annotations

import keras
from keras import layers

from dlpipe.config.layers import ConvConfig, DenseConfig, InitializerConfig, ModelConfigBase


def activation_layer(name: str, leaky_relu_slope: float) -> layers.Layer:
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=leaky_relu_slope)
    return layers.Activation(name)


def initializer_for(config: InitializerConfig):
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


class LayerOptions:
    """A fresh set of kernel initializer, regularizer and constraint for each layer that calls it."""

    def __init__(self, config: ModelConfigBase):
        self.config = config

    def __call__(self) -> dict:
        reg = self.config.regularization
        regularizer = None
        if reg.l1 or reg.l2:
            regularizer = keras.regularizers.L1L2(l1=reg.l1, l2=reg.l2)
        return {
            "kernel_initializer": initializer_for(self.config.initializer),
            "kernel_regularizer": regularizer,
            "kernel_constraint": keras.constraints.MaxNorm(reg.max_norm) if reg.max_norm else None,
        }


def normalize_and_activate(x, *, batch_norm: bool, position: str, activation, name: str):
    if batch_norm and position == "before_activation":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = activation(x)
    if batch_norm and position == "after_activation":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def conv_blocks(x, config: ConvConfig, options: LayerOptions):
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
            x = normalize_and_activate(
                x,
                batch_norm=config.batch_norm,
                position=config.batch_norm_position,
                activation=activation_layer(config.activation, config.leaky_relu_slope),
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


def dense_stack(x, config: DenseConfig, options: LayerOptions):
    for index in range(config.num_layers):
        name = f"dense{index + 1}"
        x = layers.Dense(config.units, use_bias=not config.batch_norm, name=name, **options())(x)
        x = normalize_and_activate(
            x,
            batch_norm=config.batch_norm,
            position=config.batch_norm_position,
            activation=activation_layer(config.activation, config.leaky_relu_slope),
            name=name,
        )
        if config.dropout > 0:
            x = layers.Dropout(config.dropout, name=f"{name}_dropout")(x)
    return x
