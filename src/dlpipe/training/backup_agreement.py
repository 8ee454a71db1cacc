"""Workers of a multi-worker job agree on the backup they all resume from.

Every worker keeps its own backups, and a worker killed while writing one may be an epoch
behind the others. Workers that resumed from different epochs would run different numbers of
steps and wait on each other forever, so before restoring they choose the newest epoch that
every worker has, and after restoring they check that every one of them did.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from dlpipe.training.backup_folders import callback_state

logger = logging.getLogger(__name__)


def lockstep_strategy(model: keras.Model) -> tf.distribute.Strategy | None:
    """The model's strategy when it spans several workers (their steps must match), else None."""
    strategy = getattr(model, "distribute_strategy", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    return strategy if strategy.extended._num_workers > 1 else None  # noqa: SLF001 - only TF has it


def _count_everywhere(strategy: tf.distribute.Strategy, marks: np.ndarray) -> np.ndarray:
    """For each position, how many replicas of the job marked it (each replica counts its worker's
    ``marks``)."""
    local = tf.constant(marks.astype(np.float32))
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    return np.rint(total.numpy()).astype(int)


def newest_common_epoch(strategy: tf.distribute.Strategy, epochs: list[int], horizon: int) -> int:
    """The largest of ``epochs`` (this worker's backups, each at most ``horizon``) that every
    worker holds; 0 (start over) when there is none."""
    marks = np.zeros(horizon + 1)
    marks[0] = 1
    marks[[epoch for epoch in epochs if 0 <= epoch <= horizon]] = 1
    counts = _count_everywhere(strategy, marks)
    return int(np.flatnonzero(counts == strategy.num_replicas_in_sync).max())


def all_restored(strategy: tf.distribute.Strategy, epoch: int, horizon: int) -> bool:
    """Whether every worker restored ``epoch`` (each passes the epoch it actually restored)."""
    marks = np.zeros(horizon + 1)
    marks[min(max(epoch, 0), horizon)] = 1
    counts = _count_everywhere(strategy, marks)
    return bool(counts[min(max(epoch, 0), horizon)] == strategy.num_replicas_in_sync)


def restore_in_lockstep(backup, strategy: tf.distribute.Strategy) -> None:
    """What ``TrainingBackup.on_train_begin`` does on one worker of a multi-worker job: restore
    the newest epoch every worker holds, and start over on all of them unless all restored it. A
    finished training is not reused: only the chief keeps one."""
    horizon = int(backup.params.get("epochs", 0))
    held = {int(folder.name[6:]): folder for folder in backup.backups()}
    epoch = newest_common_epoch(strategy, list(held), horizon)
    initial_state = [variable.numpy() for variable in backup.variables()]
    initial_callbacks = [callback_state(callback) for callback in backup.stateful]
    if epoch > 0:
        backup.restore_newest([held[epoch]])
    if all_restored(strategy, backup.restored_epoch, horizon):
        return
    for variable, value in zip(backup.variables(), initial_state, strict=True):
        variable.assign(value)
    for callback, state in zip(backup.stateful, initial_callbacks, strict=True):
        for key, value in state.items():
            setattr(callback, key, value)
        if isinstance(callback, keras.callbacks.EarlyStopping):
            callback.best_weights = None
    backup.history, backup.restored_from, backup.restored_epoch, backup.epochs_done = {}, None, 0, 0
    backup.model._initial_epoch = 0
    logger.warning("The workers could not all restore epoch %d: training starts over from epoch 1", epoch)
