"""tf.data input pipelines: scale, cache, shuffle, batch, augment, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SPARSE_LOSSES = {"sparse_categorical_crossentropy"}


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    num_classes: int,
    loss: str,
    training: bool,
    seed: int,
    shuffle_buffer: int = 10_000,
    augmenter=None,
) -> tf.data.Dataset:
    """Return a batched, prefetched dataset of ``(float32 images in [0, 1], labels)``.

    Labels stay integer for sparse losses and are one-hot encoded for the others. Scaled images are
    cached before shuffling, so later epochs skip decoding; augmentation runs per batch, after the
    cache, so every epoch sees fresh random transformations.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    one_hot = loss not in SPARSE_LOSSES

    def scale(image, label):
        image = tf.cast(image, tf.float32) / 255.0
        if one_hot:
            label = tf.one_hot(label, num_classes)
        return image, label

    dataset = dataset.map(scale, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        dataset = dataset.shuffle(min(shuffle_buffer, len(images)), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augmenter is not None:
        dataset = dataset.map(
            lambda image, label: (augmenter(image, training=True), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
