"""Nodes of the data stage."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpipe.config.schema import DatasetConfig
from dlpipe.data.loading import load_splits


def load_dataset(
    dataset: dict[str, Any], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]]:
    """Load ``dataset.name`` through TFDS and split it into seeded train/validation/test arrays.

    Returns:
        The splits (``x_train``, ``y_train``, ``x_val``, ``y_val``, ``x_test``, ``y_test``), the
        dataset's description (classes, input shape, split sizes) and the test split alone
        (``x_test``, ``y_test``), which the catalog keeps on disk for the evaluation stage.
    """
    splits, info = load_splits(DatasetConfig.model_validate(dataset), seed)
    return splits, info, {"x_test": splits["x_test"], "y_test": splits["y_test"]}
