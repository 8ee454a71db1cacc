"""Nodes of the data stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.config.schema import parse_node_config
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, prepare_family
from dlpipe.run_presentation import log_dataset_inputs
from dlpipe.tasks import get_task


def load_dataset(
    config: dict[str, Any],
    parameters: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]]:
    """Load the block's dataset through TFDS and split it into seeded train/validation/test arrays.

    ``parameters`` holds every block of the project, for a family that needs another block's
    work done first (see ``Family.prepare``); that is done here too, before any training node.

    Returns:
        The splits (``x_train``, ``y_train``, ``x_val``, ``y_val``, ``x_test``, ``y_test``), the
        dataset's description (a :class:`~dlpipe.data.spec.DataSpec` as a dict) and what the
        evaluation stage reads, which the catalog keeps on disk: the test split (``x_test``,
        ``y_test``) and, for a task that fits something at evaluation (a linear probe), the first
        training examples (``x_train``, ``y_train``; the splits are already shuffled).
    """
    family_config = parse_node_config(config)
    splits, spec = load_splits(family_config.dataset, family_config.seed)
    evaluation_data = {"x_test": splits["x_test"], "y_test": splits["y_test"]}
    check_fits_data(family_config, spec)  # before any training time is spent
    dataset = family_config.dataset
    log_dataset_inputs(splits, dataset.name, Path(dataset.data_dir) / dataset.name.split(":")[0])
    prepare_family(family_config, spec, parameters)
    count = get_task(family_config.task).train_examples_for_evaluation(spec)
    if count:
        evaluation_data.update(x_train=splits["x_train"][:count], y_train=splits["y_train"][:count])
    return splits, spec.model_dump(mode="json"), evaluation_data
