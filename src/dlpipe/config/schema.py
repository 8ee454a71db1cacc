"""The parameters of a pipeline block, parsed and checked against its model family and task.

Every block of the parameters (``cnn:``, ``rnn_forecast:``...) names its family in
``model.family``; the family's registered schema parses the ``model`` section, and the family's
task decides which losses and monitored metrics make sense. Unknown keys are rejected (typos),
numbers are range-checked and names are checked against what dlpipe can build. A failure raises
:class:`ConfigError`, whose message names the full key path, the value given and what is allowed.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

from pydantic import ValidationError, create_model, model_validator

from dlpipe.config.budget import BudgetConfig
from dlpipe.config.common import ConfigError, Strict, config_error, describe_error
from dlpipe.config.data import AugmentationConfig, DatasetConfig
from dlpipe.config.evaluation import EvaluationConfig
from dlpipe.config.learning_curve import LearningCurveConfig
from dlpipe.config.registry import RegistryConfig, parse_requirement, reported_test_metrics
from dlpipe.config.training import TrainingConfig
from dlpipe.config.tuning import TuningConfig


class FamilyConfig(Strict):
    """All parameters of one pipeline block; ``model`` is parsed by its family's own schema."""

    seed: int = 42
    # Deterministic kernels (tf.config.experimental.enable_op_determinism): the same seed gives the
    # same sampled trials and the same metrics, at some cost in speed.
    deterministic: bool = False
    dataset: DatasetConfig = DatasetConfig()
    augmentation: AugmentationConfig = AugmentationConfig()
    model: Any
    # What the model learns: one of its family's tasks (classification, regression...); when left
    # out, the family's first.
    task: str | None = None
    training: TrainingConfig = TrainingConfig()
    tuning: TuningConfig
    budget: BudgetConfig = BudgetConfig()
    learning_curve: LearningCurveConfig = LearningCurveConfig()
    registry: RegistryConfig = RegistryConfig()
    evaluation: EvaluationConfig = EvaluationConfig()

    @model_validator(mode="after")
    def _fits_family_and_task(self) -> FamilyConfig:
        from dlpipe.families import get_family
        from dlpipe.tasks import get_task

        family = get_family(self.model.family)
        if self.task is None:
            self.task = family.tasks[0]
        elif self.task not in family.tasks:
            raise ValueError(f"task: family '{family.name}' learns {list(family.tasks)}, not '{self.task}'")
        task = get_task(self.task)
        if self.dataset.name is None:
            self.dataset.name = family.default_dataset
        losses = family.losses if family.losses is not None else task.losses
        if self.training.loss is None:
            self.training.loss = family.default_loss or task.default_loss
        elif self.training.loss not in losses:
            raise ValueError(
                f"training.loss: '{self.training.loss}' does not fit family '{family.name}' "
                f"({task.name} task); expected one of {list(losses)}"
            )
        metrics = family.monitored_metrics(self.task)
        for key, value in (
            ("training.early_stopping.monitor", self.training.early_stopping.monitor),
            ("tuning.metric", self.tuning.metric),
        ):
            if value is not None and value not in metrics:
                raise ValueError(
                    f"{key}: '{value}' is not a metric family '{family.name}' reports; "
                    f"expected one of {sorted(metrics)}"
                )
        main_metric = family.main_metric or task.main_metric
        if self.training.early_stopping.monitor is None:
            self.training.early_stopping.monitor = main_metric
        if self.tuning.metric is None:
            self.tuning.metric = main_metric
        expected = metrics[self.tuning.metric]
        if self.tuning.direction is None:
            self.tuning.direction = expected
        elif self.tuning.direction != expected:
            raise ValueError(
                f"tuning.direction: metric '{self.tuning.metric}' must be {expected}d, "
                f"got direction '{self.tuning.direction}'"
            )
        if self.training.gradient_monitor.enabled and family.compile is not None:
            raise ValueError(
                f"training.gradient_monitor.enabled: family '{family.name}' trains with its own "
                "train_step, whose gradients the monitor (which differentiates the compiled loss) "
                "cannot see; set it to false"
            )
        for key, value, default in (
            ("training.mixed_precision", self.training.mixed_precision, "none"),
            ("training.jit_compile", self.training.jit_compile, "auto"),
        ):
            if value != default and family.compile is not None:
                raise ValueError(
                    f"{key}: {value!r} needs Keras' own compile and training step; family "
                    f"'{family.name}' compiles its own, so leave it at {default!r}"
                )
        if self.training.gradient_monitor.enabled and self.training.mixed_precision == "mixed_float16":
            raise ValueError(
                "training.gradient_monitor.enabled: the monitor differentiates an unscaled float16 "
                "loss, whose small gradients underflow (false 'vanishing' warnings); use it with "
                "mixed_precision 'none' or 'mixed_bfloat16'"
            )
        initializer = getattr(self.model, "initializer", None)  # a family may name its own
        if getattr(initializer, "name", None) == "pretrained" and not family.supports_pretrained:
            raise ValueError(
                f"model.initializer.name: 'pretrained' is not supported by the {family.name} family"
            )
        self.evaluation.check_fits_task(task)
        if family.check_config is not None:
            family.check_config(self)
        self._search_space_targets_exist()
        self._requirements_are_reported()
        return self

    def _requirements_are_reported(self) -> None:
        reported = reported_test_metrics(self)
        for index, text in enumerate(self.registry.require):
            metric = parse_requirement(text)[0]
            if metric not in reported:
                raise ValueError(
                    f"registry.require.{index}: {metric!r} is not a test metric this block reports; "
                    f"expected one of {sorted(reported)}"
                )

    def _search_space_targets_exist(self) -> None:
        as_dict = self.model_dump()
        for index, entry in enumerate(self.tuning.search_space):
            try:
                get_path(as_dict, entry.path)
            except KeyError as err:
                raise ValueError(
                    f"tuning.search_space.{index}.path: '{entry.path}' is not a parameter of this "
                    f"family ({err.args[0]})"
                ) from None


