"""Nodes of the data stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.config.schema import parse_node_config
from dlpipe.data.loading import load_splits


def load_dataset(
    config: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]]:
    """Load the block's dataset through TFDS and split it into seeded train/validation/test arrays.

    Returns:
        The splits (``x_train``, ``y_train``, ``x_val``, ``y_val``, ``x_test``, ``y_test``), the
        dataset's description (a :class:`~dlpipe.data.spec.DataSpec` as a dict) and the test split
        alone (``x_test``, ``y_test``), which the catalog keeps on disk for the evaluation stage.
    """
    family_config = parse_node_config(config)
    splits, spec = load_splits(family_config.dataset, family_config.seed)
    return splits, spec.model_dump(mode="json"), {"x_test": splits["x_test"], "y_test": splits["y_test"]}
