"""Schema of the learning-curve stage: arms of a block trained on growing training subsets."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from dlpipe.config.common import PositiveInt, Strict


class LearningCurveConfig(Strict):
    """Each arm (a name and dotted overrides of the block, e.g. ``{model.mode: frozen}``) is
    trained, with the tuned parameters, on the first N training examples for every N of
    ``train_sizes`` (``null``: all of them) and scored on the test split: once per seed of
    ``seeds`` up to ``repeat_up_to`` examples, once (the first seed) above it, where runs cost
    most and vary least."""

    enabled: bool = False
    train_sizes: list[PositiveInt | None] = Field(default=[100, 300, 1000, None], min_length=1)
    arms: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default=[42], min_length=1)
    repeat_up_to: PositiveInt = 300
    epochs: PositiveInt | None = None  # when left out, training.epochs

    @model_validator(mode="after")
    def _arms_given(self) -> LearningCurveConfig:
        if self.enabled and not self.arms:
            raise ValueError("arms: a learning curve needs at least one arm, e.g. {baseline: {}}")
        if len(set(self.train_sizes)) != len(self.train_sizes):
            raise ValueError(f"train_sizes: {self.train_sizes} repeats a size")
        return self
