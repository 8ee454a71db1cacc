"""Two corrections that let Keras 3's ``fit`` run under ``MultiWorkerMirroredStrategy``.

With two workers, ``model.fit`` of Keras 3.15.1 on the TensorFlow backend fails before its first
step, and again at the end of it:

1. Before building the model's training state it averages the first batch over the replicas
   (``strategy.reduce("MEAN", (x, y))``) to learn its shapes. Collective all-reduce cannot reduce
   a structure of ``PerReplica`` values: "Attempt to convert a value (PerReplica...) with an
   unsupported type". Any one replica's batch has the shapes it needs.
2. The step's metrics, scalars, are averaged over the workers along ``axis=0``, which a scalar
   does not have (keras-team/keras#20585, tensorflow/tensorflow#72388). Averaging the values
   themselves (``axis=None``) is what a single-worker strategy does.

``docs/scaling_out.md`` has the reproduction. ``apply`` replaces the two functions in Keras'
TensorFlow trainer and is a no-op when called again; everything else in ``fit`` (callbacks,
gradient all-reduce, early stopping) is Keras' own.
"""

from __future__ import annotations

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

_keras_reduce_per_replica = tf_trainer.reduce_per_replica


def _first_replica(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, epoch_iterator in iterator:
            # Only the shapes are needed: one replica's batch has them.
            data_batch = tree.map_structure(_first_replica, next(epoch_iterator))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    if tf_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
        return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
    return _keras_reduce_per_replica(values, strategy, reduction)


def apply() -> None:
    """Install both corrections into Keras' TensorFlow trainer (idempotent)."""
    tf_trainer.reduce_per_replica = _reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
