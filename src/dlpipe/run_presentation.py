"""What a person sees of dlpipe's runs in the MLflow UI.

- Every experiment dlpipe writes to is tagged as one of training runs (``mlflow.experimentKind``);
  MLflow 3.17's UI still follows its own GenAI / Model training switch, hence ``dlpipe.ui_links``.
- A run's name tells it apart from the others (``cnn 3f9a2c1e``, then ``cnn 3f9a2c1e
  test_accuracy=0.9274`` once evaluated) and its tags hold readable values.
- A run says which data it trained, validated and was tested on, as MLflow dataset inputs (the
  runs table's "Dataset" column): name, source folder, digest and size of each split.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from dlpipe.tracking import try_tracking

logger = logging.getLogger(__name__)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
# MLflow's experiment type for training runs (its UI's "experiment type" setting writes the same tag).
TRAINING_RUNS_KIND = "custom_model_development"
PIPELINE_TAG = "dlpipe.pipeline"
SPLIT_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}


def open_on_training_runs(experiment_id: str) -> None:
    """Tag the experiment as one of training runs, MLflow's own way to say which page it opens on."""
    client = mlflow.MlflowClient()
    if client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG) != TRAINING_RUNS_KIND:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, TRAINING_RUNS_KIND)


def run_name(pipelines: str, run_id: str) -> str:
    """The name of a pipeline run before any score is known: the pipelines and a short id."""
    return f"{pipelines} {run_id[:8]}"


def readable_runner(runner: Any) -> str:
    """``SequentialRunner`` for a runner object or its ``<kedro...SequentialRunner object at 0x..>``."""
    text = str(runner)
    found = re.search(r"(\w+) object at 0x", text)
    return found.group(1) if found else text


def present_pipeline_run(run_params: dict[str, Any], run_id: str, experiment_id: str) -> None:
    """Name and tag the active run of a ``kedro run`` for the UI, and tag its experiment's type."""
    pipelines = ",".join(run_params.get("pipeline_names") or ["__default__"])
    tags = {"mlflow.runName": run_name(pipelines, run_id), PIPELINE_TAG: pipelines}
    if run_params.get("runner"):
        tags["runner"] = readable_runner(run_params["runner"])
    try_tracking("name and tag the run", mlflow.set_tags, tags)
    try_tracking("tag the experiment's type", open_on_training_runs, experiment_id)


def name_after_headline(metric: str, value: float) -> None:
    """Add the headline test metric to the active run's name (``cnn 3f9a2c1e test_accuracy=0.9274``),
    unless the run is of several pipelines."""
    name_after_outcome(f"{metric}={value:.4f}")


def name_after_outcome(outcome: str, *, pipeline: str | None = None) -> None:
    """Add ``outcome`` to the active run's name (``experiment_dropout 3f9a2c1e claim held``),
    unless the run is of several pipelines, or of another pipeline than ``pipeline`` when given
    (an experiment's outcome inside a run of all of them)."""
    active = mlflow.active_run()
    if active is not None:
        try_tracking("name the run after its outcome", _rename, active.info.run_id, outcome, pipeline)


def _rename(run_id: str, outcome: str, pipeline: str | None) -> None:
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    pipelines = run.data.tags.get(PIPELINE_TAG, "")
    if "," in pipelines or (pipeline is not None and pipelines != pipeline):
        return  # one outcome would not say whose it is
    base = " ".join((run.info.run_name or "").split()[:2]) or run_name("run", run_id)
    client.set_tag(run_id, "mlflow.runName", f"{base} {outcome}")


def after_training_step(training_history: dict[str, list[float]]) -> int:
    """The MLflow step just after the last epoch trained (the number of epochs): the test metrics
    are logged at it and the logged model is linked to it, so the model carries its own test
    scores and no epoch's metrics (MLflow links a model to the run's metrics of one step)."""
    return max((len(values) for values in training_history.values()), default=0)


def log_dataset_inputs(splits: dict[str, np.ndarray], dataset_name: str, source: str | Path) -> None:
    """Log each split (``x_<split>``, ``y_<split>``) as an MLflow dataset input of the active run.

    The digest is MLflow's hash of the arrays, so two runs on the same examples show the same one.
    """
    if mlflow.active_run() is None:
        return
    for split, context in SPLIT_CONTEXTS.items():
        if {f"x_{split}", f"y_{split}"} <= splits.keys() and not try_tracking(
            f"log the {split} split as a dataset input",
            _log_split,
            splits[f"x_{split}"],
            splits[f"y_{split}"],
            name=f"{dataset_name} {split}",
            source=str(source),
            context=context,
        ):
            return


def _log_split(inputs, targets, *, name: str, source: str, context: str) -> None:
    from mlflow.data.sources import LocalArtifactDatasetSource

    dataset = mlflow.data.from_numpy(
        np.asarray(inputs), targets=np.asarray(targets), source=LocalArtifactDatasetSource(source), name=name
    )
    mlflow.log_input(dataset, context=context)
