"""What every parameter schema shares: the strict base class, the error type and value names."""

from __future__ import annotations

import re
from typing import Annotated, Any

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


def describe_error(prefix: str, error: dict[str, Any]) -> str:
    """One pydantic error as ``<full dotted key>: <what is wrong> (got <value>)``."""
    location = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (misspelled?)"
    elif error["type"] == "literal_error":
        message = f"unknown value; {error['msg'].lower()}"
    elif error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        # A cross-field check names its own key ("tuning.search_space.0.path: ..."): make it the
        # location, so every message starts with the full dotted key.
        key, separator, rest = message.partition(": ")
        if separator and re.fullmatch(r"[\w.]+", key):
            location, message = f"{location}.{key}", rest
    value = error.get("input")
    # A whole section (a dict, or the block itself when a cross-field check re-runs on assignment)
    # is not worth echoing: only single values are.
    if isinstance(value, str):
        # A URL's password is never echoed (these messages reach logs and terminals).
        value = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", value)
    shown = "" if isinstance(value, dict | BaseModel) else f" (got {value!r})"
    return f"{location}: {message}{shown}"


def config_error(block: str, err: Any) -> ConfigError:
    """A pydantic ``ValidationError`` of parameter block ``block`` as one ConfigError listing
    every problem with its full key."""
    lines = [describe_error(block, e) for e in err.errors(include_url=False)]
    return ConfigError(
        f"Invalid parameters for '{block}' ({len(lines)} problem(s)):\n  " + "\n  ".join(lines)
    )
