"""What every parameter schema shares: the strict base class, the error type and value names."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "hard_tanh",
    "mish",
    "relu6",
    "linear",
)
INITIALIZERS = (
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "pretrained",
)
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adamw", "nadam")
# Every loss dlpipe can compile; each task accepts the subset that fits its targets.
LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "kl_divergence",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
)
STRATEGIES = ("auto", "mirrored", "one_device", "multi_worker_mirrored", "default")
SAMPLERS = ("tpe", "random", "cmaes", "qmc")
PRUNERS = ("median", "hyperband", "successive_halving", "none")

UnitFraction = Annotated[float, Field(ge=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class ConfigError(ValueError):
    """A parameter has a value dlpipe cannot use; the message names key, value and what is allowed."""


class Strict(BaseModel):
    """Base of every schema: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
