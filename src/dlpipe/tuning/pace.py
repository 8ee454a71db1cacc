"""How fast a study's trials trained, kept with each trial so that a budget can plan with it."""

from __future__ import annotations

import logging

import optuna

from dlpipe.training.budget import EpochTimer, Pace
from dlpipe.tuning.storage import open_study

logger = logging.getLogger(__name__)

# Seconds per example of the trial's last epoch: its training pass, its validation pass.
PACE_ATTRS = ("dlpipe_train_s_per_example", "dlpipe_validation_s_per_example")


def record_pace(trial: optuna.Trial, timer: EpochTimer, num_train: int, num_val: int) -> None:
    """Keep the pace of the trial's last timed epoch with the trial (nothing before an epoch ends).

    A storage that refuses the write loses the pace only: the trial's own outcome stands.
    """
    pace = timer.pace(num_train, num_val)
    if pace is None:
        return
    try:
        trial.set_user_attr(PACE_ATTRS[0], pace.train_s_per_example)
        trial.set_user_attr(PACE_ATTRS[1], pace.validation_s_per_example)
    except Exception as err:  # noqa: BLE001 - bookkeeping must not replace the trial's own error
        logger.warning("Could not record trial %d's pace: %s", trial.number, err)


def measured_pace(config) -> tuple[Pace, int] | None:
    """A measured pace and the number of its trial: the best trial's (the configuration the final
    training is closest to), else the latest trial's that has one (a study begun before trials
    recorded their pace); None when no trial has one."""
    study = open_study(config)
    paced = [t for t in study.get_trials(deepcopy=False) if all(a in t.user_attrs for a in PACE_ATTRS)]
    if not paced:
        return None
    try:
        best_number = study.best_trial.number
    except ValueError:  # no completed trial
        best_number = None
    chosen = next((t for t in paced if t.number == best_number), paced[-1])
    return Pace(*(float(chosen.user_attrs[attr]) for attr in PACE_ATTRS)), chosen.number
