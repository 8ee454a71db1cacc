"""Strided-convolution encoders and transposed-convolution decoders, and the check that a decoder
gives back images of the input's size."""

from __future__ import annotations

from keras import layers

from dlpipe.config.layers import ConvEncoderConfig, DeconvDecoderConfig
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


def conv_encoder(x, encoder: ConvEncoderConfig, options: LayerOptions, prefix: str = "encoder"):
    """One strided convolution (then batch norm when configured, then the activation) per filter count."""
    for index, filters in enumerate(encoder.filters):
        name = f"{prefix}_conv{index + 1}"
        x = layers.Conv2D(
            filters,
            encoder.kernel_size,
            strides=encoder.stride,
            padding=encoder.padding,
            use_bias=not encoder.batch_norm,
            name=name,
            **options(),
        )(x)
        x = _activate(x, encoder, name)
    return x


def deconv_decoder(
    x,
    encoder: ConvEncoderConfig,
    decoder: DeconvDecoderConfig,
    options: LayerOptions,
    prefix: str = "decoder",
):
    """One transposed convolution per encoder layer, with the encoder's filters in reverse order."""
    for index, filters in enumerate(reversed(encoder.filters)):
        name = f"{prefix}_deconv{index + 1}"
        x = layers.Conv2DTranspose(
            filters,
            decoder.kernel_size,
            strides=decoder.stride,
            padding=decoder.padding,
            output_padding=decoder.output_padding,
            use_bias=not encoder.batch_norm,
            name=name,
            **options(),
        )(x)
        x = _activate(x, encoder, name)
    return x


def encoded_shape(input_shape, encoder: ConvEncoderConfig) -> tuple[int, int, int]:
    """``(height, width, channels)`` of the encoder's output for images of ``input_shape``."""
    height, width = (_through_encoder(size, encoder, "model.encoder")[-1] for size in input_shape[:2])
    return height, width, encoder.filters[-1]


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
