"""Schema of the model registry's evaluation gate: which runs' models become the champion."""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from dlpipe.config.common import Strict

if TYPE_CHECKING:
    from dlpipe.config.schema import FamilyConfig

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_REQUIREMENT = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>\S+)\s*$")


def parse_requirement(text: str) -> tuple[str, str, float]:
    """``"test_accuracy >= 0.9"`` as ``("test_accuracy", ">=", 0.9)``; ValueError says the form."""
    match = _REQUIREMENT.match(text)
    value = None
    if match:
        try:
            value = float(match["value"])
        except ValueError:
            value = None
    if value is None:
        raise ValueError(
            f"{text!r} is not a requirement; expected '<test metric> <op> <number>' with op one of "
            f"{list(COMPARISONS)}, e.g. 'test_accuracy >= 0.9'"
        )
    return match["metric"], match["op"], value


class RegistryConfig(Strict):
    """Each run registers its model as a new version of ``name`` (``dlpipe-<pipeline>`` when left
    out) in the MLflow Model Registry. The alias ``alias`` moves to the new version only when every
    requirement holds and its main test metric beats the current champion's, scored on the same
    test split, by at least ``min_improvement``."""

    enabled: bool = True
    name: str | None = None
    alias: str = "champion"
    min_improvement: float = Field(default=0.0, ge=0.0)
    # Thresholds on the run's test metrics, e.g. ["test_accuracy >= 0.9"].
    require: list[str] = Field(default_factory=list)

    @field_validator("require")
    @classmethod
    def _requirements_parse(cls, requirements: list[str]) -> list[str]:
        for index, text in enumerate(requirements):
            try:
                parse_requirement(text)
            except ValueError as err:
                raise ValueError(f"{index}: {err}") from None
        return requirements

    @field_validator("name")
    @classmethod
    def _name_usable(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"{name!r} is not a registered model name; use letters, digits, '_', '.', '-'")
        return name


def reported_test_metrics(config: FamilyConfig) -> dict[str, str]:
    """The test metrics an evaluation of block ``config`` reports and a registry requirement may
    name (``test_loss``, ``test_accuracy``...), each with the direction that makes it better."""
    from dlpipe.families import get_family
    from dlpipe.tasks import get_task

    monitored = get_family(config.model.family).monitored_metrics(config.task)
    return {
        **{f"test_{name}": direction for name, direction in monitored.items() if not name.startswith("val_")},
        **get_task(config.task).extra_test_metrics,
    }


def gate_metric(config: FamilyConfig) -> tuple[str, str]:
    """The test metric the registry compares block ``config``'s models by, the test twin of the
    metric early stopping and tuning watch by default, and the direction that makes it better."""
    from dlpipe.families import get_family
    from dlpipe.tasks import get_task

    family = get_family(config.model.family)
    main = family.main_metric or get_task(config.task).main_metric
    return f"test_{main.removeprefix('val_')}", family.monitored_metrics(config.task)[main]
