"""MLflow logging used while models train (per-epoch metrics), resilient to a lost server."""

from __future__ import annotations

import logging
import math
import time

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
            if isinstance(value, int | float)
        }
        if not log_metrics(self.run_id, metrics, step=epoch, client=self._client) and not self._warned:
            logger.warning("MLflow logging failed at epoch %d, training goes on", epoch)
            self._warned = True


def log_metrics(run_id: str, metrics: dict[str, float], *, step: int, client=None) -> bool:
    """Log finite ``metrics`` to ``run_id`` in one batch; returns False (and logs why) on failure.

    Tracking failures (server gone, disk full) never raise: losing a metric is better than losing
    the training.
    """
    finite = {key: float(value) for key, value in metrics.items() if math.isfinite(float(value))}
    if not finite:
        return True
    now_ms = int(time.time() * 1000)
    try:
        (client or mlflow.MlflowClient()).log_batch(
            run_id,
            metrics=[mlflow.entities.Metric(key, value, now_ms, step) for key, value in finite.items()],
        )
    except Exception as err:  # noqa: BLE001 - any tracking failure must not stop training
        logger.debug("MLflow log_batch to run %s failed: %s", run_id, err)
        return False
    return True
