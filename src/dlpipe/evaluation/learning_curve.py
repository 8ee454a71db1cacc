"""Learning curves: each arm of a block trained on growing training subsets, scored on the test split."""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np
import pandas as pd

from dlpipe.config.schema import FamilyConfig, parse_node_config
from dlpipe.data.input_pipeline import make_dataset
from dlpipe.data.spec import DataSpec
from dlpipe.families import get_family
from dlpipe.tasks import get_task
from dlpipe.tasks.base import batch_fn
from dlpipe.training.callbacks import early_stopping_callbacks
from dlpipe.training.fit import encoded_targets, fit_model, monitor_mode

logger = logging.getLogger(__name__)


def test_metric_name(config: FamilyConfig) -> str:
    """The metric a curve reports: the family's (or task's) main metric, on the test split."""
    main = get_family(config.model.family).main_metric or get_task(config.task).main_metric
    return "test_" + main.removeprefix("val_")


def test_score(
    model: keras.Model, config: FamilyConfig, splits: dict[str, np.ndarray], spec: DataSpec
) -> float:
    """``model``'s main metric on the raw test split, batched and encoded as in training."""
    task = get_task(config.task)
    data = make_dataset(
        splits["x_test"],
        encoded_targets(config, splits["y_test"], spec),
        batch_size=config.training.batch_size,
        training=False,
        seed=0,
        batch_fn=batch_fn(task, spec),
    )
    metric = test_metric_name(config)
    scores = model.evaluate(data, return_dict=True, verbose=0)
    if metric.removeprefix("test_") in scores:
        return float(scores[metric.removeprefix("test_")])
    # A metric the model does not compute itself (one its family's callbacks add): the task's
    # full evaluation reports it.
    evaluation = task.evaluate(
        model,
        splits["x_test"],
        splits["y_test"],
        spec,
        config.training.loss,
        config.training.batch_size,
        settings=config.evaluation,
    )
    return float(evaluation.metrics[metric])


def learning_curve(
    config: dict[str, Any],
    splits: dict[str, np.ndarray],
    spec: DataSpec,
    *,
    overrides: dict[str, Any] | None = None,
    augmentation_ops: list[dict] | None = None,
) -> pd.DataFrame:
    """Train every arm of ``config['learning_curve']`` at every training size and seed.

    ``config`` is the block as a node receives it, ``overrides`` the tuned parameters (applied
    before each arm's own). Every arm at a size trains on the same first N examples of the
    (seeded, shuffled) training split; seeds change the initialisation and the batch order. Early
    stopping on the validation split restores each fit's best epoch.

    Returns:
        One row per fit: ``arm``, ``train_size``, ``seed``, the test metric, ``epochs``, ``seconds``.
    """
    curve = parse_node_config(config, overrides=overrides, augmentation_ops=augmentation_ops).learning_curve
    available = len(splits["x_train"])
    counts = list(
        dict.fromkeys(available if size is None else min(size, available) for size in curve.train_sizes)
    )
    if len(counts) < len(curve.train_sizes):
        logger.warning(
            "learning_curve.train_sizes %s: the training split has %d examples; sizes %s are trained",
            curve.train_sizes,
            available,
            counts,
        )
    rows = []
    for count in counts:
        seeds = curve.seeds if count <= curve.repeat_up_to else curve.seeds[:1]
        for arm, arm_overrides in curve.arms.items():
            for seed in seeds:
                arm_config = parse_node_config(
                    config,
                    overrides={**(overrides or {}), **arm_overrides, "seed": seed},
                    augmentation_ops=augmentation_ops,
                )
                rows.append(_fit_and_score(arm, arm_config, splits, spec, count, curve.epochs))
                logger.info("Learning curve: %s", rows[-1])
    return pd.DataFrame(rows)


def _fit_and_score(
    arm: str, config: FamilyConfig, splits, spec: DataSpec, count: int, epochs: int | None
) -> dict:
    keras.backend.clear_session()
    callbacks = early_stopping_callbacks(
        config.training, monitor_mode(config, config.training.early_stopping.monitor)
    )
    started = time.perf_counter()
    model, history = fit_model(
        config, splits, spec, epochs=epochs or config.training.epochs, callbacks=callbacks, train_subset=count
    )
    return {
        "arm": arm,
        "train_size": count,
        "seed": config.seed,
        test_metric_name(config): test_score(model, config, splits, spec),
        "epochs": len(history.get("loss", [])),
        "seconds": round(time.perf_counter() - started, 1),
    }


def summarize(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per arm and training size: the metric's mean, lowest and highest over seeds, and the runs."""
    grouped = runs.groupby(["arm", "train_size"], sort=False)[metric]
    return grouped.agg(mean="mean", low="min", high="max", runs="count").reset_index()


def plot_learning_curve(summary: pd.DataFrame, metric: str):
    """Test metric against training examples (log scale), one line per arm, seeds' range as bars."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for arm, rows in summary.groupby("arm", sort=False):
        axes.errorbar(
            rows["train_size"],
            rows["mean"],
            yerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]],
            marker="o",
            capsize=3,
            label=arm,
        )
    axes.set_xscale("log")
    axes.set_xlabel("training examples")
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title("Learning curve (mean over seeds, bars: lowest to highest)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.set_layout_engine("tight")
    return figure
