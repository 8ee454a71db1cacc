"""Strided-convolution encoders and transposed-convolution decoders, and the check that a decoder
gives back images of the input's size."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from dlpipe.config.layers import ConvEncoderConfig, DeconvDecoderConfig, UpsamplingGeneratorConfig
from dlpipe.models.blocks import LayerOptions, activation_layer, normalize_and_activate
from dlpipe.models.geometry import conv_output_size, conv_transpose_output_size


def _activate(x, encoder: ConvEncoderConfig, name: str):
    return normalize_and_activate(
        x,
        batch_norm=encoder.batch_norm,
        position="before_activation",
        activation=activation_layer(encoder.activation, encoder.leaky_relu_slope),
        name=name,
    )


def _conv_stack(x, layer, filters_list, encoder: ConvEncoderConfig, options: LayerOptions, name: str, **conv):
    """One ``layer`` (Conv2D or Conv2DTranspose) per filter count, each followed by batch norm
    (when the encoder has it; it makes the bias redundant) and the encoder's activation."""
    for index, filters in enumerate(filters_list):
        layer_name = f"{name}{index + 1}"
        x = layer(filters, use_bias=not encoder.batch_norm, name=layer_name, **conv, **options())(x)
        x = _activate(x, encoder, layer_name)
    return x


def conv_encoder(x, encoder: ConvEncoderConfig, options: LayerOptions, prefix: str = "encoder"):
    """One strided convolution (then batch norm when configured, then the activation) per filter count."""
    return _conv_stack(
        x,
        layers.Conv2D,
        encoder.filters,
        encoder,
        options,
        f"{prefix}_conv",
        kernel_size=encoder.kernel_size,
        strides=encoder.stride,
        padding=encoder.padding,
    )


def deconv_decoder(
    x,
    encoder: ConvEncoderConfig,
    decoder: DeconvDecoderConfig,
    options: LayerOptions,
    prefix: str = "decoder",
):
    """One transposed convolution per encoder layer, with the encoder's filters in reverse order."""
    return _conv_stack(
        x,
        layers.Conv2DTranspose,
        list(reversed(encoder.filters)),
        encoder,
        options,
        f"{prefix}_deconv",
        kernel_size=decoder.kernel_size,
        strides=decoder.stride,
        padding=decoder.padding,
        output_padding=decoder.output_padding,
    )


def dense_to_feature_map(
    x, shape, encoder: ConvEncoderConfig, options: LayerOptions, name: str = "decoder_dense"
):
    """A dense layer (with the encoder's activation) reshaped to the feature map ``shape``
    ``(height, width, channels)`` that the transposed convolutions start from."""
    x = layers.Dense(math.prod(shape), name=name, **options())(x)
    x = activation_layer(encoder.activation, encoder.leaky_relu_slope)(x)
    return layers.Reshape(tuple(shape), name=f"{name}_reshape")(x)


def image_output(x, channels: int, options: LayerOptions | None = None, name: str = "images"):
    """The last convolution: ``channels`` maps of pixels in [0, 1] (a sigmoid), as binary
    cross-entropy per pixel needs, in float32."""
    return layers.Conv2D(
        channels,
        3,
        padding="same",
        activation="sigmoid",
        dtype="float32",
        name=name,
        **(options() if options is not None else {}),
    )(x)


def upsampling_generator(
    latent_dim: int, image_shape, config: UpsamplingGeneratorConfig, options: LayerOptions
) -> keras.Model:
    """Latent vectors to images in [0, 1] (the DCGAN generator): a dense projection to the first
    map, then stride-``config.stride`` transposed convolutions, each but the last with batch
    norm (when configured) and ReLU; the last one has the image's channels and a sigmoid."""
    height, width, channels = image_shape
    factor = config.upsampling_factor
    base_shape = (height // factor, width // factor, config.filters[0])
    latent = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(math.prod(base_shape), use_bias=False, name="project", **options())(latent)
    x = _normalize_and_relu(x, config, "project")
    x = layers.Reshape(base_shape)(x)
    upsample = {"kernel_size": config.kernel_size, "strides": config.stride, "padding": "same"}
    for index, filters in enumerate(config.filters[1:]):
        name = f"generator_deconv{index + 1}"
        x = layers.Conv2DTranspose(
            filters, use_bias=not config.batch_norm, name=name, **upsample, **options()
        )(x)
        x = _normalize_and_relu(x, config, name)
    images = layers.Conv2DTranspose(
        channels, activation="sigmoid", dtype="float32", name="images", **upsample, **options()
    )(x)
    return keras.Model(latent, images, name="generator")


def _normalize_and_relu(x, config: UpsamplingGeneratorConfig, name: str):
    return normalize_and_activate(
        x, batch_norm=config.batch_norm, position="before_activation", activation=layers.ReLU(), name=name
    )


def decode_prior_draws(decoder: keras.Model, count: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``decoder``'s outputs for ``count`` latent vectors drawn from the standard normal with ``seed``."""
    latent_dim = int(decoder.inputs[0].shape[-1])
    latent = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype("float32")
    return decoder.predict(latent, batch_size=batch_size, verbose=0)


def check_encoder_fits(input_shape, encoder: ConvEncoderConfig, key: str = "model.encoder") -> None:
    """Raise ValueError, naming ``key``, when a convolution of ``encoder`` no longer fits the image."""
    for size in input_shape[:2]:
        _through_encoder(size, encoder, key)


def _through_encoder(size: int, encoder: ConvEncoderConfig, key: str) -> list[int]:
    sizes = [size]
    for index in range(len(encoder.filters)):
        try:
            sizes.append(conv_output_size(sizes[-1], encoder.kernel_size, encoder.stride, encoder.padding))
        except ValueError as err:
            raise ValueError(f"{key}: layer {index + 1} of filters {encoder.filters}: {err}") from None
    return sizes


def check_decodes_to_input_size(
    input_shape,
    encoder: ConvEncoderConfig,
    decoder: DeconvDecoderConfig,
    *,
    keys=("model.encoder", "model.decoder"),
) -> None:
    """Raise ValueError, naming the keys, unless encoding then decoding gives back the input's
    height and width (the transposed convolution's output-size formula, layer by layer)."""
    encoder_key, decoder_key = keys
    for axis, size in zip(("height", "width"), input_shape[:2], strict=True):
        sizes = _through_encoder(size, encoder, encoder_key)
        for _ in encoder.filters:
            sizes.append(
                conv_transpose_output_size(
                    sizes[-1], decoder.kernel_size, decoder.stride, decoder.padding, decoder.output_padding
                )
            )
        if sizes[-1] != size:
            raise ValueError(
                f"{decoder_key}: the {axis} goes {' -> '.join(map(str, sizes))} through {encoder_key} and "
                f"{decoder_key}, but the output must be {size} like the input. A transposed convolution "
                "outputs (size - 1) * stride + kernel - 2 * pad + output_padding: change "
                f"{decoder_key}.kernel_size, stride, padding or output_padding, or {encoder_key}."
            )
