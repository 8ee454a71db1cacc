"""Workers of a multi-worker job agree on the backup they all resume from.

Every worker keeps its own backups, and a worker killed while writing one may be an epoch
behind the others. Workers that resumed from different epochs would run different numbers of
steps and wait on each other forever, so before restoring they choose one epoch together, and
after restoring they check that every one of them did; otherwise all start over.
"""

from __future__ import annotations

import logging
import math
import shutil

import keras
import tensorflow as tf

from dlpipe.training.backup_folders import callback_state, read_metadata

logger = logging.getLogger(__name__)


def lockstep_strategy(model: keras.Model) -> tf.distribute.Strategy | None:
    """The model's strategy when it spans several workers (their steps must match), else None."""
    strategy = getattr(model, "distribute_strategy", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    return strategy if strategy.extended._num_workers > 1 else None  # noqa: SLF001 - only TF has it


def _mean_everywhere(strategy: tf.distribute.Strategy, value: float) -> float:
    """The mean of ``value`` over every replica of the job (each replica has its worker's)."""
    local = tf.constant(float(value), dtype=tf.float64)
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    return float(total.numpy()) / strategy.num_replicas_in_sync


def agreed_epoch(strategy: tf.distribute.Strategy, newest: int) -> int:
    """The epoch every worker resumes from, given each one's ``newest`` backup (0: none).

    Workers step together, so their newest backups differ by at most the one epoch a killed
    worker did not finish writing, and each keeps the one before too: the lowest newest epoch,
    the floor of their mean, is held by all. Where that does not hold, ``all_restored`` says so.
    """
    return math.floor(_mean_everywhere(strategy, newest) + 1e-9)


def all_restored(strategy: tf.distribute.Strategy, restored: bool) -> bool:
    """Whether every worker restored the agreed epoch (each passes whether it did)."""
    return _mean_everywhere(strategy, 1.0 if restored else 0.0) > 1 - 1e-9


def same_everywhere(strategy: tf.distribute.Strategy, value: float) -> bool:
    """Whether every worker passed the same ``value`` (integers below 2**40). Two rounds, so
    every worker gets the same answer: each says whether its value differs from the mean."""
    mean = _mean_everywhere(strategy, value)
    return _mean_everywhere(strategy, 0.0 if value == mean else 1.0) == 0.0


def check_same_training(backup, strategy: tf.distribute.Strategy) -> None:
    """Every worker must train the same configuration on data of the same size: workers with
    another ``conf/`` or dataset would take other steps and wait on each other forever.

    Raises:
        RuntimeError: on every worker, naming what this worker has.
    """
    fingerprint = backup.fingerprint or ""
    steps = int(backup.params.get("steps") or 0)
    # A fingerprint is hex; its first 8 digits sum exactly over any number of replicas. Both
    # checks run on every worker, whatever the first one says.
    mark = float(int(fingerprint[:8], 16)) if fingerprint else 0.0
    same = [same_everywhere(strategy, mark), same_everywhere(strategy, float(steps))]
    if not all(same):
        raise RuntimeError(
            f"The workers of this job train different configurations or data: this worker has "
            f"configuration fingerprint {fingerprint[:8] or 'none'} and {steps} steps per epoch. Every "
            "worker needs the same conf/, parameters and dataset (and the same resolved mixed precision)."
        )


def restore_in_lockstep(backup, strategy: tf.distribute.Strategy) -> None:
    """What ``TrainingBackup.on_train_begin`` does on one worker of a multi-worker job.

    The workers agree on an epoch and restore it; when one of them cannot, all try the epochs
    before it, and with none left all start over. Backups newer than the one restored are
    deleted, so a later restart never mixes them with this training's. A
    finished training is not reused (only the chief keeps one), and a fit whose agreed backup
    ended its training (early stopping) runs no epoch more. Every worker makes the same
    collective calls in the same order: each loop's decision is one they all share.
    """
    check_same_training(backup, strategy)
    held = {int(folder.name[6:]): folder for folder in backup.backups()}
    initial_state = [variable.numpy() for variable in backup.variables()]
    initial_callbacks = [callback_state(callback) for callback in backup.stateful]
    candidates = dict(held)
    while (epoch := agreed_epoch(strategy, max(candidates, default=0))) > 0:
        restored = epoch in candidates and backup.try_restore(candidates[epoch], initial_state)
        if all_restored(strategy, restored):
            _delete_newer(held, epoch)
            if read_metadata(held[epoch]).get("phase_done"):
                backup.model._initial_epoch = int(backup.params.get("epochs", epoch))
            return
        logger.warning("Not every worker could restore epoch %d: trying the epochs before it", epoch)
        candidates = {earlier: folder for earlier, folder in candidates.items() if earlier < epoch}
    for variable, value in zip(backup.variables(), initial_state, strict=True):
        variable.assign(value)
    for callback, state in zip(backup.stateful, initial_callbacks, strict=True):
        for key, value in state.items():
            setattr(callback, key, value)
        if isinstance(callback, keras.callbacks.EarlyStopping):
            callback.best_weights = None
    backup.history, backup.restored_from, backup.restored_epoch, backup.epochs_done = {}, None, 0, 0
    backup.model._initial_epoch = 0
    _delete_newer(held, 0)
    if held:
        logger.warning("The workers hold no backup they can all restore: training starts over from epoch 1")


def _delete_newer(held: dict, epoch: int) -> None:
    # Training continues from `epoch`: the later backups belong to a training that will not go on.
    for later, folder in held.items():
        if later > epoch:
            shutil.rmtree(folder, ignore_errors=True)
