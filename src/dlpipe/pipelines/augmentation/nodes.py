"""Nodes of the augmentation stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.augmentation import augment_batch
from dlpipe.config.schema import AugmentationConfig
from dlpipe.evaluation.plots import plot_image_grid


def prepare_augmentation(augmentation: dict[str, Any], dataset_info: dict[str, Any]) -> list[dict]:
    """Validate the configured augmentation ops for this dataset; returns the ops to apply.

    Raises:
        ValueError: an op cannot apply to these inputs (e.g. images with fewer than 2 dimensions).
    """
    config = AugmentationConfig.model_validate(augmentation)
    if config.ops and len(dataset_info["input_shape"]) != 3:
        raise ValueError(
            f"augmentation.ops: image augmentation needs inputs of shape (height, width, channels); "
            f"dataset '{dataset_info['name']}' has input_shape {dataset_info['input_shape']}"
        )
    return [op.model_dump() for op in config.ops]


def render_augmentation_samples(
    dataset_splits: dict[str, np.ndarray],
    dataset_info: dict[str, Any],
    augmentation_spec: list[dict],
    augmentation: dict[str, Any],
    seed: int,
):
    """A grid of training images after augmentation, to check the strengths by eye."""
    count = AugmentationConfig.model_validate(augmentation).grid_size ** 2
    images = dataset_splits["x_train"][:count]
    labels = [dataset_info["class_names"][int(y)] for y in dataset_splits["y_train"][:count]]
    ops = ", ".join(op["op"] for op in augmentation_spec) or "none"
    return plot_image_grid(augment_batch(images, augmentation_spec, seed), labels, f"Augmented: {ops}")
