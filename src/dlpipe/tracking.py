"""MLflow logging used while models train (per-epoch metrics), resilient to a lost server."""

from __future__ import annotations

import logging
import math

import keras
import mlflow

logger = logging.getLogger(__name__)


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every epoch's metrics to one MLflow run (``run_id``), keys prefixed by ``prefix``.

    A failure to log (server gone, disk full) is reported once as a warning and training goes on:
    losing a metric is better than losing the training.
    """

    def __init__(self, run_id: str, prefix: str = ""):
        super().__init__()
        self.run_id = run_id
        self.prefix = prefix
        self._client = mlflow.MlflowClient()
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        metrics = {
            f"{self.prefix}{key}": float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, int | float) and math.isfinite(float(value))
        }
        if not metrics:
            return
        try:
            self._client.log_batch(
                self.run_id,
                metrics=[
                    mlflow.entities.Metric(key, value, int(_now_ms()), epoch)
                    for key, value in metrics.items()
                ],
            )
        except Exception as err:  # noqa: BLE001 - any tracking failure must not stop training
            if not self._warned:
                logger.warning("MLflow logging failed at epoch %d, training goes on: %s", epoch, err)
                self._warned = True


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
