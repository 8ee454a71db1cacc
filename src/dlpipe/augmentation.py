"""Image augmentation from config: the classic ops as Keras preprocessing layers."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from dlpipe.config.data import AugmentationConfig
from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import pixel_scale


def build_augmenter(ops: list[dict[str, Any]], spec: DataSpec, seed: int) -> keras.Sequential | None:
    """Return a Sequential of augmentation layers for ``ops`` (None when the list is empty).

    Images come raw (0-255 for uint8 pixels): the model rescales them after augmentation, so
    brightness, contrast and noise work in the raw pixel range. Each layer gets its own seed
    derived from ``seed``, so the same seed gives the same sequence of transformations.
    """
    config = AugmentationConfig(ops=ops)
    if not config.ops:
        return None
    height, width = int(spec.input_shape[0]), int(spec.input_shape[1])
    top = pixel_scale(spec)
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
                # Keras' GaussianNoise refuses a stddev above 1: add the noise in the [0, 1] range.
                layers.append(keras.layers.Rescaling(1.0 / top))
                layers.append(keras.layers.GaussianNoise(op.stddev, seed=layer_seed))
                layers.append(keras.layers.Rescaling(top))
            case "brightness":
                layers.append(
                    keras.layers.RandomBrightness(op.factor, value_range=(0.0, top), seed=layer_seed)
                )
            case "contrast":
                layers.append(keras.layers.RandomContrast(op.factor, value_range=(0.0, top), seed=layer_seed))
    return keras.Sequential(layers, name="augmentation")


def augment_batch(images: np.ndarray, ops: list[dict[str, Any]], spec: DataSpec, seed: int) -> np.ndarray:
    """Apply the configured augmentation once to a batch of raw images; returns floats in [0, 1]."""
    augmenter = build_augmenter(ops, spec, seed)
    raw = images.astype("float32")
    if augmenter is not None:
        raw = keras.ops.convert_to_numpy(augmenter(raw, training=True))
    return np.clip(raw / pixel_scale(spec), 0.0, 1.0)
