"""The ``autoencoder`` family: a convolutional encoder, a code, a transposed-convolution decoder.

Strided convolutions shrink the image to a small code (a dense vector or a feature map); the
decoder's ``Conv2DTranspose`` layers ("deconvolutions") grow it back to the input's size. With
``denoising.corruption`` the encoder sees corrupted images while the loss compares the output with
the clean ones.
"""

from __future__ import annotations

import math
from typing import Literal

import keras
from keras import layers
from pydantic import Field

from dlpipe.config.common import ACTIVATIONS, NonNegativeInt, PositiveInt, Strict, UnitFraction
from dlpipe.config.layers import ModelConfigBase
from dlpipe.families.registry import Family, register
from dlpipe.models.assembly import assemble_functional_model
from dlpipe.models.blocks import activation_layer, normalize_and_activate
from dlpipe.models.geometry import conv_output_size, conv_transpose_output_size
from dlpipe.tasks.reconstruction import CODE_LAYER, CORRUPTION_LAYER


class EncoderConfig(Strict):
    filters: list[PositiveInt] = Field(default=[32, 64], min_length=1)  # one conv layer each
    kernel_size: PositiveInt = 3
    stride: PositiveInt = 2
    padding: Literal["same", "valid"] = "same"
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)
    batch_norm: bool = False


class DecoderConfig(Strict):
    """The transposed convolutions, one per encoder layer, with the encoder's filters reversed."""

    kernel_size: PositiveInt = 3
    stride: PositiveInt = 2
    padding: Literal["same", "valid"] = "same"
    # None: the size a convolution with the same settings maps back from (Keras' default).
    output_padding: NonNegativeInt | None = None


class DenoisingConfig(Strict):
    """Corruption of the encoder's input while training; the loss still sees the clean image."""

    corruption: Literal["none", "gaussian", "masking"] = "none"
    stddev: float = Field(0.2, gt=0.0)  # gaussian: noise on pixels scaled to [0, 1]
    rate: UnitFraction = 0.25  # masking: the share of pixels set to 0


class AutoencoderModelConfig(ModelConfigBase):
    family: Literal["autoencoder"]
    encoder: EncoderConfig = EncoderConfig()
    bottleneck: Literal["dense", "conv"] = "dense"
    code_size: PositiveInt = 32  # dense: units of the code; conv: channels of the code map
    decoder: DecoderConfig = DecoderConfig()
    denoising: DenoisingConfig = DenoisingConfig()


@keras.saving.register_keras_serializable(package="dlpipe")
class PixelMasking(layers.Layer):
    """Masking noise: while training, each value is set to 0 with probability ``rate`` (the
    others are kept as they are, unlike dropout's rescaling); identity at inference."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = keras.random.uniform(keras.ops.shape(inputs), seed=self.seed_generator) >= self.rate
        return inputs * keras.ops.cast(keep, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def build_autoencoder(spec, config) -> keras.Model:
    """Corruption (when denoising), strided conv encoder, the ``code`` layer, transposed-conv
    decoder; the reconstruction task adds the sigmoid output convolution."""
    model = config.model
    encoder, decoder = model.encoder, model.decoder

    def body(x, options):
        denoising = model.denoising
        if denoising.corruption == "gaussian":
            x = layers.GaussianNoise(denoising.stddev, seed=config.seed, name=CORRUPTION_LAYER)(x)
        elif denoising.corruption == "masking":
            x = PixelMasking(denoising.rate, seed=config.seed, name=CORRUPTION_LAYER)(x)
        for index, filters in enumerate(encoder.filters):
            name = f"encoder_conv{index + 1}"
            x = layers.Conv2D(
                filters, encoder.kernel_size, strides=encoder.stride, padding=encoder.padding,
                use_bias=not encoder.batch_norm, name=name, **options(),
            )(x)
            x = _normalize_and_activate(x, encoder, name)
        feature_shape = tuple(x.shape[1:])
        if model.bottleneck == "dense":
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(model.code_size, name=CODE_LAYER, **options())(x)
            x = layers.Dense(math.prod(feature_shape), name="decoder_dense", **options())(x)
            x = activation_layer(encoder.activation, encoder.leaky_relu_slope)(x)
            x = layers.Reshape(feature_shape, name="decoder_reshape")(x)
        else:
            x = layers.Conv2D(model.code_size, 1, name=CODE_LAYER, **options())(x)
        for index, filters in enumerate(reversed(encoder.filters)):
            name = f"decoder_deconv{index + 1}"
            x = layers.Conv2DTranspose(
                filters, decoder.kernel_size, strides=decoder.stride, padding=decoder.padding,
                output_padding=decoder.output_padding, use_bias=not encoder.batch_norm, name=name,
                **options(),
            )(x)
            x = _normalize_and_activate(x, encoder, name)
        return x

    return assemble_functional_model(spec, config, body)


def _normalize_and_activate(x, encoder: EncoderConfig, name: str):
    return normalize_and_activate(
        x,
        batch_norm=encoder.batch_norm,
        position="before_activation",
        activation=activation_layer(encoder.activation, encoder.leaky_relu_slope),
        name=name,
    )


def decoded_size(size: int, config: AutoencoderModelConfig) -> list[int]:
    """The side lengths along one image axis through the encoder and then the decoder, input first.

    Raises:
        ValueError: naming ``model.encoder`` when a convolution's kernel no longer fits.
    """
    encoder, decoder = config.encoder, config.decoder
    sizes = [size]
    for index in range(len(encoder.filters)):
        try:
            sizes.append(conv_output_size(sizes[-1], encoder.kernel_size, encoder.stride, encoder.padding))
        except ValueError as err:
            raise ValueError(f"model.encoder: layer {index + 1} of {encoder.filters}: {err}") from None
    for _ in encoder.filters:
        sizes.append(
            conv_transpose_output_size(
                sizes[-1], decoder.kernel_size, decoder.stride, decoder.padding, decoder.output_padding
            )
        )
    return sizes


def check_config(config) -> None:
    decoder = config.model.decoder
    if decoder.output_padding is not None and decoder.output_padding >= decoder.stride:
        raise ValueError(
            f"model.decoder.output_padding: {decoder.output_padding} must be smaller than "
            f"model.decoder.stride ({decoder.stride})"
        )


def check_data(spec, config) -> None:
    if spec.modality != "image":
        raise ValueError(
            f"model.family: 'autoencoder' needs image inputs; dataset '{spec.name}' has "
            f"{spec.modality} inputs of shape {spec.input_shape}"
        )
    for axis, size in zip(("height", "width"), spec.input_shape[:2]):
        sizes = decoded_size(size, config.model)
        if sizes[-1] != size:
            raise ValueError(
                f"model.decoder: the {axis} goes {' -> '.join(map(str, sizes))} through the encoder "
                f"and decoder, but the output must be {size} like the input. A transposed convolution "
                "outputs (size - 1) * stride + kernel - 2 * pad + output_padding: change "
                "model.decoder.kernel_size, stride, padding or output_padding, or model.encoder."
            )


FAMILY = register(
    Family(
        name="autoencoder",
        model_schema=AutoencoderModelConfig,
        tasks=("reconstruction",),
        build=build_autoencoder,
        default_dataset="fashion_mnist_local",
        check_config=check_config,
        check_data=check_data,
    )
)
