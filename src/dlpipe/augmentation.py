"""Image augmentation from config: the classic ops as Keras preprocessing layers."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from dlpipe.config.schema import AugmentationConfig


def build_augmenter(ops: list[dict[str, Any]], input_shape: list[int], seed: int) -> keras.Sequential | None:
    """Return a Sequential of augmentation layers for ``ops`` (None when the list is empty).

    Images are expected in [0, 1]. Each layer gets its own seed derived from ``seed``, so the same
    seed gives the same sequence of transformations.
    """
    config = AugmentationConfig(ops=ops)
    if not config.ops:
        return None
    height, width = int(input_shape[0]), int(input_shape[1])
    layers: list[keras.layers.Layer] = []
    for index, op in enumerate(config.ops):
        layer_seed = seed + index
        match op.op:
            case "rotation":
                layers.append(keras.layers.RandomRotation(op.factor, fill_mode="constant", seed=layer_seed))
            case "zoom":
                layers.append(
                    keras.layers.RandomZoom((-op.factor, op.factor), fill_mode="constant", seed=layer_seed)
                )
            case "flip":
                layers.append(keras.layers.RandomFlip(op.mode, seed=layer_seed))
            case "crop":
                layers.append(keras.layers.ZeroPadding2D(op.padding))
                layers.append(keras.layers.RandomCrop(height, width, seed=layer_seed))
            case "shear":
                layers.append(
                    keras.layers.RandomShear(op.factor, op.factor, fill_mode="constant", seed=layer_seed)
                )
            case "translation":
                layers.append(
                    keras.layers.RandomTranslation(
                        op.factor, op.factor, fill_mode="constant", seed=layer_seed
                    )
                )
            case "noise":
                layers.append(keras.layers.GaussianNoise(op.stddev, seed=layer_seed))
            case "brightness":
                layers.append(
                    keras.layers.RandomBrightness(op.factor, value_range=(0.0, 1.0), seed=layer_seed)
                )
            case "contrast":
                layers.append(keras.layers.RandomContrast(op.factor, value_range=(0.0, 1.0), seed=layer_seed))
    return keras.Sequential(layers, name="augmentation")


def augment_batch(images: np.ndarray, ops: list[dict[str, Any]], seed: int) -> np.ndarray:
    """Apply the configured augmentation once to a batch of uint8 images; returns floats in [0, 1]."""
    scaled = images.astype("float32") / 255.0
    augmenter = build_augmenter(ops, list(images.shape[1:]), seed)
    if augmenter is None:
        return scaled
    return np.clip(keras.ops.convert_to_numpy(augmenter(scaled, training=True)), 0.0, 1.0)
