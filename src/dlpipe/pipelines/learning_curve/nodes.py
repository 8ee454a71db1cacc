"""Nodes of the learning-curve stage."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd

from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.learning_curve import learning_curve, plot_learning_curve, summarize, test_metric_name
from dlpipe.evaluation.plots import message_figure
from dlpipe.tracking import try_tracking


def compute_learning_curve(
    dataset_splits: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    augmentation_spec: list[dict],
    best_params: dict[str, Any],
    config: dict[str, Any],
):
    """Train the block's learning-curve arms (with the tuned parameters) at every training size.

    Returns:
        The table (per arm and size: the test metric's mean, lowest and highest over seeds, runs)
        and its figure. Each mean is logged on the run as
        ``learning_curve.<arm>.n<size>.<metric>``.
    """
    family_config = parse_node_config(config, overrides=best_params, augmentation_ops=augmentation_spec)
    if not family_config.learning_curve.enabled:  # turned off in this run's environment
        return pd.DataFrame(columns=["arm", "train_size"]), message_figure("Learning curve disabled")
    runs = learning_curve(
        config,
        dataset_splits,
        DataSpec.model_validate(data_spec),
        overrides=best_params,
        augmentation_ops=augmentation_spec,
    )
    metric = test_metric_name(family_config)
    summary = summarize(runs, metric)
    if mlflow.active_run() is not None:
        try_tracking(
            "log the learning curve",
            mlflow.log_metrics,
            {
                f"learning_curve.{row.arm}.n{row.train_size}.{metric}": float(row.mean)
                for row in summary.itertuples()
            },
        )
    table = summary.merge(
        runs.groupby(["arm", "train_size"], sort=False)[["epochs", "seconds"]].mean().reset_index(),
        on=["arm", "train_size"],
    )
    return table, plot_learning_curve(summary, metric)
