"""Nodes of the augmentation stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.config.data import AugmentationConfig
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.previews import preview_inputs


def prepare_augmentation(augmentation: dict[str, Any], data_spec: dict[str, Any]) -> list[dict]:
    """Validate the configured augmentation ops for this dataset; returns the ops to apply.

    Raises:
        ValueError: ops are configured for inputs that are not images.
    """
    config = AugmentationConfig.model_validate(augmentation)
    spec = DataSpec.model_validate(data_spec)
    if config.ops and spec.modality != "image":
        raise ValueError(
            f"augmentation.ops: image augmentation needs images of shape (height, width, channels); "
            f"dataset '{spec.name}' has {spec.modality} inputs of shape {spec.input_shape}"
        )
    return [op.model_dump() for op in config.ops]


def render_augmentation_samples(
    dataset_splits: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    augmentation_spec: list[dict],
    augmentation: dict[str, Any],
    seed: int,
):
    """A preview of training inputs as the model sees them: augmented images in a grid, or a few
    sequences, or two features of the tabular examples."""
    grid_size = AugmentationConfig.model_validate(augmentation).grid_size
    return preview_inputs(dataset_splits, DataSpec.model_validate(data_spec), augmentation_spec, grid_size, seed)
