"""How fast a study's trials trained, kept with each trial so that a budget can plan with it."""

from __future__ import annotations

import optuna

from dlpipe.training.budget import EpochTimer, Pace
from dlpipe.tuning.storage import open_study

# Seconds per example of the trial's last epoch: its training pass, its validation pass.
PACE_ATTRS = ("dlpipe_train_s_per_example", "dlpipe_validation_s_per_example")


def record_pace(trial: optuna.Trial, timer: EpochTimer, num_train: int, num_val: int) -> None:
    """Keep the pace of the trial's last timed epoch with the trial (nothing before an epoch ends)."""
    pace = timer.pace(num_train, num_val)
    if pace is not None:
        trial.set_user_attr(PACE_ATTRS[0], pace.train_s_per_example)
        trial.set_user_attr(PACE_ATTRS[1], pace.validation_s_per_example)


def measured_pace(config) -> tuple[Pace, int] | None:
    """The pace of the block's best trial (the configuration the final training is closest to) and
    its number; None when the study has no completed trial with a recorded pace."""
    study = open_study(config)
    try:
        best = study.best_trial
    except ValueError:  # no completed trial
        return None
    if not all(attr in best.user_attrs for attr in PACE_ATTRS):
        return None
    return Pace(*(float(best.user_attrs[attr]) for attr in PACE_ATTRS)), best.number
