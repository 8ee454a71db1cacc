"""Nodes of the tuning stage."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd

from dlpipe.config.schema import parse_node_config
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.plots import message_figure
from dlpipe.tracking import try_tracking
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
        disabled) and one row per trial of the whole study. The active MLflow run gets the best
        trial's number and value (``tuning.best_trial``, ``tuning.best_<metric>``).
    """
    family_config = parse_node_config(config, augmentation_ops=augmentation_spec)
    if not family_config.tuning.enabled:
        return {}, pd.DataFrame(columns=["number", "state", "value"])
    study = run_study(family_config, dataset_splits, DataSpec.model_validate(data_spec))
    trials = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params"))
    trials["duration"] = trials["duration"].dt.total_seconds()
    best = study.best_trial
    if mlflow.active_run() is not None:
        try_tracking(
            "log the best trial",
            mlflow.log_metrics,
            {
                "tuning.best_trial": float(best.number),
                f"tuning.best_{family_config.tuning.metric}": best.value,
            },
        )
    return dict(best.params), trials


# Figures of the study, in the order of the node's outputs.
TUNING_FIGURES = (
    "optimization history",
    "parameter importances",
    "parallel coordinates",
    "slices",
    "contour",
)


def plot_tuning_results(tuning_trials: pd.DataFrame, config: dict[str, Any]) -> tuple:
    """The study's figures, one per entry of ``TUNING_FIGURES``: the optimization history, the
    parameter importances, parallel coordinates and slices of the most important parameters (up
    to 8 and 6), and the contour of the two most important ones.

    A figure the study cannot draw yet (too few completed trials, one tuned parameter) says why.
    """
    import matplotlib

    matplotlib.use("Agg")
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_plots

    family_config = parse_node_config(config)
    if not family_config.tuning.enabled or tuning_trials.empty:
        return tuple(message_figure("Tuning disabled: no study to plot") for _ in TUNING_FIGURES)
    study = open_study(family_config)
    tuned = sorted({name for t in study.get_trials(states=(TrialState.COMPLETE,)) for name in t.params})
    try:
        # Most important first; importances need two completed trials that differ in their parameters.
        ranked = list(get_param_importances(study))
    except (ValueError, RuntimeError):
        ranked = tuned
    draws = (
        (optuna_plots.plot_optimization_history, {}),
        (optuna_plots.plot_param_importances, {}),
        (optuna_plots.plot_parallel_coordinate, {"params": ranked[:8]}),
        (optuna_plots.plot_slice, {"params": ranked[:6]}),
        (optuna_plots.plot_contour, {"params": ranked[:2]} if len(ranked) >= 2 else None),
    )
    figures = []
    for title, (draw, arguments) in zip(TUNING_FIGURES, draws, strict=True):
        if arguments is None:
            figures.append(message_figure(f"No {title}: two tuned parameters needed, the study has {tuned}"))
            continue
        try:
            # Optuna returns one Axes, or an array of them (one per parameter): any gives the figure.
            figure = np.asarray(draw(study, **arguments)).flat[0].figure
        except (ValueError, RuntimeError) as err:
            figure = message_figure(f"No {title} yet: {err}")
        figure.set_size_inches(8, 5)
        figure.set_layout_engine("tight")
        figures.append(figure)
    return tuple(figures)
