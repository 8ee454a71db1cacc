"""Several processes on one study: who runs a trial, whether it still does, and the session's
trial count shared between them.

Every trial records the process that runs it (host, pid and the process's start time, since a pid
is reused) and the tuning session it belongs to. A RUNNING trial is abandoned, and then marked FAIL
and stale (not counted) and tried again once with the same parameters, when:

- the study is an SQLite file, which one process tunes at a time: any RUNNING trial not of this
  process was cut short by a kill, as before workers existed;
- its process was on this host and no longer exists;
- it belongs to an earlier session (a session closes only after its trials ended);
- it records no process a minute after it started (killed before it could).

A RUNNING trial of a live session on another host cannot be checked from here: the run that opened
the session waits for it at most ``tuning.worker_wait_s``.

The session's trial count is the study's, whatever the number of processes: a trial may run only
if, counting the trials numbered before it that count (finished, running or queued, not stale and
not surplus), it is within the session's target. Optuna numbers trials atomically in the storage,
so two processes that start a trial at the same moment cannot both take the last place; the one
that comes second marks its trial surplus (FAIL, not counted) and stops.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dlpipe.processes import process_alive, process_start

logger = logging.getLogger(__name__)

OWNER_ATTR = "dlpipe_owner"  # {host, pid, started, session} of the process running the trial
STALE_ATTR = "dlpipe_stale"  # a trial cut short by a kill or SIGTERM: FAIL, not counted, redone
SURPLUS_ATTR = "dlpipe_surplus"  # started when the session had no place left: FAIL, not counted
RETRY_OF_ATTR = "dlpipe_retry_of"  # the number of the killed trial this one runs again


# How long a trial may go without recording its process before it counts as abandoned.
CLAIM_GRACE = datetime.timedelta(seconds=60)


class NoPlaceLeft(RuntimeError):
    """The session already has all of its trials: this one is surplus."""


def counts(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is one of the session's trials (not cut short, not surplus)."""
    return not trial.user_attrs.get(STALE_ATTR) and not trial.user_attrs.get(SURPLUS_ATTR)


def claim(trial: optuna.Trial, session: str | None) -> None:
    """Record this process, in tuning session ``session``, as the one running ``trial``."""
    trial.set_user_attr(OWNER_ATTR, {**_me(), "started": process_start(os.getpid()), "session": session})


def owner_pid(trial: FrozenTrial) -> int | None:
    """The pid of the process that ran ``trial``, if it recorded one."""
    return (trial.user_attrs.get(OWNER_ATTR) or {}).get("pid")


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _abandoned(trial: FrozenTrial, *, shared: bool, session: str | None) -> bool:
    owner = trial.user_attrs.get(OWNER_ATTR)
    if not shared:
        return owner is None or {key: owner.get(key) for key in ("host", "pid")} != _me()
    if owner is None:
        started = trial.datetime_start
        return started is None or datetime.datetime.now() - started > CLAIM_GRACE
    if owner.get("session") != session:
        return True
    if owner.get("host") != socket.gethostname():
        return False
    return not process_alive(int(owner["pid"]), owner.get("started"))


def fail_abandoned_trials(study: optuna.Study, *, shared: bool, session: str | None) -> int:
    """Mark FAIL and stale the RUNNING trials abandoned by their process, each queued again once
    with the same parameters. ``shared``: whether several processes may tune the study; ``session``:
    the open tuning session. Returns how many this process marked."""
    marked = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _abandoned(trial, shared=shared, session=session):
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, STALE_ATTR, True)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # it ended meanwhile, or another process marked it first
        marked += 1
        logger.warning("Trial %d was left running by an interrupted run: marked FAIL", trial.number)
        queue_again(study, trial)
    return marked


def queue_again(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue a trial that was cut short to run once more with the same parameters (not a second
    time, and not one cut short before it drew any)."""
    if trial.params and RETRY_OF_ATTR not in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs={RETRY_OF_ATTR: trial.number})
        logger.info("Trial %d queued again with the same parameters", trial.number)


def running_elsewhere(study: optuna.Study) -> list[FrozenTrial]:
    """The counted trials other processes are running now."""
    me = _me()
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if counts(t) and {k: (t.user_attrs.get(OWNER_ATTR) or {}).get(k) for k in me} != me
    ]


def take_place(study: optuna.Study, trial: optuna.Trial, target: int) -> None:
    """Let ``trial`` run if the session has a place for it; otherwise mark it surplus and raise
    ``NoPlaceLeft``."""
    before = sum(1 for t in study.get_trials(deepcopy=False) if t.number <= trial.number and counts(t))
    if before <= target:
        return
    trial.set_user_attr(SURPLUS_ATTR, True)
    raise NoPlaceLeft(f"the tuning session already has its {target} trials; trial {trial.number} is not run")
