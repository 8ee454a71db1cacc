"""Nodes of an experiment pipeline."""

from __future__ import annotations

import logging
import math
from typing import Any

import mlflow
import pandas as pd

from dlpipe.config.experiment import ExperimentBlock, ExperimentConfig
from dlpipe.experiments.figures import comparison_figure
from dlpipe.experiments.fits import run_arms
from dlpipe.experiments.verdict import json_safe, judge
from dlpipe.run_presentation import name_after_outcome
from dlpipe.tracking import try_tracking

logger = logging.getLogger(__name__)


def train_arms(config: dict[str, Any], parameters: dict[str, Any], *, block: str) -> list[dict[str, Any]]:
    """Train every arm of experiment ``block`` once per seed, each fit a nested run of the active one.

    ``parameters`` holds every block of the project: the arms override family blocks.
    Returns one record per fit (see ``dlpipe.experiments.fits.fit_and_measure``).
    """
    experiment = ExperimentBlock.model_validate(config).experiment
    active = mlflow.active_run()
    return run_arms(block, experiment, parameters, active.info.run_id if active else None)


def judge_claim(records: list[dict[str, Any]], config: dict[str, Any], *, block: str):
    """Judge the claim of experiment ``block`` from its fits.

    Returns:
        The verdict (claim, whether it held, each condition with its numbers, every arm's
        measures over seeds), the comparison figure, and a table of every fit's measures. The
        active MLflow run gets ``<block>.verdict_held`` (1 or 0) and each arm's mean of every
        measure the verdict checks (``<block>.<arm>.<measure>``), and its name says whether the
        claim held.
    """
    experiment = ExperimentBlock.model_validate(config).experiment
    verdict = judge(records, experiment)
    logger.info("Experiment verdict: %s", verdict["conclusion"])
    if mlflow.active_run() is not None:
        _log_verdict(block, experiment, verdict)
    table = pd.DataFrame(
        [{key: value for key, value in record.items() if key not in DESCRIPTIONS} for record in records]
    )
    return json_safe(verdict), comparison_figure(records, experiment, verdict), table


# What a fit's record holds besides numbers: kept in the store and the verdict, not in the table.
DESCRIPTIONS = ("curves", "gradient_norms", "layers", "overrides")


def _log_verdict(block: str, experiment: ExperimentConfig, verdict: dict[str, Any]) -> None:
    checked = dict.fromkeys(condition.measure for condition in experiment.verdict)
    metrics = {f"{block}.verdict_held": float(verdict["held"])}
    for arm in experiment.arms:
        for measure in checked:
            mean = verdict["arms"][arm]["measures"].get(measure, {}).get("mean", math.nan)
            if not math.isinf(mean):
                metrics[f"{block}.{arm}.{measure}"] = mean
    try_tracking("log the verdict", mlflow.log_metrics, metrics)
    name_after_outcome("claim held" if verdict["held"] else "claim did not hold", pipeline=block)
