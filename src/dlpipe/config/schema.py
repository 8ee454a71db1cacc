"""Typed schemas of the parameters of every model family.

Every parameter group is parsed into these pydantic models before any node runs. Unknown keys are
rejected (typos), numbers are range-checked and names are checked against what dlpipe can build. A
failure raises :class:`ConfigError`, whose message names the full key path, the value given and what
is allowed.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FAMILIES = ("cnn", "mlp")

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


class ConfigError(ValueError):
    """A parameter has a value dlpipe cannot use; the message names key, value and what is allowed."""


class Strict(BaseModel):
    """Base of every schema: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- data


class DatasetConfig(Strict):
    name: str = Field("fashion_mnist_local", min_length=1)
    data_dir: str = "data/01_raw/tfds"
    source_dirs: list[str] = ["data/01_raw/fashion-mnist", "/usr/share/datasets/fashion-mnist"]
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    train_limit: PositiveInt | None = None
    test_limit: PositiveInt | None = None
    shuffle_buffer: PositiveInt = 10_000
    # Checks for a reachable TFDS download server give up after this long instead of stalling.
    network_timeout_s: float = Field(3.0, gt=0.0)


# --------------------------------------------------------------------------- augmentation


class RotationOp(Strict):
    op: Literal["rotation"]
    factor: float = Field(0.05, gt=0.0, le=1.0)  # fraction of a full turn, both directions


class ZoomOp(Strict):
    op: Literal["zoom"]
    factor: float = Field(0.1, gt=0.0, lt=1.0)


class FlipOp(Strict):
    op: Literal["flip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal"


class CropOp(Strict):
    op: Literal["crop"]
    padding: PositiveInt = 2  # pixels padded on each side before a crop back to the input size


class ShearOp(Strict):
    op: Literal["shear"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


class TranslationOp(Strict):
    op: Literal["translation"]
    factor: float = Field(0.1, gt=0.0, lt=1.0)


class NoiseOp(Strict):
    op: Literal["noise"]
    stddev: float = Field(0.05, gt=0.0)  # images are scaled to [0, 1]


class BrightnessOp(Strict):
    op: Literal["brightness"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


class ContrastOp(Strict):
    op: Literal["contrast"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


AugmentationOp = Annotated[
    RotationOp | ZoomOp | FlipOp | CropOp | ShearOp | TranslationOp | NoiseOp | BrightnessOp | ContrastOp,
    Field(discriminator="op"),
]


class AugmentationConfig(Strict):
    ops: list[AugmentationOp] = []
    grid_size: PositiveInt = 4  # the logged sample grid shows grid_size x grid_size images


# --------------------------------------------------------------------------- model


class ConvConfig(Strict):
    num_blocks: PositiveInt = 2
    filters: PositiveInt = 32
    filters_growth: float = Field(2.0, ge=1.0)  # block i has filters * growth**i filters
    convs_per_block: PositiveInt = 1
    kernel_size: PositiveInt = 3
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] = "same"
    pooling: Literal["max", "average", "none"] = "max"
    pool_size: PositiveInt = 2
    pool_every: PositiveInt = 1  # pool after every N-th block and after the last one
    batch_norm: bool = True
    batch_norm_position: Literal["before_activation", "after_activation"] = "before_activation"
    dropout: UnitFraction = 0.0  # after each pooling (after each block when pooling is "none")
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)  # used when activation is leaky_relu


class DenseConfig(Strict):
    num_layers: Annotated[int, Field(ge=0)] = 1
    units: PositiveInt = 128
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)  # used when activation is leaky_relu
    dropout: UnitFraction = 0.0
    batch_norm: bool = False
    batch_norm_position: Literal["before_activation", "after_activation"] = "before_activation"


class InitializerConfig(Strict):
    """How the kernels of every conv and dense layer start (biases start at zero)."""

    name: Literal[INITIALIZERS] = "glorot_uniform"  # type: ignore[valid-type]
    stddev: float = Field(0.05, gt=0.0)  # random_normal, truncated_normal
    scale: float = Field(0.05, gt=0.0)  # random_uniform draws from [-scale, scale]
    gain: float = Field(1.0, gt=0.0)  # orthogonal
    # pretrained: a `.keras` file saved by an earlier run, or its versioned folder (latest version).
    pretrained_model: str | None = None

    @model_validator(mode="after")
    def _pretrained_needs_a_model(self) -> InitializerConfig:
        if self.name == "pretrained" and not self.pretrained_model:
            raise ValueError("name 'pretrained' needs 'pretrained_model': the path of a saved model")
        return self


class RegularizationConfig(Strict):
    """Weight penalties and constraints on the kernels of every conv and dense layer."""

    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)
    max_norm: float | None = Field(None, gt=0.0)  # max-norm constraint on each unit's weights


