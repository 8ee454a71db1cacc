"""Run (or continue) an Optuna study whose trials train with the shared fit function."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any

import keras
import mlflow
import numpy as np
import optuna
from optuna.trial import TrialState
from optuna_integration import KerasPruningCallback

from dlpipe import run_scope
from dlpipe.config.schema import FamilyConfig, parse_family, with_overrides
from dlpipe.data.spec import DataSpec
from dlpipe.interrupts import RunTerminated, termination_requested
from dlpipe.tracking import MlflowEpochLogger
from dlpipe.training.budget import EpochTimer, tuning_timeout
from dlpipe.training.fit import fit_model
from dlpipe.training.guards import NanGuard, TerminationGuard
from dlpipe.tuning.memory import forget_graphs_of_finished_models, release_memory
from dlpipe.tuning.pace import record_pace
from dlpipe.tuning.search_space import suggest
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
from dlpipe.tuning.trial_runs import SESSION_TAG, adopt_session_trial_runs, fail_stale_trial_runs
from dlpipe.tuning.workers import (
    STALE_ATTR,
    Heartbeat,
    NoPlaceLeft,
    claim,
    fail_abandoned_trials,
    queue_again,
    session_full,
    take_place,
)

# Also read from here by tests and callers; defined where their logic lives.
__all__ = ["OPEN_ATTR", "STALE_ATTR", "TARGET_ATTR", "WARM_START_ATTR", "StudyStorageError", "run_study"]

logger = logging.getLogger(__name__)

FAIL_REASON_ATTR = "dlpipe_fail_reason"
# A pruned trial ended as planned: FINISHED, named "... pruned", not shown as crashed (KILLED).
MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}


class _TrialRunner:
    """The objective: one trial = one fit of the sampled configuration, tracked as a nested run."""

    def __init__(self, config: FamilyConfig, splits, spec: DataSpec, parent_run_id, fit_callbacks=()):
        self.fit_callbacks = list(fit_callbacks)
        self.config = config
        self.base = config.model_dump()
        self.splits = splits
        self.spec = spec
        self.parent_run_id = parent_run_id
        self.client = mlflow.MlflowClient() if parent_run_id else None
        self.study: optuna.Study | None = None  # set by run_study, to stop it on SIGTERM
        self.session: str | None = None  # the tuning session's id, set by run_study
        self.shared = False  # whether other processes tune the study too, set by run_study
        # Trials that share batch size and augmentation share their input pipelines (and caches).
        self.datasets: dict = {}

    def _start_run(self, trial: optuna.Trial, overrides: dict[str, Any]) -> str | None:
        if self.client is None:
            return None
        parent = self.client.get_run(self.parent_run_id)
        run = self.client.create_run(
            parent.info.experiment_id,
            run_name=self._run_name(trial.number),
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna.study_name": self.config.tuning.study_name,
                "optuna.trial_number": str(trial.number),
                **({SESSION_TAG: self.session} if self.session else {}),
            },
        )
        self.client.log_batch(
            run.info.run_id,
            params=[mlflow.entities.Param(k, str(v)) for k, v in overrides.items()],
        )
        return run.info.run_id

    def _run_name(self, trial_number: int) -> str:
        return f"{self.config.tuning.study_name}-trial-{trial_number}"

    def _end_run(self, run_id: str | None, state: str, value: float | None, trial_number: int) -> None:
        if run_id is None:
            return
        try:
            self.client.set_tag(run_id, "optuna.state", "FAIL" if state == "INTERRUPTED" else state)
            if state == "PRUNED":
                self.client.set_tag(run_id, "mlflow.runName", f"{self._run_name(trial_number)} pruned")
            if value is not None:
                self.client.log_metric(run_id, f"trial_{self.config.tuning.metric}", value)
            self.client.set_terminated(run_id, MLFLOW_STATUS[state])
        except RunTerminated:
            raise
        except Exception as err:  # noqa: BLE001 - tracking must not break the study
            logger.warning("Could not close MLflow run of a trial: %s", err)

    def __call__(self, trial: optuna.Trial) -> float:
        tuning = self.config.tuning
        claim(trial, self.session)
        try:
            take_place(self.study, trial, session_target(self.study))
        except NoPlaceLeft:
            self.study.stop()  # the session has its trials: this process's loop ends here
            raise
        overrides = suggest(trial, tuning.search_space)
        trial_config = parse_family(self.config.model.family, with_overrides(self.base, overrides))
        run_id = self._start_run(trial, overrides)
        # The pruning callback goes last: it raises at the end of a pruned epoch, and the epoch's
        # metrics must reach MLflow and the caller's callbacks first.
        callbacks: list[keras.callbacks.Callback] = [TerminationGuard(), NanGuard()]
        if run_id:
            callbacks.append(MlflowEpochLogger(run_id))
        callbacks += self.fit_callbacks
        timer = EpochTimer()
        callbacks += [timer, KerasPruningCallback(trial, tuning.metric)]
        state, value = "FAIL", None
        if termination_requested():
            self.study.stop()
            raise RunTerminated(f"not starting trial {trial.number}: {termination_requested()}")
        heartbeat = (
            Heartbeat(self.study, trial, tuning.heartbeat_s) if self.shared else contextlib.nullcontext()
        )
        try:
            with forget_graphs_of_finished_models(), heartbeat:
                _, history = fit_model(
                    trial_config,
                    self.splits,
                    self.spec,
                    epochs=tuning.epochs,
                    callbacks=callbacks,
                    train_subset=tuning.train_subset,
                    validation_subset=tuning.validation_subset,
                    mlflow_run_id=run_id,
                    dataset_cache=self.datasets,
                )
            scores = history.get(tuning.metric)
            if not scores:
                raise KeyError(
                    f"tuning.metric: '{tuning.metric}' is not among the logged metrics {sorted(history)}"
                )
            pick = max if tuning.direction == "maximize" else min
            value = pick(scores)
            if not math.isfinite(value):
                raise FloatingPointError(f"trial {trial.number}: {tuning.metric} is {value}")
            state = "COMPLETE"
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        except RunTerminated:
            # The trial in flight is FAIL for Optuna, but it does not count toward the run's total:
            # the rerun redoes it. The study stops after this trial.
            state = "INTERRUPTED"
            trial.set_user_attr(STALE_ATTR, True)
            queue_again(self.study, trial)
            self.study.stop()
            raise
        except Exception as err:
            # Kept with the trial and its MLflow run, so the reason outlives the log.
            reason = f"{type(err).__name__}: {err}"[:1000]
            trial.set_user_attr(FAIL_REASON_ATTR, reason)
            if run_id and self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.set_tag(run_id, "dlpipe.fail_reason", reason)
            raise
        finally:
            self._end_run(run_id, state, value, trial.number)
            record_pace(
                trial,
                timer,
                len(self.splits["x_train"][: tuning.train_subset]),
                len(self.splits["x_val"][: tuning.validation_subset]),
            )
            # Each trial leaves its model behind: without this, every new model adds to the same
            # Keras state and memory grows trial after trial.
            keras.backend.clear_session()
            release_memory()


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
    fail_abandoned_trials(
        study, shared=shared, session=study.user_attrs.get(SESSION_ATTR), heartbeat_s=tuning.heartbeat_s
    )
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
    runner = _TrialRunner(config, splits, spec, parent if active else None, fit_callbacks or ())
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
        if tuning.worker:
            break  # the session has its trials; the run that opened it waits for the rest
        # The opening run waits for the trials other processes still run: within its time limit
        # when it has one (its plan comes first), else at most worker_wait_s from now.
        wait_until = deadline if deadline is not None else time.monotonic() + tuning.worker_wait_s
        remaining = more_to_run(study, wait_until, shared=shared, heartbeat_s=tuning.heartbeat_s)
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
