"""MLflow logging used while models train (per-epoch metrics), resilient to a lost server."""

from __future__ import annotations

import logging
import math
import time

import keras
import mlflow

from dlpipe.interrupts import RunTerminated

logger = logging.getLogger(__name__)


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every epoch's metrics to one MLflow run (``run_id``), keys prefixed by ``prefix``.

    In the continued run of a job (``DLPIPE_JOB``), epochs the run already held when training
    began are not logged again. A failure to log (server gone, disk full) is reported once as a warning and
    training goes on: losing a metric is better than losing the training. The metrics that could
    not be sent are kept (up to ``max_pending``) and sent with a later epoch once the server
    answers again; while it does not, a new attempt is made at most every ``retry_interval_s``
    seconds, so a dead server costs one failed request per interval, not one per epoch.
    """

    def __init__(
        self, run_id: str, prefix: str = "", *, retry_interval_s: float = 30.0, max_pending: int = 10_000
    ):
        super().__init__()
        self.run_id = run_id
        self.prefix = prefix
        self.retry_interval_s = retry_interval_s
        self.max_pending = max_pending
        self._client = mlflow.MlflowClient()
        self._pending: list[tuple[int, dict[str, float]]] = []
        self._last_failure: float | None = None
        self._warned = False
        self._epochs_seen: set[int] = set()
        self._steps_logged_before: set[int] | None = None

    def on_train_begin(self, logs=None):
        if self._steps_logged_before is None:
            from dlpipe.job_runs import job_name

            # The run of a job started again (dlpipe.job_runs) may already hold an epoch that is
            # trained again from an older backup: its first value is kept, never a second. Other
            # runs are new, and skip the lookup.
            self._steps_logged_before = self._steps_held("loss") if job_name() else set()

    def on_epoch_end(self, epoch, logs=None):
        if epoch in (self._steps_logged_before or set()) and epoch not in self._epochs_seen:
            self._epochs_seen.add(epoch)
            return
        self._epochs_seen.add(epoch)
        metrics = {
            f"{self.prefix}{key}": float(value)
            for key, value in (logs or {}).items()
            if isinstance(value, int | float)
        }
        self._pending.append((epoch, metrics))
        del self._pending[: -self.max_pending]
        self.flush(epoch)

    def log_restored_epochs(self, history: dict[str, list[float]]) -> int:
        """Log the epochs of ``history`` this logger did not see: those an interrupted earlier
        process trained and a backup restored. The run that finishes a training then holds every
        epoch's metrics, from the first, once: epochs the run already holds (a resumed run, such as
        a multi-worker job's) are not logged again. Returns how many epochs it added."""
        epochs = max((len(values) for values in history.values()), default=0)
        held = self._steps_held(next(iter(history), None))
        restored = [epoch for epoch in range(epochs) if epoch not in self._epochs_seen | held]
        for epoch in restored:
            metrics = {
                f"{self.prefix}{key}": float(values[epoch])
                for key, values in history.items()
                if epoch < len(values) and isinstance(values[epoch], int | float)
            }
            self._pending.append((epoch, metrics))
            self._epochs_seen.add(epoch)
        if restored:
            self._pending.sort(key=lambda entry: entry[0])
            self.flush(None, force=True)
        return len(restored)

    def _steps_held(self, key: str | None) -> set[int]:
        """The steps of metric ``key`` the run already holds; none when it cannot be read (the
        epochs are then logged, as a run of their own would need)."""
        if key is None:
            return set()
        try:
            return {metric.step for metric in self._client.get_metric_history(self.run_id, self.prefix + key)}
        except RunTerminated:
            raise
        except Exception:  # noqa: BLE001 - an unreachable server: log them all
            return set()

    def on_train_end(self, logs=None):
        if self._pending:
            self.flush(None, force=True)

    def flush(self, epoch: int | None, *, force: bool = False) -> bool:
        """Send the pending metrics; False when the server still does not take them."""
        now = time.monotonic()
        if not force and self._last_failure is not None and now - self._last_failure < self.retry_interval_s:
            return False
        while self._pending:
            step, metrics = self._pending[0]
            if not log_metrics(self.run_id, metrics, step=step, client=self._client):
                self._last_failure = time.monotonic()
                if not self._warned:
                    logger.warning(
                        "MLflow logging to run %s failed at epoch %s; training goes on and the metrics "
                        "are kept to be sent when the tracking server answers again",
                        self.run_id,
                        "end" if epoch is None else epoch + 1,
                    )
                    self._warned = True
                return False
            self._pending.pop(0)
        if self._last_failure is not None:
            logger.warning("MLflow logging to run %s works again: pending metrics sent", self.run_id)
            self._last_failure, self._warned = None, False
        return True


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
    except RunTerminated:
        raise
    except Exception as err:  # noqa: BLE001 - any tracking failure must not stop training
        logger.warning("MLflow log_batch to run %s failed: %s", run_id, str(err).splitlines()[0][:300])
        return False
    return True


def try_tracking(action: str, call, *args, **kwargs) -> bool:
    """Run one MLflow call (``call(*args, **kwargs)``); on failure warn naming ``action``, return False.

    For bookkeeping inside a stage (parameters, summaries): a lost tracking server must not throw
    away the model the stage just trained.
    """
    try:
        call(*args, **kwargs)
    except RunTerminated:
        raise
    except Exception as err:  # noqa: BLE001 - any tracking failure
        logger.warning("MLflow: could not %s (%s); the stage goes on", action, str(err).splitlines()[0][:300])
        return False
    return True
