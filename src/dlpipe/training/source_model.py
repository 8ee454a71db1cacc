"""Train another parameter block's model outside its own pipeline, as a source for this one.

A block that builds on a model another block trains (a pretrained base) can have it trained
first on a machine where that block has never run: with the block's own data, model and training
(tuning off), saved as a new version of a Kedro versioned model folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import keras
import matplotlib.pyplot as plt
import mlflow
from kedro.io.core import Version

from dlpipe.config.common import ConfigError
from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, get_family
from dlpipe.io import KerasModelDataset
from dlpipe.models.pretrained import resolve_saved_model
from dlpipe.tasks import get_task
from dlpipe.tracking import try_tracking
from dlpipe.training.callbacks import build_training_callbacks
from dlpipe.training.fingerprint import configuration_fingerprint
from dlpipe.training.fit import fit_model, monitor_mode

logger = logging.getLogger(__name__)


def train_and_save_block_model(
    block: str,
    project_params: dict[str, Any],
    *,
    key: str,
    destination: str,
    work_dir: str,
    epochs: int | None = None,
    check: Callable[[keras.Model], Any] | None = None,
) -> dict[str, float]:
    """Train block ``block`` of ``project_params`` (for ``epochs``, else its own) and save the
    model as a new version of the Kedro versioned ``destination`` (``.../model.keras``).

    ``check(untrained_model)`` runs before the first epoch (does the model fit its user?). The
    training backs up every epoch under ``work_dir``: killed, the next call resumes it. Scores on
    the block's test split are returned and logged on the active MLflow run as ``source.*``.

    Raises:
        ConfigError: ``project_params`` has no block ``block``; the message names ``key``.
    """
    if block not in project_params:
        raise ConfigError(
            f"{key}: no parameter block '{block}' in the project; blocks: {sorted(project_params)}"
        )
    overrides: dict[str, Any] = {
        "tuning.enabled": False,
        "training.checkpoint_dir": f"{work_dir}/checkpoints",
        "training.backup_dir": f"{work_dir}/backup",
    }
    if epochs is not None:
        overrides["training.epochs"] = epochs
    config = parse_family(block, with_overrides(project_params[block], overrides))
    splits, spec = load_splits(config.dataset, config.seed)
    check_fits_data(config, spec)
    if check is not None:
        check(get_family(config.model.family).build(spec, config))
    keras.backend.clear_session()
    logger.warning(
        "No saved model at %s: training block '%s' first (%d epoch(s), no tuning)",
        destination,
        block,
        config.training.epochs,
    )
    monitor = config.training.early_stopping.monitor
    callbacks = build_training_callbacks(
        config.training,
        mode=monitor_mode(config, monitor),
        fingerprint=configuration_fingerprint(config, spec),
    )
    model, history = fit_model(config, splits, spec, epochs=config.training.epochs, callbacks=callbacks)
    evaluation = get_task(config.task).evaluate(
        model,
        splits["x_test"],
        splits["y_test"],
        spec,
        config.training.loss,
        config.training.batch_size,
        settings=config.evaluation,
    )
    for figure in evaluation.figures.values():
        plt.close(figure)
    scores = evaluation.metrics
    KerasModelDataset(filepath=destination, version=Version(None, None)).save(model)
    logger.info("Source model of block '%s' saved to %s: %s", block, resolve_saved_model(destination), scores)
    if mlflow.active_run() is not None:
        try_tracking(
            "log the source model's training",
            mlflow.log_params,
            {
                "source.block": block,
                "source.epochs": len(history.get("loss", [])),
                "source.path": destination,
            },
        )
        try_tracking(
            "log the source model's scores",
            mlflow.log_metrics,
            {f"source.{name}": value for name, value in scores.items()},
        )
    return scores