class ModelConfig(Strict):
    family: Literal[FAMILIES]  # type: ignore[valid-type]
    conv: ConvConfig | None = None
    dense: DenseConfig = DenseConfig()
    initializer: InitializerConfig = InitializerConfig()
    regularization: RegularizationConfig = RegularizationConfig()

    @model_validator(mode="after")
    def _conv_only_for_cnn(self) -> ModelConfig:
        if self.family == "cnn" and self.conv is None:
            raise ValueError("family 'cnn' needs a 'conv' section (conv blocks)")
        if self.family == "mlp" and self.conv is not None:
            raise ValueError("family 'mlp' is dense-only: remove the 'conv' section")
        return self


# --------------------------------------------------------------------------- training


class OptimizerConfig(Strict):
    name: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    momentum: UnitFraction = 0.0  # SGD only
    nesterov: bool = False  # SGD only
    weight_decay: float | None = Field(None, ge=0.0)  # decoupled weight decay (AdamW's default 0.004)


class GradientClippingConfig(Strict):
    # norm: each gradient tensor's norm; value: each element; global_norm: all tensors together.
    mode: Literal["none", "norm", "value", "global_norm"] = "none"
    threshold: float = Field(1.0, gt=0.0)


class GradientMonitorConfig(Strict):
    """Per-layer gradient norms every N steps; warns on vanishing or exploding gradients."""

    enabled: bool = False
    every_n_steps: PositiveInt = 100
    vanishing_threshold: float = Field(1e-6, gt=0.0)
    exploding_threshold: float = Field(1e3, gt=0.0)
    probe_batch_size: PositiveInt = 64

    @model_validator(mode="after")
    def _ordered(self) -> GradientMonitorConfig:
        if self.vanishing_threshold >= self.exploding_threshold:
            raise ValueError(
                f"vanishing_threshold ({self.vanishing_threshold}) must be below "
                f"exploding_threshold ({self.exploding_threshold})"
            )
        return self


class LearningRateScheduleConfig(Strict):
    name: Literal["constant", "cosine", "exponential", "reduce_on_plateau"] = "constant"
    alpha: UnitFraction = 0.0  # cosine: the final learning rate as a fraction of the initial one
    decay_rate: float = Field(0.9, gt=0.0, le=1.0)  # exponential: factor per epoch
    factor: float = Field(0.5, gt=0.0, lt=1.0)  # reduce_on_plateau: factor per plateau
    patience: Annotated[int, Field(ge=0)] = 2  # reduce_on_plateau: epochs without improvement
    min_learning_rate: float = Field(0.0, ge=0.0)  # reduce_on_plateau: the floor


# The metrics every compiled model reports (Keras names them so in the history).
MONITORED_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")


class EarlyStoppingConfig(Strict):
    monitor: Literal[MONITORED_METRICS] = "val_accuracy"  # type: ignore[valid-type]
    patience: Annotated[int, Field(ge=0)] = 3
    min_delta: float = Field(0.0, ge=0.0)


class TrainingConfig(Strict):
    epochs: PositiveInt = 10
    # minibatch: batch_size examples per update; batch: the whole training set; stochastic: one.
    gradient_descent: Literal["minibatch", "batch", "stochastic"] = "minibatch"
    batch_size: PositiveInt = 128  # global batch, split across replicas
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_schedule: LearningRateScheduleConfig = LearningRateScheduleConfig()
    gradient_clipping: GradientClippingConfig = GradientClippingConfig()
    gradient_monitor: GradientMonitorConfig = GradientMonitorConfig()
    loss: Literal[LOSSES] = "sparse_categorical_crossentropy"  # type: ignore[valid-type]
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    strategy: Literal[STRATEGIES] = "auto"  # type: ignore[valid-type]
    checkpoint_dir: str = "data/06_models/checkpoints"
    backup_dir: str = "data/06_models/backup"
    verbose: Literal[0, 1, 2] = 2


# --------------------------------------------------------------------------- tuning


