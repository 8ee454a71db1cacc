"""Nodes of the evaluation stage."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from dlpipe.config.schema import parse_node_config
from dlpipe.evaluation.metrics import evaluate_classifier
from dlpipe.evaluation.plots import plot_confusion_matrix, plot_training_curves


def evaluate_model(
    trained_model: keras.Model,
    test_split: dict[str, np.ndarray],
    dataset_info: dict[str, Any],
    config: dict[str, Any],
):
    """Evaluate the trained model on the test split (``x_test``, ``y_test``).

    Returns:
        MLflow metrics (``test_loss``, ``test_accuracy``, macro F1, per-class F1), the per-class
        precision/recall/F1 report and the confusion-matrix figure.
    """
    family_config = parse_node_config(config)
    result = evaluate_classifier(
        trained_model,
        test_split["x_test"],
        test_split["y_test"],
        class_names=dataset_info["class_names"],
        loss=family_config.training.loss,
        batch_size=family_config.training.batch_size,
    )
    report = result["report"]
    metrics = {
        "test_loss": result["test_loss"],
        "test_accuracy": result["test_accuracy"],
        "test_macro_f1": report["macro avg"]["f1-score"],
    }
    for index, name in enumerate(dataset_info["class_names"]):
        metrics[f"test_f1_class_{index}"] = report[name]["f1-score"]
    mlflow_metrics = {key: {"value": float(value), "step": 0} for key, value in metrics.items()}
    figure = plot_confusion_matrix(result["confusion_matrix"], dataset_info["class_names"])
    return mlflow_metrics, {**report, "confusion_matrix": result["confusion_matrix"]}, figure


def plot_training_history(training_history: dict[str, list[float]]):
    """Training curves (loss and accuracy, training and validation) of the final training."""
    return plot_training_curves(training_history)


def export_model(trained_model: keras.Model) -> keras.Model:
    """Hand the trained model to the MLflow model dataset, which logs it with the run."""
    return trained_model
