"""The ``cnn`` family: convolutional blocks and a dense head, classifying images."""

from __future__ import annotations

from typing import Literal

import keras

from dlpipe.config.layers import ConvConfig, DenseConfig, ModelConfigBase
from dlpipe.families.registry import Family, register
from dlpipe.models.assembly import assemble_functional_model
from dlpipe.models.blocks import conv_blocks, dense_stack


class CnnModelConfig(ModelConfigBase):
    family: Literal["cnn"]
    conv: ConvConfig = ConvConfig()
    dense: DenseConfig = DenseConfig()


def build_cnn(spec, config) -> keras.Model:
    """Conv blocks (conv, optional batch norm, activation, pooling, dropout), flatten, dense head."""
    model = config.model

    def body(x, options):
        x = conv_blocks(x, model.conv, options)
        x = keras.layers.Flatten(name="flatten")(x)
        return dense_stack(x, model.dense, options)

    return assemble_functional_model(spec, config, body)


def check_image_data(spec, config) -> None:
    if spec.modality != "image":
        raise ValueError(
            f"model.family: 'cnn' needs image inputs of shape (height, width, channels); dataset "
            f"'{spec.name}' has {spec.modality} inputs of shape {spec.input_shape}"
        )


FAMILY = register(
    Family(
        name="cnn",
        model_schema=CnnModelConfig,
        tasks=("classification",),
        build=build_cnn,
        default_dataset="fashion_mnist_local",
        check_data=check_image_data,
    )
)