@functools.cache
def family_config_schema(family: str) -> type[FamilyConfig]:
    """The schema of a block of ``family``: :class:`FamilyConfig` with the family's ``model``."""
    from dlpipe.families import get_family

    return create_model(
        f"{family.title().replace('_', '')}Config",
        __base__=FamilyConfig,
        model=(get_family(family).model_schema, ...),
    )


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
        # A copy: a later path into this value must not change the caller's overrides.
        node[keys[-1]] = copy.deepcopy(value)
    return result


def family_of_block(block: str, params: Any) -> str:
    """The registered family that block ``block`` names in ``model.family``.

    Raises ConfigError when it names none, an unregistered one, or one its name does not start
    with (``cnn`` and ``cnn_wide`` may hold a cnn; ``rnn`` may not).
    """
    from dlpipe.families import registered_families

    families = registered_families()
    model = params.get("model") if isinstance(params, dict) else None
    family = model.get("family") if isinstance(model, dict) else None
    if family is None:
        raise ConfigError(
            f"{block}.model.family: missing; every parameter block names its model family, one of "
            f"{sorted(families)}"
        )
    if family not in families:
        raise ConfigError(
            f"{block}.model.family: unknown family {family!r}; registered families: {sorted(families)}"
        )
    if block != family and not block.startswith(f"{family}_"):
        raise ConfigError(
            f"{block}.model.family: block '{block}' holds family {family!r}; a block is named after "
            f"its family: '{family}' or '{family}_<variant>'"
        )
    return family


def parse_family(block: str, params: dict[str, Any]) -> FamilyConfig:
    """Parse one parameter block, raising ConfigError with key paths on failure."""
    schema = family_config_schema(family_of_block(block, params))
    try:
        config = schema.model_validate(params)
    except ValidationError as err:
        raise config_error(block, err) from None
    _check_search_space_endpoints(block, schema, config)
    _check_learning_curve_arms(block, schema, config)
    return config


def parse_node_config(
    config: dict[str, Any],
    *,
    overrides: dict[str, Any] | None = None,
    augmentation_ops: list[dict[str, Any]] | None = None,
) -> FamilyConfig:
    """Parse a block as a node receives it, with tuned ``overrides`` (dotted paths) and the
    augmentation stage's ops applied; errors are labelled with ``model.family``."""
    merged = with_overrides(config, overrides or {})
    if augmentation_ops is not None:
        merged["augmentation"] = {**merged.get("augmentation", {}), "ops": augmentation_ops}
    return parse_family(str(config.get("model", {}).get("family", "?")), merged)


def _problems_with(
    block: str, schema: type[FamilyConfig], base: dict[str, Any], overrides: dict
) -> str | None:
    """What is wrong with ``base`` once ``overrides`` (dotted paths) are applied; None if valid."""
    try:
        schema.model_validate(with_overrides(base, overrides))
    except ValidationError as err:
        return "; ".join(describe_error(block, e) for e in err.errors())
    return None


def _check_search_space_endpoints(block: str, schema: type[FamilyConfig], config: FamilyConfig) -> None:
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
                raise ConfigError(f"{block}.tuning.search_space.{index}: '{entry.path}' range holds {value}")
            problems = _problems_with(block, schema, base, {entry.path: value})
            if problems:
                raise ConfigError(
                    f"{block}.tuning.search_space.{index}: value {value!r} for '{entry.path}' "
                    f"is not allowed there: {problems}"
                )


def _check_learning_curve_arms(block: str, schema: type[FamilyConfig], config: FamilyConfig) -> None:
    """Every arm of an enabled learning curve must give a valid block: its overrides are tried here."""
    if not config.learning_curve.enabled:
        return
    base = config.model_dump()
    for name, overrides in config.learning_curve.arms.items():
        problems = _problems_with(block, schema, base, overrides)
        if problems:
            raise ConfigError(f"{block}.learning_curve.arms.{name}: {overrides} is not allowed: {problems}")


def validate_parameters(params: dict[str, Any]) -> dict[str, FamilyConfig]:
    """Validate every top-level parameter block: a registered model family's, an experiment's
    (``experiment_<name>``, whose arms must give valid family blocks), or the block of one of
    dlpipe's own pipelines (``predict``). Returns the parsed family blocks."""
    from dlpipe.config.experiment import is_experiment_block, parse_experiment_block
    from dlpipe.config.predict import OWN_PIPELINE_BLOCKS, parse_own_block

    configs = {}
    for block, values in params.items():
        if block in OWN_PIPELINE_BLOCKS:
            parse_own_block(block, values)
        elif is_experiment_block(block):
            parse_experiment_block(block, values, params)
        else:
            configs[block] = parse_family(block, values)
    return configs
