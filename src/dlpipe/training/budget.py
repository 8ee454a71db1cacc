"""A run's wall-clock budget at work: the study's deadline, the final training's epochs, and the
measurements both are planned from."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import keras

from dlpipe import run_scope
from dlpipe.config.budget import BudgetConfig

logger = logging.getLogger(__name__)

# A planned epoch is this much longer than the measured one: the first epoch also traces the
# model, and a shared machine is not always as fast as when it was measured.
EPOCH_MARGIN = 1.1


@dataclass(frozen=True)
class Pace:
    """Seconds per example of a training pass and of a validation pass, measured in one fit."""

    train_s_per_example: float
    validation_s_per_example: float

    def epoch_seconds(self, num_train: int, num_val: int) -> float:
        return self.train_s_per_example * num_train + self.validation_s_per_example * num_val


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch's training pass and validation pass."""

    def __init__(self):
        super().__init__()
        self.train_seconds: list[float] = []
        self.validation_seconds: list[float] = []
        self._epoch_start: float | None = None
        self._validation_start: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._validation_start = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._epoch_start is not None and self._validation_start is None:
            self._validation_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        validation_start = self._validation_start or end
        self.train_seconds.append(validation_start - self._epoch_start)
        self.validation_seconds.append(end - validation_start)
        self._epoch_start = None

    def pace(self, num_train: int, num_val: int) -> Pace | None:
        """The last epoch's pace (the first one also traces the model); None before any epoch."""
        if not self.train_seconds:
            return None
        return Pace(
            self.train_seconds[-1] / max(1, num_train),
            self.validation_seconds[-1] / max(1, num_val) if num_val else 0.0,
        )


class BudgetDeadline(keras.callbacks.Callback):
    """Stops training after an epoch when another epoch as long would end past ``deadline``
    (``time.monotonic()``); early stopping, when on, still restores the best epoch's weights."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline
        self.stopped_after: int | None = None
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now + (now - self._epoch_start) > self.deadline:
            self.model.stop_training = True
            self.stopped_after = epoch + 1
            logger.warning(
                "Budget: stopping after epoch %d; another epoch of %.0f s would end %.0f s past "
                "the training's share of budget.seconds",
                epoch + 1,
                now - self._epoch_start,
                now + (now - self._epoch_start) - self.deadline,
            )


class RunBudget:
    """The deadlines of one run's stages under ``budget``, counted from the start of the Kedro run
    in progress (outside one, from this object's creation)."""

    def __init__(self, budget: BudgetConfig):
        if budget.seconds is None:
            raise ValueError("budget.seconds is null: there is no budget to plan against")
        self.config = budget
        started = run_scope.started_at()
        self.started = started if started is not None else time.monotonic()

    def tuning_seconds_left(self) -> float:
        return self.started + self.config.seconds * self.config.tuning_share - time.monotonic()

    def training_deadline(self) -> float:
        return self.started + self.config.seconds - self.config.reserve_s

    def training_seconds_left(self) -> float:
        return self.training_deadline() - time.monotonic()


def tuning_timeout(budget: BudgetConfig, configured_timeout_s: float | None) -> float | None:
    """The study's timeout: the configured one, shortened to the tuning share of the budget.

    At least one second, so a run whose data loading ate the share still tries one trial.
    """
    if budget.seconds is None:
        return configured_timeout_s
    left = max(1.0, RunBudget(budget).tuning_seconds_left())
    logger.info(
        "Budget: %.0f s for tuning (%.0f%% of %.0f s)", left, budget.tuning_share * 100, budget.seconds
    )
    return left if configured_timeout_s is None else min(left, configured_timeout_s)


def planned_epochs(
    max_epochs: int, seconds_left: float, pace: Pace | None, num_train: int, num_val: int
) -> int:
    """The most epochs (1 to ``max_epochs``) that fit in ``seconds_left`` at ``pace`` with the
    planning margin; ``max_epochs`` when no pace was measured."""
    if pace is None:
        return max_epochs
    epoch_s = pace.epoch_seconds(num_train, num_val) * EPOCH_MARGIN
    fitting = math.floor(seconds_left / epoch_s) if epoch_s > 0 else max_epochs
    return max(1, min(max_epochs, fitting))
