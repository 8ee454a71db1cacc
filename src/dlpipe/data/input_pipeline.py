"""tf.data input pipelines: cache, shuffle, batch, augment, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_dataset(
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    shuffle_buffer: int = 10_000,
    augmenter=None,
    batch_fn=None,
) -> tf.data.Dataset:
    """Return a batched, prefetched dataset of ``(raw inputs, targets)``; numbers as float32,
    strings as they are.

    Inputs keep their raw values (pixels 0-255, raw measurements): the model's own preprocessing
    layers scale them, so what is trained is what is saved. ``targets`` come encoded by the task.
    Inputs are cached before shuffling, so later epochs skip the cast; augmentation runs per
    batch, after the cache, so every epoch sees fresh random transformations. ``batch_fn(x, y)``,
    when given, makes each batch what the model is fed after augmentation: ``(inputs, targets)``
    (a reconstruction target is the augmented input itself; a decoder is also fed its targets
    shifted by one step). Under a multi-worker strategy the batches are sharded by element.
    """
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if inputs.dtype != object:
        dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(min(shuffle_buffer, len(inputs)), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augmenter is not None:
        dataset = dataset.map(
            lambda x, y: (augmenter(x, training=True), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if batch_fn is not None:
        dataset = dataset.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Under a multi-worker strategy each worker takes its share of every global batch. The data
    # lives in memory, not in files, so it is sharded by element; every worker shuffles with the
    # same seed, so their shares never overlap.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def as_model_input(raw: np.ndarray):
    """Raw inputs as a model is called on them directly: strings as a string tensor (Keras' array
    adapter refuses NumPy arrays of bytes objects), numbers as float32."""
    return tf.constant(raw) if raw.dtype == object else raw.astype(np.float32)
