"""Nodes of the training stage."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from typing import Any

import keras
import mlflow
import numpy as np

from dlpipe import run_scope
from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.models.geometry import model_summary_text
from dlpipe.tracking import MlflowEpochLogger, try_tracking
from dlpipe.training.budget import BudgetDeadline, RunBudget, planned_epochs
from dlpipe.training.callbacks import (
    build_training_callbacks,
    configuration_fingerprint,
)
from dlpipe.training.cluster import MULTI_WORKER, ClusterRole, cluster_role, weights_digest, worker_folder
from dlpipe.training.fit import fit_model, iterations_per_epoch, monitor_mode
from dlpipe.training.precision import resolved_precision
from dlpipe.tuning.pace import measured_pace

logger = logging.getLogger(__name__)


def train_model(
    dataset_splits: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    augmentation_spec: list[dict],
    best_params: dict[str, Any],
    config: dict[str, Any],
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train the family's model with the tuned parameters applied on top of the configured ones.

    Early stopping restores the best epoch's weights; a backup lets an interrupted run resume.

    Returns:
        The trained model and its per-epoch history.
    """
    family_config = parse_node_config(config, overrides=best_params, augmentation_ops=augmentation_spec)
    spec = DataSpec.model_validate(data_spec)
    if best_params:
        logger.info("Training with tuned parameters: %s", best_params)
    keras.backend.clear_session()
    role = cluster_role() if family_config.training.strategy == MULTI_WORKER else None
    with worker_folders(family_config, role) as worker_config:
        return _train(worker_config, dataset_splits, spec, best_params, role)


@contextlib.contextmanager
def worker_folders(family_config, role: ClusterRole | None):
    """The configuration with this worker's own backup folder; a worker other than the chief
    writes its checkpoint to a temporary folder, deleted afterwards."""
    if role is None:
        yield family_config
        return
    scratch = None if role.is_chief else tempfile.mkdtemp(prefix=f"dlpipe-{role.name}-checkpoint-")
    training = family_config.training.model_copy(
        update={
            "backup_dir": worker_folder(family_config.training.backup_dir, role),
            "checkpoint_dir": scratch or family_config.training.checkpoint_dir,
        }
    )
    try:
        yield family_config.model_copy(update={"training": training})
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(family_config, dataset_splits, spec, best_params, role):
    active = mlflow.active_run()
    run_id = active.info.run_id if active else None
    updates = iterations_per_epoch(family_config.training, len(dataset_splits["x_train"]))
    logger.info(
        "Gradient descent '%s': %d updates per epoch", family_config.training.gradient_descent, updates
    )
    if run_id is not None:
        try_tracking(
            "log the final parameters",
            mlflow.log_params,
            {
                **{f"final.{key}": value for key, value in best_params.items()},
                "iterations_per_epoch": updates,
                "mixed_precision_used": resolved_precision(family_config.training.mixed_precision),
            },
        )
    callbacks = build_training_callbacks(
        family_config.training,
        mode=monitor_mode(family_config, family_config.training.early_stopping.monitor),
        mlflow_run_id=run_id,
        # Of the configuration before the budget's plan: a rerun that plans other epochs from
        # what is left of its budget still resumes this training's backup.
        fingerprint=configuration_fingerprint(family_config, spec),
        # Inside a Kedro run the trained model is kept until the run has saved it.
        keep_finished=run_scope.active(),
    )
    if family_config.budget.seconds is not None:
        family_config, deadline = _plan_within_budget(family_config, dataset_splits, run_id)
        callbacks.append(deadline)
    model, history = fit_model(
        family_config,
        dataset_splits,
        spec,
        epochs=family_config.training.epochs,
        callbacks=callbacks,
        mlflow_run_id=run_id,
    )
    if run_id is not None:
        try_tracking(
            "log the model summary", mlflow.log_text, model_summary_text(model), "training/model_summary.txt"
        )
        epoch_logger = next(c for c in callbacks if isinstance(c, MlflowEpochLogger))
        restored = epoch_logger.log_restored_epochs(history)
        if restored:
            logger.info("Logged the %d epoch(s) restored from the backup to this run", restored)
    if role is not None:
        logger.info(
            "%s of %d: training ended with weights digest %s",
            role.name,
            role.num_workers,
            weights_digest(model.get_weights()),
        )
    return model, history


def _plan_within_budget(family_config, dataset_splits, run_id):
    """The configuration with as many epochs as fit in what is left of the budget at the best
    trial's pace, and the callback that stops training at the budget's training deadline."""
    budget = RunBudget(family_config.budget)
    measured = measured_pace(family_config) if family_config.tuning.enabled else None
    maximum = family_config.training.epochs
    left = budget.training_seconds_left()
    if measured is None:
        epochs = maximum
        logger.info(
            "Budget: %.0f s left for training; no trial pace measured, so up to %d epochs until the "
            "budget's deadline",
            left,
            epochs,
        )
    else:
        pace, trial = measured
        num_train, num_val = len(dataset_splits["x_train"]), len(dataset_splits["x_val"])
        epochs = planned_epochs(maximum, left, pace, num_train, num_val)
        logger.info(
            "Budget: %.0f s left for training, an epoch takes about %.0f s (trial %d's pace): %d of "
            "at most %d epochs",
            left,
            pace.epoch_seconds(num_train, num_val),
            trial,
            epochs,
            maximum,
        )
    if run_id is not None:
        try_tracking("log the budget's plan", mlflow.log_params, {"budget.planned_epochs": epochs})
    planned = family_config.model_copy(
        update={"training": family_config.training.model_copy(update={"epochs": epochs})}
    )
    return planned, BudgetDeadline(budget.training_deadline())
