"""Callbacks that stop training the moment it must stop: a diverged loss, a SIGTERM."""

from __future__ import annotations

import math

import keras

from dlpipe.interrupts import RunTerminated, termination_requested


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first batch where a loss is NaN or infinite, naming epoch and batch.

    It raises instead of stopping gracefully: a graceful stop runs every callback's
    ``on_train_end``, which would delete the backup of the last good epoch.
    """

    def __init__(self, backup_dir: str | None = None):
        super().__init__()
        self.backup_dir = backup_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # Every loss the model reports: a model with several (a VAE's parts, a GAN's two
        # players) can diverge in any of them.
        broken = {
            key: float(value)
            for key, value in (logs or {}).items()
            if key.endswith("loss") and not math.isfinite(float(value))
        }
        if not broken:
            return
        kept = ""
        if self.backup_dir:
            kept = f" The backup of the last finished epoch is kept in {self.backup_dir}."
        which = ", ".join(f"{key} is {value}" for key, value in broken.items())
        raise NonFiniteLossError(
            f"Training {which} at epoch {self._epoch + 1}, batch {batch + 1}: training "
            "diverged (lower training.optimizer.learning_rate, enable training.gradient_clipping, or "
            f"check the inputs).{kept}"
        )


class TerminationGuard(keras.callbacks.Callback):
    """Stops training at the next batch once SIGTERM was received.

    The SIGTERM handler raises where the program happens to be; if that was inside code that
    swallows errors (a retrying HTTP client), this makes sure training still stops.
    """

    def on_train_batch_end(self, batch, logs=None):
        if termination_requested():
            raise RunTerminated(f"Stopping training: {termination_requested()}")
