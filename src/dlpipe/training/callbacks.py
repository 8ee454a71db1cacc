"""The callbacks of the final training, built in one place from config.

The fault-tolerant callbacks dlpipe adds to Keras live in their own modules: ``guards`` (NaN and
SIGTERM), ``checkpoint`` (atomic best-model checkpoint) and ``backup`` (resumable epoch backups).
"""

from __future__ import annotations

from pathlib import Path

import keras

from dlpipe.config.training import TrainingConfig
from dlpipe.training.backup import TrainingBackup, discard_finished_training
from dlpipe.training.checkpoint import AtomicModelCheckpoint
from dlpipe.training.fingerprint import configuration_fingerprint
from dlpipe.training.guards import NanGuard, NonFiniteLossError, TerminationGuard

__all__ = [
    "AtomicModelCheckpoint",
    "NanGuard",
    "NonFiniteLossError",
    "TerminationGuard",
    "TrainingBackup",
    "build_training_callbacks",
    "configuration_fingerprint",
    "discard_finished_training",
    "early_stopping_callbacks",
    "training_backup",
]


def early_stopping_callbacks(config: TrainingConfig, mode: str) -> list[keras.callbacks.Callback]:
    """Early stopping on the configured metric, restoring the best epoch's weights; none when
    ``early_stopping.enabled`` is false. For fits that keep no checkpoint or backup (learning
    curves, experiment arms). ``mode`` is ``max`` or ``min`` (see ``fit.monitor_mode``)."""
    stopping = config.early_stopping
    if not stopping.enabled:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor=stopping.monitor,
            mode=mode,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
            restore_best_weights=True,
        )
    ]


def build_training_callbacks(
    config: TrainingConfig,
    *,
    mode: str = "auto",
    mlflow_run_id: str | None = None,
    fingerprint: str | None = None,
    keep_finished: bool = False,
) -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored; none when ``early_stopping.enabled`` is false),
    best-model checkpoint, per-epoch backup, NaN guard and, when a run is given, per-epoch MLflow
    logging. ``mode`` (``max``/``min``) is the direction
    in which the monitored metric improves (see ``fit.monitor_mode``).

    The backup lets a killed run resume at its last finished epoch, and with ``keep_finished``
    a run whose outputs failed to save reuse the trained model; ``fingerprint`` names the
    configuration it may be resumed with (see ``TrainingBackup``). Find it with
    ``training_backup(callbacks)``.
    """
    from dlpipe.tracking import MlflowEpochLogger

    checkpoint_dir = Path(config.checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=config.early_stopping.monitor,
        patience=config.early_stopping.patience,
        min_delta=config.early_stopping.min_delta,
        mode=mode,
        restore_best_weights=True,
        verbose=1,
    )
    checkpoint = AtomicModelCheckpoint(
        filepath=str(checkpoint_dir / "best.keras"),
        monitor=config.early_stopping.monitor,
        mode=mode,
        save_best_only=True,
    )
    stopping = [early_stopping] if config.early_stopping.enabled else []
    callbacks: list[keras.callbacks.Callback] = [
        TerminationGuard(),
        NanGuard(backup_dir=config.backup_dir),
        *stopping,
        checkpoint,
        TrainingBackup(
            config.backup_dir,
            stateful=[*stopping, checkpoint],
            fingerprint=fingerprint,
            keep_finished=keep_finished,
        ),
    ]
    if mlflow_run_id is not None:
        callbacks.append(MlflowEpochLogger(mlflow_run_id))
    return callbacks


def training_backup(callbacks: list[keras.callbacks.Callback]) -> TrainingBackup | None:
    """The ``TrainingBackup`` among ``callbacks``, if any."""
    return next((cb for cb in callbacks if isinstance(cb, TrainingBackup)), None)
