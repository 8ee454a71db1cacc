"""tf.data input pipelines: scale, cache, shuffle, batch, augment, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
BINARY_LOSSES = {"binary_crossentropy"}


def label_encoding(loss: str) -> str:
    """How labels are fed for ``loss``: ``sparse`` class ids, ``binary`` 0/1 floats, or ``one_hot``."""
    if loss in SPARSE_LOSSES:
        return "sparse"
    if loss in BINARY_LOSSES:
        return "binary"
    return "one_hot"


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

    Labels stay integer for sparse losses, become a 0/1 float column for binary cross-entropy and
    are one-hot encoded for the others (categorical cross-entropy, KL divergence, MSE...). Scaled images are
    cached before shuffling, so later epochs skip decoding; augmentation runs per batch, after the
    cache, so every epoch sees fresh random transformations.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    encoding = label_encoding(loss)

    def scale(image, label):
        image = tf.cast(image, tf.float32) / 255.0
        if encoding == "one_hot":
            label = tf.one_hot(label, num_classes)
        elif encoding == "binary":
            label = tf.cast(tf.reshape(label, [1]), tf.float32)
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
