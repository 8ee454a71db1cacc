"""Choose a ``tf.distribute`` strategy by name."""

from __future__ import annotations

import logging

import tensorflow as tf

from dlpipe.config.common import ConfigError
from dlpipe.training import keras_multi_worker
from dlpipe.training.cluster import MULTI_WORKER, cluster_role

logger = logging.getLogger(__name__)

_multi_worker: tf.distribute.MultiWorkerMirroredStrategy | None = None


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """This process's ``MultiWorkerMirroredStrategy`` over the cluster in ``TF_CONFIG``, created
    on the first call and returned by every later one.

    TensorFlow configures collective ops only before its runtime starts, so the first call must
    come before any TensorFlow operation: a Kedro run makes it before its first node
    (``dlpipe.worker_runs.check_training_workers``). Keras' ``fit`` is corrected to run under it
    (``dlpipe.training.keras_multi_worker``).

    Raises:
        ConfigError: ``TF_CONFIG`` is missing or unreadable.
        RuntimeError: TensorFlow had already started (the strategy was asked for too late).
    """
    global _multi_worker  # noqa: PLW0603 - TensorFlow allows one per process
    if _multi_worker is None:
        if cluster_role() is None:
            raise ConfigError(
                f"training.strategy: {MULTI_WORKER!r} trains on the workers that TF_CONFIG lists, and "
                "TF_CONFIG is not set; start the workers with `python -m dlpipe.launch` (README, "
                '"Scaling out")'
            )
        keras_multi_worker.apply()
        _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
    return _multi_worker


def resolve_strategy(name: str) -> tf.distribute.Strategy:
    """Return the strategy named in ``training.strategy``.

    ``auto``: MirroredStrategy over all GPUs when there are any, else the default strategy.
    ``mirrored``: MirroredStrategy over all GPUs, or over all logical CPU devices when there is no GPU
    (several logical CPUs exercise the multi-replica path on a machine without one).
    ``one_device``: the first GPU, else the CPU. ``multi_worker_mirrored``: the process's one
    ``MultiWorkerMirroredStrategy`` (see ``multi_worker_strategy``). ``default``: no distribution.
    """
    if name == MULTI_WORKER:
        strategy = multi_worker_strategy()
        logger.info(
            "Distribution strategy %s with %d replica(s) on %d worker(s)",
            type(strategy).__name__,
            strategy.num_replicas_in_sync,
            strategy.extended._num_workers,  # noqa: SLF001 - the one place TF reports it
        )
        return strategy
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        strategy = tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    elif name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    elif name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    elif name == "default":
        strategy = tf.distribute.get_strategy()
    else:
        raise ValueError(
            f"training.strategy: unknown value {name!r}; expected one of "
            "'auto', 'mirrored', 'one_device', 'multi_worker_mirrored', 'default'"
        )
    logger.info(
        "Distribution strategy %s with %d replica(s)",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    return strategy
