"""Nodes of the evaluation stage."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from dlpipe.config.registry import gate_metric
from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.plots import plot_training_curves
from dlpipe.families import get_family
from dlpipe.run_presentation import after_training_step, name_after_headline
from dlpipe.tasks import Evaluation, get_task


def evaluate_model(
    trained_model: keras.Model,
    test_split: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    training_history: dict[str, list[float]],
    config: dict[str, Any],
):
    """Evaluate the trained model on the raw test split (``x_test``, ``y_test``) by its task,
    which also gets the training examples kept for it (``x_train``, ``y_train``) when it asked;
    the family's own figures are added to the task's. The run's name gets the headline score.

    Returns:
        MLflow metrics (``test_loss`` and the task's own, e.g. ``test_accuracy`` or ``test_mae``)
        at the step after the last epoch trained, the same scores as a plain dict, the task's JSON
        report and its figures (``{file name: figure}``).
    """
    family_config = parse_node_config(config)
    result = score_model(trained_model, test_split, DataSpec.model_validate(data_spec), family_config)
    step = after_training_step(training_history)
    mlflow_metrics = {key: {"value": float(value), "step": step} for key, value in result.metrics.items()}
    scores = {key: float(value) for key, value in result.metrics.items()}
    headline, _ = gate_metric(family_config)
    if headline in scores:
        name_after_headline(headline, scores[headline])
    figures = {f"{name}.png": figure for name, figure in result.figures.items()}
    return mlflow_metrics, scores, result.report, figures


def score_model(
    model: keras.Model, test_split: dict[str, np.ndarray], spec: DataSpec, family_config
) -> Evaluation:
    """The task's evaluation of ``model`` on the test split, with the family's own figures."""
    task = get_task(family_config.task)
    result = task.evaluate(
        model,
        test_split["x_test"],
        test_split["y_test"],
        spec,
        loss=family_config.training.loss,
        batch_size=family_config.training.batch_size,
        train_sample=(test_split["x_train"], test_split["y_train"]) if "x_train" in test_split else None,
        settings=family_config.evaluation,
    )
    family = get_family(family_config.model.family)
    if family.evaluation_figures is not None:
        own = family.evaluation_figures(model, test_split["x_test"], test_split["y_test"], spec)
        clash = set(own) & set(result.figures)
        if clash:
            raise ValueError(f"family '{family.name}' draws figures its task draws too: {sorted(clash)}")
        result.figures.update(own)
    return result


def plot_training_history(training_history: dict[str, list[float]]):
    """Training curves (loss and every metric, training and validation) of the final training."""
    return plot_training_curves(training_history)
