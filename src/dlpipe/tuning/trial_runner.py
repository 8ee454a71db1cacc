"""One trial of a study: the sampled configuration trained with the shared fit function, tracked
as an MLflow run nested under the tuning session's run."""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import keras
import mlflow
import optuna
from optuna_integration import KerasPruningCallback

from dlpipe.config.schema import FamilyConfig, parse_family, with_overrides
from dlpipe.data.spec import DataSpec
from dlpipe.interrupts import RunTerminated, termination_requested
from dlpipe.tracking import MlflowEpochLogger
from dlpipe.training.budget import EpochTimer
from dlpipe.training.fit import fit_model
from dlpipe.training.guards import NanGuard, TerminationGuard
from dlpipe.tuning.memory import forget_graphs_of_finished_models, release_memory
from dlpipe.tuning.pace import record_pace
from dlpipe.tuning.search_space import suggest
from dlpipe.tuning.session import session_target
from dlpipe.tuning.trial_runs import SESSION_TAG
from dlpipe.tuning.workers import STALE_ATTR, Heartbeat, NoPlaceLeft, claim, queue_again, take_place

logger = logging.getLogger(__name__)

FAIL_REASON_ATTR = "dlpipe_fail_reason"
# A pruned trial ended as planned: FINISHED, named "... pruned", not shown as crashed (KILLED).
MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}


class TrialRunner:
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
        # The number of a trial another process took as abandoned while this one ran it; Optuna
        # then fails to record the trial's end, and run_study goes on (see there).
        self.taken_over: int | None = None
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
        claim(trial, self.session, tuning.heartbeat_s)
        if not self.shared:
            return self._run(trial, None)
        with Heartbeat(self.study, trial, tuning.heartbeat_s) as heartbeat:
            try:
                return self._run(trial, heartbeat)
            finally:
                if heartbeat.lost:
                    self.taken_over = trial.number

    def _run(self, trial: optuna.Trial, heartbeat: Heartbeat | None) -> float:
        tuning = self.config.tuning
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
        if heartbeat is not None:
            callbacks.insert(0, _StopWhenTakenOver(heartbeat))
        state, value = "FAIL", None
        if termination_requested():
            self.study.stop()
            raise RunTerminated(f"not starting trial {trial.number}: {termination_requested()}")
        try:
            with forget_graphs_of_finished_models():
                _, history = fit_model(
                    trial_config,
                    self.splits,
                    self.spec,
                    epochs=tuning.epochs,
                    callbacks=callbacks,
                    train_subset=tuning.train_subset,
                    validation_subset=tuning.validation_subset,
                    mlflow_run_id=run_id,
                    # A trial is scored by its history and its model thrown away.
                    finish=False,
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


class _StopWhenTakenOver(keras.callbacks.Callback):
    """Stops a trial's training once another process has taken the trial as abandoned."""

    def __init__(self, heartbeat: Heartbeat):
        super().__init__()
        self.heartbeat = heartbeat

    def on_epoch_end(self, epoch, logs=None):
        if self.heartbeat.lost:
            self.model.stop_training = True
