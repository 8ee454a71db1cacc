"""Choose a ``tf.distribute`` strategy by name."""

from __future__ import annotations

import logging

import tensorflow as tf

logger = logging.getLogger(__name__)


def resolve_strategy(name: str) -> tf.distribute.Strategy:
    """Return the strategy named in ``training.strategy``.

    ``auto``: MirroredStrategy over all GPUs when there are any, else the default strategy.
    ``mirrored``: MirroredStrategy over all GPUs, or over all logical CPU devices when there is no GPU
    (several logical CPUs exercise the multi-replica path on a machine without one).
    ``one_device``: the first GPU, else the CPU. ``multi_worker_mirrored``: reads ``TF_CONFIG``.
    ``default``: no distribution.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        strategy = tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    elif name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    elif name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    elif name == "multi_worker_mirrored":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
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
