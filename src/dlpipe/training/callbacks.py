"""The callbacks of the final training, built in one place from config."""

from __future__ import annotations

from pathlib import Path

import keras

from dlpipe.config.schema import TrainingConfig


def build_training_callbacks(
    config: TrainingConfig, *, mlflow_run_id: str | None = None
) -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored), best-model checkpoint, backup-and-restore, NaN guard
    and, when a run is given, per-epoch MLflow logging.

    The backup lets a killed run resume at its last finished epoch; it is deleted only when
    training ends normally.
    """
    from dlpipe.tracking import MlflowEpochLogger

    checkpoint_dir = Path(config.checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    callbacks: list[keras.callbacks.Callback] = [
        # raise_error=True stops at once without running on_train_end, so a NaN does not delete
        # the backup of the last good epoch.
        keras.callbacks.TerminateOnNaN(raise_error=True),
        keras.callbacks.BackupAndRestore(backup_dir=config.backup_dir),
        keras.callbacks.EarlyStopping(
            monitor=config.early_stopping.monitor,
            patience=config.early_stopping.patience,
            min_delta=config.early_stopping.min_delta,
            restore_best_weights=True,
            verbose=1,
        ),
        keras.callbacks.ModelCheckpoint(
            filepath=str(checkpoint_dir / "best.keras"),
            monitor=config.early_stopping.monitor,
            save_best_only=True,
        ),
    ]
    if mlflow_run_id is not None:
        callbacks.append(MlflowEpochLogger(mlflow_run_id))
    return callbacks
