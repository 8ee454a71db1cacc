"""Run (or continue) an Optuna study whose trials train with the shared fit function."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import optuna
from optuna.trial import TrialState
from optuna_integration import KerasPruningCallback

from dlpipe.config.schema import FamilyConfig, parse_family, with_overrides
from dlpipe.tracking import MlflowEpochLogger
from dlpipe.training.fit import fit_model
from dlpipe.tuning.search_space import create_pruner, create_sampler, suggest

logger = logging.getLogger(__name__)

# Study-level bookkeeping kept in the study's own storage, so a rerun after a crash knows the target.
TARGET_ATTR = "dlpipe_target_trials"
OPEN_ATTR = "dlpipe_session_open"
STALE_ATTR = "dlpipe_stale"
MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def storage_url(path: str) -> str:
    """Return the SQLite URL of the study file at ``path``, creating its folder."""
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def open_study(config: FamilyConfig) -> optuna.Study:
    """Create the study, or load it when its storage already holds one of that name."""
    tuning = config.tuning
    study = optuna.create_study(
        study_name=tuning.study_name,
        storage=storage_url(tuning.storage_path),
        direction=tuning.direction,
        load_if_exists=True,
        pruner=create_pruner(tuning.pruner, tuning.epochs),
    )
    study.sampler = create_sampler(tuning.sampler, seed_offset=len(study.trials))
    return study


def release_memory() -> None:
    """Free what the last trial left: Python garbage, then heap pages glibc keeps for reuse.

    TensorFlow allocates and frees many mid-sized buffers per model; glibc keeps the freed pages in
    its arenas, so resident memory grows trial after trial although nothing is leaked.
    ``malloc_trim`` hands them back (a no-op where the C library is not glibc).
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _fail_stale_trials(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a killed process as FAIL (dlpipe writes a study from one process)."""
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, STALE_ATTR, True)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        logger.warning("Trial %d was left running by an interrupted run: marked FAIL", trial.number)
    return len(stale)


def _counted_trials(study: optuna.Study) -> int:
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get(STALE_ATTR)
    )


def _trials_to_run(study: optuna.Study, n_trials: int) -> int:
    """Each run adds ``n_trials``; a run that was interrupted is finished, not started over."""
    done = _counted_trials(study)
    target = study.user_attrs.get(TARGET_ATTR)
    if not study.user_attrs.get(OPEN_ATTR) or target is None:
        target = done + n_trials
        study.set_user_attr(TARGET_ATTR, target)
        study.set_user_attr(OPEN_ATTR, True)
    else:
        logger.info("Continuing an interrupted tuning run: %d of %d trials done", done, target)
    return max(0, target - done)


def _fail_stale_trial_runs(parent_run_id: str, study_name: str) -> None:
    """Close MLflow trial runs that an interrupted tuning run left RUNNING (status FAILED)."""
    client = mlflow.MlflowClient()
    try:
        experiment_id = client.get_run(parent_run_id).info.experiment_id
        stale = client.search_runs(
            [experiment_id],
            filter_string=(f"tags.`optuna.study_name` = '{study_name}' and attributes.status = 'RUNNING'"),
        )
        for run in stale:
            client.set_tag(run.info.run_id, "optuna.state", "FAIL")
            client.set_terminated(run.info.run_id, "FAILED")
            logger.warning("Trial run %s was left running by an interrupted run: FAILED", run.info.run_name)
    except Exception as err:  # noqa: BLE001 - cleaning up old runs must not stop tuning
        logger.warning("Could not close stale MLflow trial runs: %s", err)


class _TrialRunner:
    """The objective: one trial = one fit of the sampled configuration, tracked as a nested run."""

    def __init__(self, family: str, config: FamilyConfig, splits, dataset_info, parent_run_id):
        self.family = family
        self.config = config
        self.base = config.model_dump()
        self.splits = splits
        self.dataset_info = dataset_info
        self.parent_run_id = parent_run_id
        self.client = mlflow.MlflowClient() if parent_run_id else None
        # Trials that share batch size and augmentation share their input pipelines (and caches).
        self.datasets: dict = {}

    def _start_run(self, trial: optuna.Trial, overrides: dict[str, Any]) -> str | None:
        if self.client is None:
            return None
        parent = self.client.get_run(self.parent_run_id)
        run = self.client.create_run(
            parent.info.experiment_id,
            run_name=f"{self.config.tuning.study_name}-trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna.study_name": self.config.tuning.study_name,
                "optuna.trial_number": str(trial.number),
            },
        )
        self.client.log_batch(
            run.info.run_id,
            params=[mlflow.entities.Param(k, str(v)) for k, v in overrides.items()],
        )
        return run.info.run_id

    def _end_run(self, run_id: str | None, state: str, value: float | None) -> None:
        if run_id is None:
            return
        try:
            self.client.set_tag(run_id, "optuna.state", state)
            if value is not None:
                self.client.log_metric(run_id, f"trial_{self.config.tuning.metric}", value)
            self.client.set_terminated(run_id, MLFLOW_STATUS[state])
        except Exception as err:  # noqa: BLE001 - tracking must not break the study
            logger.warning("Could not close MLflow run of a trial: %s", err)

    def __call__(self, trial: optuna.Trial) -> float:
        tuning = self.config.tuning
        overrides = suggest(trial, tuning.search_space)
        trial_config = parse_family(self.family, with_overrides(self.base, overrides))
        run_id = self._start_run(trial, overrides)
        callbacks: list[keras.callbacks.Callback] = [
            keras.callbacks.TerminateOnNaN(raise_error=True),
            KerasPruningCallback(trial, tuning.metric),
        ]
        if run_id:
            callbacks.append(MlflowEpochLogger(run_id))
        state, value = "FAIL", None
        try:
            _, history = fit_model(
                trial_config,
                self.splits,
                self.dataset_info,
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
        finally:
            self._end_run(run_id, state, value)
            # Each trial leaves its model behind: without this, every new model adds to the same
            # Keras state and memory grows trial after trial.
            keras.backend.clear_session()
            release_memory()


def run_study(
    family: str,
    config: FamilyConfig,
    splits: dict[str, np.ndarray],
    dataset_info: dict[str, Any],
    trial_callbacks: list | None = None,
) -> optuna.Study:
    """Run this run's share of trials of the family's study and return the study.

    A trial that fails (NaN loss, numerical error) is recorded as FAIL and the study goes on.
    ``trial_callbacks`` are Optuna callbacks ``f(study, trial)`` run after each trial.
    """
    tuning = config.tuning
    study = open_study(config)
    _fail_stale_trials(study)
    remaining = _trials_to_run(study, tuning.n_trials)
    active = mlflow.active_run()
    if active is not None:
        _fail_stale_trial_runs(active.info.run_id, tuning.study_name)
    runner = _TrialRunner(family, config, splits, dataset_info, active.info.run_id if active else None)
    logger.info(
        "Study '%s' (%s): %d trial(s) in storage, running %d more",
        tuning.study_name,
        tuning.storage_path,
        len(study.trials),
        remaining,
    )
    if remaining:
        keras.backend.clear_session()  # the first trial starts clean too
        study.optimize(
            runner,
            n_trials=remaining,
            timeout=tuning.timeout_s,
            catch=(Exception,),
            gc_after_trial=True,
            callbacks=trial_callbacks,
        )
    study.set_user_attr(OPEN_ATTR, False)
    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        raise RuntimeError(
            f"Study '{tuning.study_name}' ({tuning.storage_path}) has no completed trial: every "
            "trial failed or was pruned. See the FAIL reasons in the log and the trial runs."
        )
    return study
