"""Nodes of the augmentation stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.previews import preview_inputs


def prepare_augmentation(config: dict[str, Any], data_spec: dict[str, Any]) -> list[dict]:
    """Validate the block's augmentation ops for this dataset; returns the ops to apply.

    Raises:
        ValueError: ops are configured for inputs that are not images.
    """
    augmentation = parse_node_config(config).augmentation
    spec = DataSpec.model_validate(data_spec)
    if augmentation.ops and spec.modality != "image":
        raise ValueError(
            f"augmentation.ops: image augmentation needs images of shape (height, width, channels); "
            f"dataset '{spec.name}' has {spec.modality} inputs of shape {spec.input_shape}"
        )
    return [op.model_dump() for op in augmentation.ops]


def render_augmentation_samples(
    dataset_splits: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    augmentation_spec: list[dict],
    config: dict[str, Any],
):
    """A preview of training inputs as the model sees them: augmented images in a grid, or a few
    sequences, or two features of the tabular examples."""
    family_config = parse_node_config(config)
    return preview_inputs(
        dataset_splits,
        DataSpec.model_validate(data_spec),
        augmentation_spec,
        family_config.augmentation.grid_size,
        family_config.seed,
    )
