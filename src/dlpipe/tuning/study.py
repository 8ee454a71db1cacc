"""Run (or continue) an Optuna study whose trials train with the shared fit function."""

from __future__ import annotations

import logging
import time

import keras
import mlflow
import numpy as np
import optuna
from optuna.trial import TrialState

from dlpipe import run_scope
from dlpipe.config.schema import FamilyConfig
from dlpipe.data.spec import DataSpec
from dlpipe.interrupts import RunTerminated, termination_requested
from dlpipe.training.budget import tuning_timeout
from dlpipe.tuning.session import (
    OPEN_ATTR,
    SESSION_ATTR,
    SESSION_RUN_ATTR,
    TARGET_ATTR,
    WARM_START_ATTR,
    counted_trials,
    join_session,
    more_to_run,
    open_session,
    session_target,
    start_from_configured_values,
)
from dlpipe.tuning.storage import StudyStorageError, describe_storage, open_study, shared_storage
from dlpipe.tuning.trial_runner import FAIL_REASON_ATTR, TrialRunner
from dlpipe.tuning.trial_runs import adopt_session_trial_runs, fail_stale_trial_runs
from dlpipe.tuning.workers import STALE_ATTR, fail_abandoned_trials, session_full

# Also read from here by tests and callers; defined where their logic lives.
__all__ = [
    "FAIL_REASON_ATTR",
    "OPEN_ATTR",
    "STALE_ATTR",
    "TARGET_ATTR",
    "WARM_START_ATTR",
    "StudyStorageError",
    "TrialRunner",
    "open_study",
    "run_study",
]

logger = logging.getLogger(__name__)


def run_study(
    config: FamilyConfig,
    splits: dict[str, np.ndarray],
    spec: DataSpec,
    trial_callbacks: list | None = None,
    fit_callbacks: list[keras.callbacks.Callback] | None = None,
) -> optuna.Study:
    """Run this run's share of trials of the block's study and return the study.

    A trial that fails (NaN loss, numerical error) is recorded as FAIL and the study goes on.
    ``trial_callbacks`` are Optuna callbacks ``f(study, trial)`` run after each trial;
    ``fit_callbacks`` are Keras callbacks added to every trial's training.
    """
    tuning = config.tuning
    study = open_study(config)
    shared = shared_storage(tuning)
    fail_abandoned_trials(study, shared=shared, session=study.user_attrs.get(SESSION_ATTR))
    active = mlflow.active_run()
    if tuning.worker:
        remaining = join_session(study, tuning.worker_wait_s)
    else:
        remaining = open_session(study, tuning.n_trials, active.info.run_id if active else None)
        if tuning.warm_start and remaining:
            start_from_configured_values(study, config)
    session = study.user_attrs.get(SESSION_ATTR)
    # A worker's trial runs go under the run that opened the session: one run tree per session.
    parent = (
        study.user_attrs.get(SESSION_RUN_ATTR) if tuning.worker else (active.info.run_id if active else None)
    )
    if active is not None and not tuning.worker:
        fail_stale_trial_runs(active.info.run_id, tuning.study_name)
        if session:
            adopt_session_trial_runs(active.info.run_id, session)
    runner = TrialRunner(config, splits, spec, parent if active else None, fit_callbacks or ())
    runner.study, runner.session, runner.shared = study, session, shared
    logger.info(
        "Study '%s' (%s): %d trial(s) in storage, running %d more",
        tuning.study_name,
        describe_storage(tuning),
        len(study.trials),
        remaining,
    )
    timeout = tuning_timeout(config.budget, tuning.timeout_s)
    deadline = None if timeout is None else time.monotonic() + timeout
    if remaining:
        keras.backend.clear_session()  # the first trial starts clean too
    while remaining:
        try:
            study.optimize(
                runner,
                n_trials=remaining,
                timeout=None if deadline is None else max(1.0, deadline - time.monotonic()),
                catch=(Exception,),
                # Each trial already ends with clear_session(), which collects; a second full
                # collection of TensorFlow's heap costs about 0.4 s per trial on 2 cores.
                gc_after_trial=False,
                callbacks=[*(trial_callbacks or []), _stop_when_full],
            )
        except Exception:
            # Another process took the trial this one was running as abandoned: Optuna cannot
            # record its end here, and the trial runs again there. Go on with the session.
            if runner.taken_over is None:
                raise
            logger.warning("Trial %d goes on in another process", runner.taken_over)
            runner.taken_over = None
            if tuning.worker:
                remaining = 0 if session_full(study, session_target(study)) else remaining
                continue
        if tuning.worker:
            break  # the session has its trials; the run that opened it waits for the rest
        # The opening run waits for the trials other processes still run: within its time limit
        # when it has one (its plan comes first), else at most worker_wait_s from now.
        wait_until = deadline if deadline is not None else time.monotonic() + tuning.worker_wait_s
        remaining = more_to_run(study, wait_until, shared=shared)
    if termination_requested():
        raise RunTerminated(
            f"Tuning stopped ({termination_requested()}): study '{tuning.study_name}' keeps its "
            f"{counted_trials(study)} finished trial(s) in {describe_storage(tuning)}; re-run the same "
            "command to finish it."
        )
    completed = any(t.state == TrialState.COMPLETE for t in study.trials)
    if not tuning.worker:
        _close_session(study, config, completed)
    if not completed:
        raise RuntimeError(
            f"Study '{tuning.study_name}' ({describe_storage(tuning)}) has no completed trial: every "
            "trial failed or was pruned. See the FAIL reasons in the log and the trial runs."
        )
    return study


def _stop_when_full(study: optuna.Study, trial) -> None:
    # Other processes took the last places: asking for a trial now would only make a surplus one.
    if session_full(study, session_target(study)):
        study.stop()


def _close_session(study: optuna.Study, config: FamilyConfig, completed: bool) -> None:
    # A session that ran out of time (timeout_s, or the budget's share) is complete as it is: a
    # rerun after a later failure must not tune for another share, which could change the best
    # trial and with it the training that the rerun resumes.
    counted = counted_trials(study)
    if completed and counted < study.user_attrs.get(TARGET_ATTR, counted):
        study.set_user_attr(TARGET_ATTR, counted)
    # Inside a Kedro run the session closes only when the whole run succeeded: if the run dies
    # later (in training, say), re-running it finds the trials done instead of adding `n_trials`.
    run_scope.on_success(lambda: open_study(config).set_user_attr(OPEN_ATTR, False))
