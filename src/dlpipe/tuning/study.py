"""Run (or continue) an Optuna study whose trials train with the shared fit function."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import optuna
from optuna.trial import TrialState
from optuna_integration import KerasPruningCallback

from dlpipe import run_scope
from dlpipe.config.schema import FamilyConfig, parse_family, with_overrides
from dlpipe.interrupts import RunTerminated, termination_requested
from dlpipe.tracking import MlflowEpochLogger
from dlpipe.training.callbacks import NanGuard, TerminationGuard
from dlpipe.training.fit import fit_model
from dlpipe.tuning.search_space import create_pruner, create_sampler, suggest

logger = logging.getLogger(__name__)

# Study-level bookkeeping kept in the study's own storage, so a rerun after a crash knows the target.
TARGET_ATTR = "dlpipe_target_trials"
OPEN_ATTR = "dlpipe_session_open"
FAIL_REASON_ATTR = "dlpipe_fail_reason"
STALE_ATTR = "dlpipe_stale"  # a trial cut short by a kill or SIGTERM: FAIL, not counted, redone
MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
SQLITE_HEADER = b"SQLite format 3\x00"


class StudyStorageError(RuntimeError):
    """The study's SQLite file cannot be used: locked by another process, corrupted, or not a study."""


def storage_url(path: str) -> str:
    """Return the SQLite URL of the study file at ``path``, creating its folder."""
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def check_storage_file(path: str, lock_timeout_s: float) -> None:
    """Refuse a study file that is empty, corrupted, not an Optuna storage, or locked too long.

    Optuna would silently start a fresh study in an empty file, which hides the history a
    truncated file had; a damaged file fails deep in SQLAlchemy. Both are reported here, naming
    the file. Raises ``StudyStorageError``.
    """
    file = Path(path).expanduser().resolve()
    if not file.exists():
        return
    key = "tuning.storage_path"
    if file.stat().st_size == 0:
        raise StudyStorageError(
            f"{key}: {file} is empty (0 bytes), so the trials it held are gone or it was never a study. "
            "dlpipe will not start a fresh study over it: restore it from a backup, or delete it to "
            "start a new study."
        )
    with file.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StudyStorageError(
            f"{key}: {file} is not an SQLite database (corrupted or overwritten). Restore it from a "
            "backup, or move it away to start a new study."
        )
    try:
        connection = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=lock_timeout_s)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            listing = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {row[0] for row in listing}
        finally:
            connection.close()
    except sqlite3.OperationalError as err:
        if "locked" in str(err):
            raise _locked(file, lock_timeout_s) from err
        raise _corrupted(file, err) from err
    except sqlite3.DatabaseError as err:
        raise _corrupted(file, err) from err
    if verdict != "ok":
        raise _corrupted(file, verdict)
    if tables and "studies" not in tables:
        raise StudyStorageError(
            f"{key}: {file} is an SQLite database but not an Optuna study storage (tables: "
            f"{', '.join(sorted(tables))}). Point tuning.storage_path at a file of its own."
        )


def _locked(file: Path, lock_timeout_s: float) -> StudyStorageError:
    return StudyStorageError(
        f"tuning.storage_path: {file} is locked by another process (waited {lock_timeout_s:g} s, "
        "tuning.lock_timeout_s). Another run may be tuning the same study: wait for it to finish, "
        "or give this run its own tuning.storage_path."
    )


def _corrupted(file: Path, reason) -> StudyStorageError:
    return StudyStorageError(
        f"tuning.storage_path: {file} is corrupted ({reason}). Its finished trials cannot be read; "
        "restore it from a backup, or move it away to start a new study."
    )


def open_study(config: FamilyConfig) -> optuna.Study:
    """Create the study, or load it when its storage already holds one of that name.

    Waits up to ``tuning.lock_timeout_s`` for a storage another process holds locked. Raises
    ``StudyStorageError`` for a locked, corrupted or foreign storage file; never replaces one.
    """
    import sqlalchemy.exc

    tuning = config.tuning
    url = storage_url(tuning.storage_path)
    check_storage_file(tuning.storage_path, tuning.lock_timeout_s)
    try:
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": tuning.lock_timeout_s}}
        )
        study = optuna.create_study(
            study_name=tuning.study_name,
            storage=storage,
            direction=tuning.direction,
            load_if_exists=True,
            pruner=create_pruner(tuning.pruner, tuning.epochs),
        )
    except sqlalchemy.exc.OperationalError as err:
        file = Path(tuning.storage_path).expanduser().resolve()
        if "locked" in str(err):
            raise _locked(file, tuning.lock_timeout_s) from err
        raise _corrupted(file, err.orig if err.orig is not None else err) from err
    study.sampler = create_sampler(tuning.sampler, seed_offset=len(study.trials))
    return study


