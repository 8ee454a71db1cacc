"""Nodes of the tuning stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.plots import message_figure
from dlpipe.tuning.study import open_study, run_study


def tune_hyperparameters(
    dataset_splits: dict[str, np.ndarray],
    data_spec: dict[str, Any],
    augmentation_spec: list[dict],
    config: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run this run's trials of the family's Optuna study (continuing it if it exists).

    Returns:
        The best trial's parameters as ``{dotted parameter path: value}`` (empty when tuning is
        disabled) and one row per trial of the whole study.
    """
    family_config = parse_node_config(config, augmentation_ops=augmentation_spec)
    if not family_config.tuning.enabled:
        return {}, pd.DataFrame(columns=["number", "state", "value"])
    study = run_study(family_config, dataset_splits, DataSpec.model_validate(data_spec))
    trials = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params"))
    trials["duration"] = trials["duration"].dt.total_seconds()
    return dict(study.best_trial.params), trials


def plot_tuning_results(tuning_trials: pd.DataFrame, config: dict[str, Any]):
    """Optimization history and parameter importances of the study, as two figures."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as optuna_plots

    family_config = parse_node_config(config)
    if not family_config.tuning.enabled or tuning_trials.empty:
        return (
            message_figure("Tuning disabled: no study to plot"),
            message_figure("Tuning disabled: no study to plot"),
        )
    study = open_study(family_config)
    history = optuna_plots.plot_optimization_history(study).figure
    try:
        importance = optuna_plots.plot_param_importances(study).figure
    except (ValueError, RuntimeError) as err:
        # Importances need at least two completed trials that differ in their parameters.
        importance = message_figure(f"Parameter importances not available yet: {err}")
    for figure in (history, importance):
        figure.set_size_inches(8, 5)
        figure.tight_layout()
    return history, importance
