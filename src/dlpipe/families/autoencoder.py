"""The ``autoencoder`` family: a convolutional encoder, a code, a transposed-convolution decoder.

Strided convolutions shrink the image to a small code (a dense vector or a feature map); the
decoder's ``Conv2DTranspose`` layers ("deconvolutions") grow it back to the input's size. With
``denoising.corruption`` the encoder sees corrupted images while the loss compares the output with
the clean ones.
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import layers
from pydantic import Field

from dlpipe.config.common import PositiveInt, Strict, UnitFraction
from dlpipe.config.layers import ConvEncoderConfig, DeconvDecoderConfig, ModelConfigBase
from dlpipe.families.registry import Family, register
from dlpipe.models.assembly import assemble_functional_model
from dlpipe.models.deconv import (
    check_decodes_to_input_size,
    conv_encoder,
    deconv_decoder,
    dense_to_feature_map,
)
from dlpipe.tasks.reconstruction import CODE_LAYER, CORRUPTION_LAYER


class DenoisingConfig(Strict):
    """Corruption of the encoder's input while training; the loss still sees the clean image."""

    corruption: Literal["none", "gaussian", "masking"] = "none"
    stddev: float = Field(0.2, gt=0.0)  # gaussian: noise on pixels scaled to [0, 1]
    rate: UnitFraction = 0.25  # masking: the share of pixels set to 0


class AutoencoderModelConfig(ModelConfigBase):
    family: Literal["autoencoder"]
    encoder: ConvEncoderConfig = ConvEncoderConfig()
    bottleneck: Literal["dense", "conv"] = "dense"
    code_size: PositiveInt = 32  # dense: units of the code; conv: channels of the code map
    decoder: DeconvDecoderConfig = DeconvDecoderConfig()
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
        x = conv_encoder(x, encoder, options)
        feature_shape = tuple(x.shape[1:])
        if model.bottleneck == "dense":
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(model.code_size, name=CODE_LAYER, **options())(x)
            x = dense_to_feature_map(x, feature_shape, encoder, options)
        else:
            x = layers.Conv2D(model.code_size, 1, name=CODE_LAYER, **options())(x)
        return deconv_decoder(x, encoder, decoder, options)

    return assemble_functional_model(spec, config, body)


def check_data(spec, config) -> None:
    # The reconstruction task has checked that the inputs are images.
    check_decodes_to_input_size(spec.input_shape, config.model.encoder, config.model.decoder)


FAMILY = register(
    Family(
        name="autoencoder",
        model_schema=AutoencoderModelConfig,
        tasks=("reconstruction",),
        build=build_autoencoder,
        default_dataset="fashion_mnist_local",
        check_data=check_data,
    )
)
