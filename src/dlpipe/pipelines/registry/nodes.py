"""Nodes of the registry stage."""

from __future__ import annotations

import logging
from typing import Any

import keras
import matplotlib.pyplot as plt
import mlflow
import numpy as np

from dlpipe import run_scope
from dlpipe.config.registry import gate_metric
from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.run_presentation import after_training_step
from dlpipe.serving.registry import evaluation_digest, register_and_gate
from dlpipe.serving.served_model import load_keras_model, log_served_model
from dlpipe.tracking import try_tracking

logger = logging.getLogger(__name__)


def log_model(
    trained_model: keras.Model,
    test_split: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    training_history: dict[str, list[float]],
    test_scores: dict[str, float],
    config: dict[str, Any],
) -> dict[str, str]:
    """Log the trained model to the run as the MLflow model ``model``: raw inputs in, the task's
    predictions out, with a signature and an input example from the raw test inputs.

    The logged model carries its test scores (``test_scores``, which the evaluation logged at the
    step after the last epoch; taking them here also makes the model wait for them).

    Returns:
        ``{"model_uri": ...}``; empty when no MLflow run is active.
    """
    if mlflow.active_run() is None:
        logger.warning("No active MLflow run: the model is not logged nor registered")
        return {}
    family_config = parse_node_config(config)
    info = log_served_model(
        trained_model,
        DataSpec.model_validate(data_spec),
        family_config.task,
        family_config.training.batch_size,
        test_split["x_test"],
        metadata={"family": family_config.model.family},
        step=after_training_step(training_history),
    )
    return {"model_uri": info.model_uri}


def _decision_label(decision) -> str:
    if decision.promoted:
        return "promoted"
    return "kept champion" if decision.champion_version is not None else "not promoted (no champion yet)"


def register_model(
    logged_model: dict[str, str],
    test_scores: dict[str, float],
    test_split: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    config: dict[str, Any],
    pipeline: str,
) -> dict[str, Any]:
    """Register the logged model as a new version and move the champion alias to it when it
    passes the gate (``registry`` parameters); log the decision on the run and say it once the
    run has succeeded.

    Returns:
        The decision (version, promoted, reason, both scores), or why nothing was registered.
    """
    family_config = parse_node_config(config)
    settings = family_config.registry
    if not settings.enabled or not logged_model:
        reason = "registry.enabled is false" if not settings.enabled else "no MLflow run was active"
        return {"registered_model": None, "promoted": False, "reason": reason}
    spec = DataSpec.model_validate(data_spec)
    metric, direction = gate_metric(family_config)

    def rescore(champion_uri: str) -> float:
        from dlpipe.pipelines.evaluation.nodes import score_model

        logger.info("Scoring the champion %s on this run's test split", champion_uri)
        result = score_model(load_keras_model(champion_uri), test_split, spec, family_config)
        for figure in result.figures.values():
            plt.close(figure)
        return float(result.metrics[metric])

    decision = register_and_gate(
        logged_model["model_uri"],
        name=settings.name or f"dlpipe-{pipeline}",
        alias=settings.alias,
        metric=metric,
        direction=direction,
        scores=test_scores,
        requirements=settings.require,
        min_improvement=settings.min_improvement,
        digest=evaluation_digest(
            *(test_split[key] for key in ("x_test", "y_test", "x_train", "y_train") if key in test_split),
            how=f"{metric} {family_config.training.loss}",
        ),
        rescore=rescore,
        when_run_succeeds=run_scope.on_success,
    )
    try_tracking(
        "log the registry decision",
        mlflow.set_tags,
        {
            "registry.model": decision.registered_model,
            "registry.version": decision.version,
            "registry.decision": _decision_label(decision),
            "registry.reason": decision.reason,
        },
    )
    scores = {"candidate_score": decision.candidate_score, "champion_score": decision.champion_score}
    try_tracking(
        "log the registry scores",
        mlflow.log_metrics,
        {f"registry.{key}": value for key, value in scores.items() if value is not None},
    )
    run_scope.on_success(lambda: logger.info(decision.summary()))
    return decision.as_dict()
