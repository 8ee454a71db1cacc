"""The ``mlp`` family: a multilayer perceptron (dense layers) on flattened inputs."""

from __future__ import annotations

from typing import Literal

import keras

from dlpipe.config.layers import DenseConfig, ModelConfigBase
from dlpipe.families.registry import Family, register
from dlpipe.models.assembly import assemble_functional_model
from dlpipe.models.blocks import dense_stack


class MlpModelConfig(ModelConfigBase):
    family: Literal["mlp"]
    dense: DenseConfig = DenseConfig()


def build_mlp(spec, config) -> keras.Model:
    """The inputs flattened, then the dense stack (units, activation, batch norm, dropout)."""

    def body(x, options):
        if len(spec.input_shape) > 1:
            x = keras.layers.Flatten(name="flatten")(x)
        return dense_stack(x, config.model.dense, options)

    return assemble_functional_model(spec, config, body)


def check_fixed_size_inputs(spec, config) -> None:
    if spec.modality == "text":
        raise ValueError(
            f"model.family: 'mlp' reads numbers; dataset '{spec.name}' has strings "
            "(use a family that reads text)"
        )
    if None in spec.input_shape:
        raise ValueError(
            f"model.family: 'mlp' needs inputs of one fixed size; dataset '{spec.name}' has "
            f"variable-length inputs {spec.input_shape} (use a recurrent family)"
        )


FAMILY = register(
    Family(
        name="mlp",
        model_schema=MlpModelConfig,
        tasks=("classification",),
        build=build_mlp,
        default_dataset="fashion_mnist_local",
        check_data=check_fixed_size_inputs,
    )
)
