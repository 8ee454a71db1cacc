"""Several processes on one study: who runs a trial, whether it still does, and the session's
trial count shared between them.

Every trial records the process that runs it (host, pid and the process's start time, since a pid
is reused). A trial left RUNNING by a process of this host that no longer exists was cut short by
a kill: it is marked FAIL and stale (not counted), and tried again once with the same parameters.
A RUNNING trial of another host cannot be checked from here and is left to its own process.

The session's trial count is the study's, whatever the number of processes: a trial may run only
if, counting the trials numbered before it that count (finished, running or queued, not stale and
not surplus), it is within the session's target. Optuna numbers trials atomically in the storage,
so two processes that start a trial at the same moment cannot both take the last place; the one
that comes second marks its trial surplus (FAIL, not counted) and stops.
"""

from __future__ import annotations

import logging
import os
import socket

import optuna
from optuna.trial import FrozenTrial, TrialState

from dlpipe.processes import process_alive, process_start

logger = logging.getLogger(__name__)

HOST_ATTR = "dlpipe_host"
PID_ATTR = "dlpipe_pid"
PROCESS_START_ATTR = "dlpipe_process_start"
STALE_ATTR = "dlpipe_stale"  # a trial cut short by a kill or SIGTERM: FAIL, not counted, redone
SURPLUS_ATTR = "dlpipe_surplus"  # started when the session had no place left: FAIL, not counted
RETRY_OF_ATTR = "dlpipe_retry_of"  # the number of the killed trial this one runs again


class NoPlaceLeft(RuntimeError):
    """The session already has all of its trials: this one is surplus."""


def counts(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is one of the session's trials (not cut short, not surplus)."""
    return not trial.user_attrs.get(STALE_ATTR) and not trial.user_attrs.get(SURPLUS_ATTR)


def claim(trial: optuna.Trial) -> None:
    """Record this process as the one running ``trial``."""
    trial.set_user_attr(HOST_ATTR, socket.gethostname())
    trial.set_user_attr(PID_ATTR, os.getpid())
    trial.set_user_attr(PROCESS_START_ATTR, process_start(os.getpid()))


def owner_alive(trial: FrozenTrial) -> bool | None:
    """Whether the process that runs ``trial`` still does; None when that cannot be told here
    (another host). A trial without a recorded process (made before dlpipe recorded them, or
    killed before it could) counts as abandoned."""
    pid = trial.user_attrs.get(PID_ATTR)
    if pid is None:
        return False
    if trial.user_attrs.get(HOST_ATTR) != socket.gethostname():
        return None
    return process_alive(int(pid), trial.user_attrs.get(PROCESS_START_ATTR))


def fail_abandoned_trials(study: optuna.Study) -> int:
    """Mark FAIL and stale the RUNNING trials whose process is gone, each queued again once with
    the same parameters. Returns how many were found."""
    abandoned = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if owner_alive(t) is False
    ]
    for trial in abandoned:
        study._storage.set_trial_user_attr(trial._trial_id, STALE_ATTR, True)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        logger.warning("Trial %d was left running by an interrupted run: marked FAIL", trial.number)
        if trial.params and RETRY_OF_ATTR not in trial.user_attrs:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF_ATTR: trial.number})
            logger.info("Trial %d queued again with the same parameters", trial.number)
    return len(abandoned)


def running_elsewhere(study: optuna.Study) -> list[FrozenTrial]:
    """The counted trials other processes are running now."""
    me = (socket.gethostname(), os.getpid())
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if counts(t) and (t.user_attrs.get(HOST_ATTR), t.user_attrs.get(PID_ATTR)) != me
    ]


def take_place(study: optuna.Study, trial: optuna.Trial, target: int) -> None:
    """Let ``trial`` run if the session has a place for it; otherwise mark it surplus, stop this
    process's study loop and raise ``NoPlaceLeft``."""
    before = sum(1 for t in study.get_trials(deepcopy=False) if t.number <= trial.number and counts(t))
    if before <= target:
        return
    trial.set_user_attr(SURPLUS_ATTR, True)
    study.stop()
    raise NoPlaceLeft(f"the tuning session already has its {target} trials; trial {trial.number} is not run")
