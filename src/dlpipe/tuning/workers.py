"""Several processes on one study: who runs a trial, whether it still does, and the session's
trial count shared between them.

Every trial records the process that runs it (host, pid and the process's start time, since a pid
is reused) and the tuning session it belongs to. A RUNNING trial is abandoned, and then marked FAIL
and stale (not counted) and tried again once with the same parameters, when:

- the study is an SQLite file, which one process tunes at a time: any RUNNING trial not of this
  process was cut short by a kill, as before workers existed;
- its process was on this host and no longer exists;
- its process was on another host and has not said it is alive (a heartbeat, every
  ``tuning.heartbeat_s`` of its own while the trial runs) for four heartbeats;
- it belongs to an earlier session (a session closes only after its trials ended);
- it records no process for a minute (killed before it could).

Time is measured on this process's own clock, from when it saw a heartbeat (or the unclaimed
trial) last change: clocks of different hosts are never compared.

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
import threading
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dlpipe.processes import process_alive, process_start

logger = logging.getLogger(__name__)

OWNER_ATTR = "dlpipe_owner"  # {host, pid, started, session} of the process running the trial
STALE_ATTR = "dlpipe_stale"  # a trial cut short by a kill or SIGTERM: FAIL, not counted, redone
SURPLUS_ATTR = "dlpipe_surplus"  # started when the session had no place left: FAIL, not counted
RETRY_OF_ATTR = "dlpipe_retry_of"  # the number of the killed trial this one runs again
ALIVE_ATTR = "dlpipe_heartbeat"  # the owner's latest heartbeat: {"count": n, "every": seconds}
# Heartbeats a trial of another host may miss before it counts as abandoned.
MISSED_HEARTBEATS = 4


# How long a trial may go without recording its process before it counts as abandoned.
CLAIM_GRACE_S = 60.0
# What this process saw of each running trial's heartbeat, and since when, on its own clock.
_sightings: dict[tuple[str, int], tuple[object, float]] = {}
_clock = time.monotonic


class NoPlaceLeft(RuntimeError):
    """The session already has all of its trials: this one is surplus."""


def counts(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is one of the session's trials (not cut short, not surplus)."""
    return not trial.user_attrs.get(STALE_ATTR) and not trial.user_attrs.get(SURPLUS_ATTR)


def claim(trial: optuna.Trial, session: str | None, heartbeat_s: float) -> None:
    """Record this process, in tuning session ``session``, as the one running ``trial``, with a
    first heartbeat (see ``Heartbeat`` for the next ones, every ``heartbeat_s``)."""
    trial.set_user_attr(OWNER_ATTR, {**_me(), "started": process_start(os.getpid()), "session": session})
    trial.set_user_attr(ALIVE_ATTR, {"count": 0, "every": heartbeat_s})


def owner_pid(trial: FrozenTrial) -> int | None:
    """The pid of the process that ran ``trial``, if it recorded one."""
    return (trial.user_attrs.get(OWNER_ATTR) or {}).get("pid")


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _mine(trial: FrozenTrial) -> bool:
    """Whether this process claimed ``trial``."""
    owner = trial.user_attrs.get(OWNER_ATTR) or {}
    return {key: owner.get(key) for key in ("host", "pid")} == _me()


class Heartbeat:
    """While this process runs a trial of a shared study, record every ``interval_s`` that it
    lives, so that processes of other hosts can tell a running trial from an abandoned one.
    ``lost`` turns true when another process took the trial as abandoned meanwhile."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval_s: float):
        self._storage, self._trial_id, self._number = study._storage, trial._trial_id, trial.number
        self._interval_s = interval_s
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dlpipe-heartbeat", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        # A beat stuck on an unanswering storage must not hold the trial's end.
        self._thread.join(timeout=self._interval_s)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._count += 1
            try:
                beat = {"count": self._count, "every": self._interval_s}
                self._storage.set_trial_user_attr(self._trial_id, ALIVE_ATTR, beat)
            except UpdateFinishedTrialError:
                self.lost = True
                logger.warning(
                    "Trial %d was taken as abandoned by another process, which runs it again; this "
                    "process stops it",
                    self._number,
                )
                return
            except Exception as err:  # noqa: BLE001 - a missed heartbeat is retried at the next
                logger.warning("Heartbeat of trial %d not recorded (%s); retrying", self._number, err)


def _unchanged_for(study_name: str, trial: FrozenTrial, seen: object) -> float:
    """Seconds, on this process's clock, since it first saw ``seen`` for ``trial``."""
    key = (study_name, trial._trial_id)
    now = _clock()
    last = _sightings.get(key)
    if last is None or last[0] != seen:
        _sightings[key] = (seen, now)
        return 0.0
    return now - last[1]


def _abandoned(trial: FrozenTrial, study_name: str, *, shared: bool, session: str | None) -> bool:
    owner = trial.user_attrs.get(OWNER_ATTR)
    if not shared:
        return not _mine(trial)
    if owner is None:
        return _unchanged_for(study_name, trial, None) > CLAIM_GRACE_S
    if owner.get("session") != session:
        return True
    if owner.get("host") != socket.gethostname():
        beat = trial.user_attrs.get(ALIVE_ATTR) or {}
        every = float(beat.get("every", CLAIM_GRACE_S))
        return _unchanged_for(study_name, trial, beat.get("count")) > MISSED_HEARTBEATS * every
    return not process_alive(int(owner["pid"]), owner.get("started"))


def fail_abandoned_trials(study: optuna.Study, *, shared: bool, session: str | None) -> int:
    """Mark FAIL and stale the RUNNING trials abandoned by their process, each queued again once
    with the same parameters. ``shared``: whether several processes may tune the study; ``session``:
    the open tuning session. Returns how many this process marked."""
    marked = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _abandoned(trial, study.study_name, shared=shared, session=session):
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
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if counts(t) and not _mine(t)
    ]


def take_place(study: optuna.Study, trial: optuna.Trial, target: int) -> None:
    """Let ``trial`` run if the session has a place for it; otherwise mark it surplus and raise
    ``NoPlaceLeft``."""
    before = sum(1 for t in study.get_trials(deepcopy=False) if t.number <= trial.number and counts(t))
    if before <= target:
        return
    trial.set_user_attr(SURPLUS_ATTR, True)
    raise NoPlaceLeft(f"the tuning session already has its {target} trials; trial {trial.number} is not run")


def session_full(study: optuna.Study, target: int) -> bool:
    """Whether the session's places are all taken (trials finished, running or queued): a trial
    started now would only be marked surplus."""
    return sum(1 for t in study.get_trials(deepcopy=False) if counts(t)) >= target