def release_memory() -> None:
    """Hand the heap pages glibc keeps for reuse back to the system (a no-op off glibc).

    Call it after ``keras.backend.clear_session()``, which has already collected the garbage:
    TensorFlow allocates and frees many mid-sized buffers per model, and glibc keeps the freed
    pages in its arenas.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _gradient_registry() -> dict | None:
    """TensorFlow's process-wide table of gradient functions (None where it cannot be reached)."""
    try:
        from tensorflow.python.framework import ops as tf_ops

        registry = tf_ops.gradient_registry._registry
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def forget_graphs_of_finished_models() -> Iterator[None]:
    """Drop the gradient functions TensorFlow registered while the block ran, once it ends.

    Every traced training step registers a ``CustomGradient-<n>`` entry (from the all-reduce
    that Keras' optimizer goes through, even with one replica) in a process-wide table that
    nothing ever clears, and each entry holds the whole traced graph: 13 MiB or more per model.
    Trial after trial, that was the memory that grew. Use it only around models that are not
    trained again afterwards; sequential trials are such a block each.
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in set(registry) - before:
                if name.startswith("CustomGradient-"):
                    registry.pop(name, None)


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
    except RunTerminated:
        raise
    except Exception as err:  # noqa: BLE001 - cleaning up old runs must not stop tuning
        logger.warning("Could not close stale MLflow trial runs: %s", err)


class _TrialRunner:
    """The objective: one trial = one fit of the sampled configuration, tracked as a nested run."""

    def __init__(
        self, family: str, config: FamilyConfig, splits, dataset_info, parent_run_id, fit_callbacks=()
    ):
        self.family = family
        self.fit_callbacks = list(fit_callbacks)
        self.config = config
        self.base = config.model_dump()
        self.splits = splits
        self.dataset_info = dataset_info
        self.parent_run_id = parent_run_id
        self.client = mlflow.MlflowClient() if parent_run_id else None
        self.study: optuna.Study | None = None  # set by run_study, to stop it on SIGTERM
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
            self.client.set_tag(run_id, "optuna.state", "FAIL" if state == "INTERRUPTED" else state)
            if value is not None:
                self.client.log_metric(run_id, f"trial_{self.config.tuning.metric}", value)
            self.client.set_terminated(run_id, MLFLOW_STATUS[state])
        except RunTerminated:
            raise
        except Exception as err:  # noqa: BLE001 - tracking must not break the study
            logger.warning("Could not close MLflow run of a trial: %s", err)

    def __call__(self, trial: optuna.Trial) -> float:
        tuning = self.config.tuning
        overrides = suggest(trial, tuning.search_space)
        trial_config = parse_family(self.family, with_overrides(self.base, overrides))
        run_id = self._start_run(trial, overrides)
        # The pruning callback goes last: it raises at the end of a pruned epoch, and the epoch's
        # metrics must reach MLflow and the caller's callbacks first.
        callbacks: list[keras.callbacks.Callback] = [TerminationGuard(), NanGuard()]
        if run_id:
            callbacks.append(MlflowEpochLogger(run_id))
        callbacks += self.fit_callbacks
        callbacks.append(KerasPruningCallback(trial, tuning.metric))
        state, value = "FAIL", None
        if termination_requested():
            self.study.stop()
            raise RunTerminated(f"not starting trial {trial.number}: {termination_requested()}")
        try:
            with forget_graphs_of_finished_models():
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
        except RunTerminated:
            # The trial in flight is FAIL for Optuna, but it does not count toward the run's total:
            # the rerun redoes it. The study stops after this trial.
            state = "INTERRUPTED"
            trial.set_user_attr(STALE_ATTR, True)
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
    fit_callbacks: list[keras.callbacks.Callback] | None = None,
) -> optuna.Study:
    """Run this run's share of trials of the family's study and return the study.

    A trial that fails (NaN loss, numerical error) is recorded as FAIL and the study goes on.
    ``trial_callbacks`` are Optuna callbacks ``f(study, trial)`` run after each trial;
    ``fit_callbacks`` are Keras callbacks added to every trial's training.
    """
    tuning = config.tuning
    study = open_study(config)
    _fail_stale_trials(study)
    remaining = _trials_to_run(study, tuning.n_trials)
    active = mlflow.active_run()
    if active is not None:
        _fail_stale_trial_runs(active.info.run_id, tuning.study_name)
    runner = _TrialRunner(
        family, config, splits, dataset_info, active.info.run_id if active else None, fit_callbacks or ()
    )
    runner.study = study
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
    if termination_requested():
        raise RunTerminated(
            f"Tuning stopped ({termination_requested()}): study '{tuning.study_name}' keeps its "
            f"{_counted_trials(study)} finished trial(s) in {tuning.storage_path}; re-run the same "
            "command to finish it."
        )
    # Inside a Kedro run the session closes only when the whole run succeeded: if the run dies
    # later (in training, say), re-running it finds the trials done instead of adding `n_trials`.
    run_scope.on_success(lambda: open_study(config).set_user_attr(OPEN_ATTR, False))
    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        raise RuntimeError(
            f"Study '{tuning.study_name}' ({tuning.storage_path}) has no completed trial: every "
            "trial failed or was pruned. See the FAIL reasons in the log and the trial runs."
        )
    return study
