"""A tuning session: the trials one `kedro run` adds to its study, shared with any workers.

The run that opens a session sets its target (the trials done so far plus ``tuning.n_trials``),
its id (a tag of every trial run in MLflow) and the MLflow run its trial runs go under. Workers
(``tuning.worker: true``) join the open session instead of opening one: they run trials until the
target is reached and leave the rest (best trial, training) to the run that opened it, which waits
for the trials they still run before it takes the best one. A session closes only when the run
that opened it succeeds, so a rerun after a failure continues it rather than adding more trials.
"""

from __future__ import annotations

import logging
import time
import uuid

import optuna
from optuna.trial import TrialState

from dlpipe.config.schema import FamilyConfig
from dlpipe.interrupts import termination_requested
from dlpipe.tuning.search_space import configured_values
from dlpipe.tuning.workers import STALE_ATTR, counts, fail_abandoned_trials, running_elsewhere

logger = logging.getLogger(__name__)

# Study-level bookkeeping kept in the study's own storage, so a rerun after a crash knows the target.
TARGET_ATTR = "dlpipe_target_trials"
OPEN_ATTR = "dlpipe_session_open"
SESSION_ATTR = "dlpipe_session"  # the open session's id, also a tag of its trial runs in MLflow
SESSION_RUN_ATTR = "dlpipe_session_run"  # the MLflow run the session's trial runs go under
WARM_START_ATTR = "dlpipe_warm_start"  # the trial of the configured values, first in a new study
# How often a worker looks for a session to join, and the opening run for trials still running.
POLL_S = 2.0


def counted_trials(study: optuna.Study) -> int:
    """The finished trials that count towards the study's totals."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished() and counts(t))


def open_session(study: optuna.Study, n_trials: int, run_id: str | None) -> int:
    """Open a session of ``n_trials`` more trials, or continue the one an interrupted run left
    open. Returns how many trials it still needs."""
    done = counted_trials(study)
    target = study.user_attrs.get(TARGET_ATTR)
    # Written before the session is marked open: a worker that sees it open finds these set.
    if run_id is not None:
        study.set_user_attr(SESSION_RUN_ATTR, run_id)
    if not study.user_attrs.get(OPEN_ATTR) or target is None:
        target = done + n_trials
        study.set_user_attr(TARGET_ATTR, target)
        study.set_user_attr(SESSION_ATTR, uuid.uuid4().hex)
        study.set_user_attr(OPEN_ATTR, True)
    else:
        logger.info("Continuing an interrupted tuning run: %d of %d trials done", done, target)
    return max(0, target - done)


def join_session(study: optuna.Study, wait_s: float) -> int:
    """As a worker, wait up to ``wait_s`` for an open session and return how many trials it still
    needs (0 when the run is being terminated). Raises ``TimeoutError`` when none opens."""
    deadline = time.monotonic() + wait_s
    while not (study.user_attrs.get(OPEN_ATTR) and study.user_attrs.get(TARGET_ATTR) is not None):
        if termination_requested():
            return 0
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"tuning.worker: study '{study.study_name}' has no open tuning session to join "
                f"(waited {wait_s:g} s, tuning.worker_wait_s). Start the run that opens it (the same "
                "`kedro run` without tuning.worker) first or at the same time."
            )
        time.sleep(POLL_S)
    target = study.user_attrs[TARGET_ATTR]
    done = counted_trials(study)
    logger.info(
        "Joined tuning session %s: %d of %d trials done", study.user_attrs[SESSION_ATTR], done, target
    )
    return max(0, target - done)


def session_target(study: optuna.Study) -> int:
    """The open session's target: the study's counted trials once it is reached."""
    return int(study.user_attrs[TARGET_ATTR])


def more_to_run(study: optuna.Study, deadline: float, *, shared: bool) -> int:
    """For the run that opened the session, after its own trials: wait while other processes run
    trials of the session, and return how many trials it should run itself (trials queued again
    after their process died, or places left free), 0 when the session is complete or the time to
    wait (``deadline``, a ``time.monotonic()`` value) is up. ``shared``: whether other processes
    may tune the study."""
    session = study.user_attrs.get(SESSION_ATTR)
    while True:
        fail_abandoned_trials(study, shared=shared, session=session)
        if termination_requested() or time.monotonic() >= deadline:
            return 0
        queued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        others = running_elsewhere(study)
        missing = session_target(study) - counted_trials(study) - len(others)
        if queued or missing > 0:
            return max(queued, missing)
        if not others:
            return 0
        time.sleep(POLL_S)


def _warm_started(study: optuna.Study) -> bool:
    """Whether the study is past its start: it holds a trial that was not cut short by a kill or
    SIGTERM (those are marked stale), finished or queued. A study whose only trials were killed,
    the warm one among them, is started again from the configured values."""
    return any(not t.user_attrs.get(STALE_ATTR) for t in study.trials)


def start_from_configured_values(study: optuna.Study, config: FamilyConfig) -> None:
    """Queue the configured values of the searched parameters as the first trial of a study that
    has not started yet (see ``_warm_started``)."""
    if _warm_started(study):
        return
    tuning = config.tuning
    defaults = configured_values(tuning.search_space, config.model_dump())
    sampled = [entry.path for entry in tuning.search_space if entry.path not in defaults]
    if sampled:
        logger.info(
            "Study '%s': configured values of %s lie outside the search space; the sampler picks them",
            tuning.study_name,
            sampled,
        )
    if defaults:
        study.enqueue_trial(defaults, user_attrs={WARM_START_ATTR: True})
        logger.info("Study '%s' starts from the configured values: %s", tuning.study_name, defaults)