class SearchParameter(Strict):
    """One dimension of the search space: ``path`` is a dotted key of the family's parameters."""

    path: str = Field(min_length=1)
    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SearchParameter:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical search parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("a categorical search parameter takes 'choices', not low/high/log")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} search parameter needs both 'low' and 'high'")
        if self.choices is not None:
            raise ValueError(f"an {self.type} search parameter takes low/high, not 'choices'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("'step' and 'log: true' cannot be combined")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and not float(value).is_integer():
                    raise ValueError(f"an int search parameter needs an integer {name}, got {value}")
        return self


class SamplerConfig(Strict):
    name: Literal[SAMPLERS] = "tpe"  # type: ignore[valid-type]
    seed: int | None = 42
    n_startup_trials: PositiveInt = 4  # TPE: random trials before the model-based search


class PrunerConfig(Strict):
    name: Literal[PRUNERS] = "median"  # type: ignore[valid-type]
    n_startup_trials: Annotated[int, Field(ge=0)] = 2
    n_warmup_steps: Annotated[int, Field(ge=0)] = 1
    min_resource: PositiveInt = 1
    reduction_factor: Annotated[int, Field(ge=2)] = 3


class TuningConfig(Strict):
    enabled: bool = True
    study_name: str = Field(min_length=1)
    storage_path: str = Field(min_length=1)  # SQLite file; re-running continues the same study
    # How long to wait for a study file that another process holds locked before failing.
    lock_timeout_s: float = Field(60.0, gt=0.0)
    n_trials: PositiveInt = 10  # trials added by each run
    timeout_s: float | None = Field(None, gt=0.0)
    epochs: PositiveInt = 3
    train_subset: PositiveInt | None = None
    validation_subset: PositiveInt | None = None
    metric: Literal[MONITORED_METRICS] = "val_accuracy"  # type: ignore[valid-type]
    direction: Literal["maximize", "minimize"] = "maximize"
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    search_space: list[SearchParameter] = []

    @model_validator(mode="after")
    def _direction_fits_metric(self) -> TuningConfig:
        expected = "minimize" if self.metric.endswith("loss") else "maximize"
        if self.direction != expected:
            raise ValueError(f"metric '{self.metric}' must be {expected}d, got direction '{self.direction}'")
        return self


# --------------------------------------------------------------------------- family


class FamilyConfig(Strict):
    """All parameters of one model family (the ``cnn:`` or ``mlp:`` block of parameters)."""

    seed: int = 42
    # Deterministic kernels (tf.config.experimental.enable_op_determinism): the same seed gives the
    # same sampled trials and the same metrics, at some cost in speed.
    deterministic: bool = False
    dataset: DatasetConfig = DatasetConfig()
    augmentation: AugmentationConfig = AugmentationConfig()
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()
    tuning: TuningConfig

    @model_validator(mode="after")
    def _search_space_targets_exist(self) -> FamilyConfig:
        as_dict = self.model_dump()
        for index, entry in enumerate(self.tuning.search_space):
            try:
                get_path(as_dict, entry.path)
            except KeyError as err:
                raise ValueError(
                    f"tuning.search_space.{index}.path: '{entry.path}' is not a parameter of this "
                    f"family ({err.args[0]})"
                ) from None
        return self


# --------------------------------------------------------------------------- helpers


def get_path(tree: dict[str, Any], dotted: str) -> Any:
    """Return ``tree[a][b][c]`` for ``dotted = "a.b.c"``; KeyError names the first missing key."""
    node: Any = tree
    walked = []
    for key in dotted.split("."):
        walked.append(key)
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"no key '{'.'.join(walked)}'")
        node = node[key]
    return node


def with_overrides(tree: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a deep copy of ``tree`` with each dotted path of ``overrides`` set to its value."""
    result = copy.deepcopy(tree)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return result


def _describe_error(prefix: str, error: dict[str, Any]) -> str:
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
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{location}: {message}{shown}"


def parse_family(family: str, params: dict[str, Any]) -> FamilyConfig:
    """Parse one family's parameter dict, raising ConfigError with key paths on failure."""
    try:
        config = FamilyConfig.model_validate(params)
    except ValidationError as err:
        lines = [_describe_error(family, e) for e in err.errors(include_url=False)]
        raise ConfigError(
            f"Invalid parameters for '{family}' ({len(lines)} problem(s)):\n  " + "\n  ".join(lines)
        ) from None
    _check_search_space_endpoints(family, config)
    return config


def parse_node_config(
    config: dict[str, Any],
    *,
    overrides: dict[str, Any] | None = None,
    augmentation_ops: list[dict[str, Any]] | None = None,
) -> FamilyConfig:
    """Parse a family block as a node receives it, with tuned ``overrides`` (dotted paths) and the
    augmentation stage's ops applied; errors are labelled with ``model.family``."""
    merged = with_overrides(config, overrides or {})
    if augmentation_ops is not None:
        merged["augmentation"] = {**merged.get("augmentation", {}), "ops": augmentation_ops}
    return parse_family(str(config.get("model", {}).get("family", "?")), merged)


def _check_search_space_endpoints(family: str, config: FamilyConfig) -> None:
    """Every value a trial may sample must itself be a valid parameter: try the range ends."""
    base = config.model_dump()
    for index, entry in enumerate(config.tuning.search_space):
        if entry.type == "categorical":
            candidates = list(entry.choices or [])
        else:
            cast = int if entry.type == "int" else float
            candidates = [cast(entry.low), cast(entry.high)]
        for value in candidates:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{family}.tuning.search_space.{index}: '{entry.path}' range holds {value}")
            try:
                FamilyConfig.model_validate(with_overrides(base, {entry.path: value}))
            except ValidationError as err:
                problems = "; ".join(_describe_error(family, e) for e in err.errors())
                raise ConfigError(
                    f"{family}.tuning.search_space.{index}: value {value!r} for '{entry.path}' "
                    f"is not allowed there: {problems}"
                ) from None


def validate_parameters(params: dict[str, Any]) -> dict[str, FamilyConfig]:
    """Validate every top-level parameter group; each must be a known model family."""
    unknown = sorted(set(params) - set(FAMILIES))
    if unknown:
        raise ConfigError(f"Unknown top-level parameter group(s) {unknown}: expected one of {list(FAMILIES)}")
    return {family: parse_family(family, params[family]) for family in params}
