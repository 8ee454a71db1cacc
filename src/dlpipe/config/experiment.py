"""Schema of an experiment block: a claim, its arms (overrides of family blocks) and its verdict.

A block named ``experiment_<name>`` holds one ``experiment`` section. Each arm is a family block
of the project (``block``, or the experiment's default) with dotted overrides; every arm is
trained once per seed of ``seeds``. The verdict is a list of conditions on the arms' measures
(means over seeds); the claim holds when every condition does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from dlpipe.config.common import ConfigError, Strict, config_error

EXPERIMENT_PREFIX = "experiment_"

# What every fit of an arm reports (see ``dlpipe.experiments.measures``), besides the metrics the
# model is compiled with, on each split (``train_accuracy``, ``val_loss``, ``test_accuracy``...).
MEASURES = (
    "epochs",
    "seconds",
    "updates",
    "parameters",
    "final_loss",
    "peak_loss",
    "diverged",
    "diverged_at_epoch",
    "train_val_gap",
    "epochs_to_target",
    "target_reached",
    "distinct_units_fraction",
    "gradient_norm_first_layer",
    "gradient_norm_last_layer",
    "gradient_ratio",
)
SPLIT_PREFIXES = ("train_", "val_", "test_")
CURVE_AXES = ("epoch", "updates", "seconds")


def is_experiment_block(block: str) -> bool:
    """Whether a parameter block declares an experiment (its name starts with ``experiment_``)."""
    return block.startswith(EXPERIMENT_PREFIX)


def known_measure(name: str) -> bool:
    """A measure every fit reports, or a task metric on one of the splits."""
    return name in MEASURES or (name.startswith(SPLIT_PREFIXES) and len(name.split("_", 1)[1]) > 0)


class Condition(Strict):
    """``measure`` of ``arm`` (mean over seeds) is ``below`` or ``above`` another arm's mean (an arm
    name) or a number, by more than ``margin``."""

    arm: str
    measure: str
    below: str | float | None = None
    above: str | float | None = None
    margin: float = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _one_side(self) -> Condition:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' and 'above' (an arm's name or a number)")
        if not known_measure(self.measure):
            raise ValueError(
                f"measure '{self.measure}' is not reported; use one of {list(MEASURES)} or a task "
                "metric on a split (train_accuracy, val_loss, test_accuracy...)"
            )
        return self

    @property
    def reference(self) -> str | float:
        """What the arm's measure is compared with: an arm's name or a number."""
        return self.below if self.below is not None else self.above  # type: ignore[return-value]

    @property
    def direction(self) -> Literal["below", "above"]:
        return "below" if self.below is not None else "above"


class Curve(Strict):
    """One panel of the comparison figure: a per-epoch metric against epochs, updates or seconds."""

    y: str = "loss"
    x: Literal[CURVE_AXES] = "epoch"  # type: ignore[valid-type]
    log_y: bool = False


class Target(Strict):
    """``epochs_to_target``: the first epoch at which ``metric`` reaches ``value``."""

    metric: str = "val_accuracy"
    value: float


class ExperimentConfig(Strict):
    """One claim, the arms that test it, and the conditions under which it holds."""

    claim: str = Field(min_length=1)
    block: str | None = None  # the family block an arm overrides when it names none
    seeds: list[int] = Field(default=[1, 2, 3], min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)  # for every arm, before its own
    arms: dict[str, dict[str, Any]] = Field(min_length=2)
    target: Target | None = None
    verdict: list[Condition] = Field(min_length=1)
    curves: list[Curve] = Field(default_factory=lambda: [Curve()], min_length=1)
    # Finished fits are kept here, so a rerun after a failure trains only what is missing.
    store_dir: str = "data/06_models/experiments"

    @model_validator(mode="after")
    def _arms_and_conditions_agree(self) -> ExperimentConfig:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {self.seeds} repeats a seed")
        for name, arm in self.arms.items():
            if self.block is None and "block" not in arm:
                raise ValueError(f"arms.{name}: names no 'block' and the experiment has no default 'block'")
        for index, condition in enumerate(self.verdict):
            for arm in (condition.arm, condition.reference):
                if isinstance(arm, str) and arm not in self.arms:
                    raise ValueError(
                        f"verdict.{index}: arm '{arm}' is not one of the arms {sorted(self.arms)}"
                    )
            if condition.measure == "epochs_to_target" and self.target is None:
                raise ValueError(f"verdict.{index}: 'epochs_to_target' needs the experiment's 'target'")
        return self

    def arm_block(self, arm: str) -> str:
        """The family block arm ``arm`` overrides."""
        return self.arms[arm].get("block") or self.block  # type: ignore[return-value]

    def arm_overrides(self, arm: str) -> dict[str, Any]:
        """The dotted overrides of arm ``arm``: the experiment's, then the arm's own."""
        own = {key: value for key, value in self.arms[arm].items() if key != "block"}
        return {**self.overrides, **own}


class ExperimentBlock(Strict):
    experiment: ExperimentConfig


def parse_experiment_block(block: str, values: Any, params: dict[str, Any]) -> ExperimentConfig:
    """Parse block ``block`` and check that every arm gives a valid family block.

    Raises:
        ConfigError: naming the key, the value and what was expected: a bad key of the experiment,
        an arm whose block does not exist, or an arm whose overrides its family rejects.
    """
    from dlpipe.config.schema import family_of_block, parse_node_config

    try:
        config = ExperimentBlock.model_validate(values).experiment
    except ValidationError as err:
        raise config_error(block, err) from None
    if "seed" in config.overrides:
        raise ConfigError(f"{block}.experiment.overrides.seed: {SEED_IS_THE_EXPERIMENTS}")
    arm_configs = {}
    for arm in config.arms:
        if "seed" in config.arms[arm]:
            raise ConfigError(f"{block}.experiment.arms.{arm}.seed: {SEED_IS_THE_EXPERIMENTS}")
        base = config.arm_block(arm)
        if base not in params or is_experiment_block(base):
            raise ConfigError(
                f"{block}.experiment.arms.{arm}.block: '{base}' is not a family block of the "
                f"parameters; expected one of {sorted(b for b in params if not is_experiment_block(b))}"
            )
        family_of_block(base, params[base])
        try:
            arm_configs[arm] = parse_node_config(params[base], overrides=config.arm_overrides(arm))
        except ConfigError as err:
            raise ConfigError(f"{block}.experiment.arms.{arm}: {err}") from None
    _check_metrics_reported(block, config, arm_configs)
    return config


SEED_IS_THE_EXPERIMENTS = (
    "an arm's seed is not overridden: each fit gets one of experiment.seeds (the split keeps the "
    "block's own seed)"
)


def _check_metrics_reported(block: str, config: ExperimentConfig, arm_configs: dict) -> None:
    """Every metric the verdict, the target and the curves read must be one each arm reports."""
    from dlpipe.families import get_family

    reported = {
        arm: get_family(arm_config.model.family).monitored_metrics(arm_config.task)
        for arm, arm_config in arm_configs.items()
    }

    def refuse(key: str, value: str, arm: str, allowed: list[str]) -> None:
        raise ConfigError(
            f"{block}.experiment.{key}: arm '{arm}' does not report '{value}'; it reports {allowed}"
        )

    for index, condition in enumerate(config.verdict):
        arms = [condition.arm] + ([condition.reference] if isinstance(condition.reference, str) else [])
        for arm in arms:
            if condition.measure.startswith(SPLIT_PREFIXES) and condition.measure not in MEASURES:
                metric = condition.measure.split("_", 1)[1]
                allowed = [name for name in reported[arm] if not name.startswith("val_")]
                if metric not in allowed:
                    split = condition.measure.split("_", 1)[0]
                    refuse(
                        f"verdict.{index}.measure", condition.measure, arm, [f"{split}_{n}" for n in allowed]
                    )
            if (
                condition.measure.startswith("gradient_")
                and not arm_configs[arm].training.gradient_monitor.enabled
            ):
                raise ConfigError(
                    f"{block}.experiment.verdict.{index}.measure: '{condition.measure}' is measured by the "
                    f"gradient-health monitor; arm '{arm}' needs training.gradient_monitor.enabled: true"
                )
    for arm, metrics in reported.items():
        if config.target is not None and config.target.metric not in metrics:
            refuse("target.metric", config.target.metric, arm, sorted(metrics))
        for index, curve in enumerate(config.curves):
            if curve.y != "seconds" and curve.y not in metrics:
                refuse(f"curves.{index}.y", curve.y, arm, sorted([*metrics, "seconds"]))
