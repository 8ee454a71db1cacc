"""Nodes of the batch prediction pipeline."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from dlpipe.config.common import ConfigError
from dlpipe.config.predict import PredictConfig
from dlpipe.data.spec import DataSpec
from dlpipe.models.transfer_base import MLFLOW_URI_SCHEMES
from dlpipe.serving.inputs import InvalidInputs, fit_channels
from dlpipe.serving.served_model import ServedModel, load_served_model
from dlpipe.tracking import try_tracking

logger = logging.getLogger(__name__)


def predict_batch(prediction_inputs: dict[str, Any], config: dict[str, Any]) -> pd.DataFrame:
    """The model's predictions for every input: a row per input, named by its file (or its index
    in an array), then the task's columns (class, label and each class's probability; values;
    decoded strings as ``prediction``).

    The model and its registered version are recorded on the MLflow run.
    """
    settings = PredictConfig.model_validate(config)
    served, provenance = load_predictor(settings)
    spec = DataSpec.model_validate(served.spec)
    try:
        predictions = served.predictions(fit_channels(prediction_inputs["inputs"], spec.input_shape))
    except InvalidInputs as err:
        raise InvalidInputs(f"predict.inputs ({prediction_inputs['source']}): {err}") from None
    table = as_table(predictions, settings.model)
    table.insert(0, "input", prediction_inputs["names"])
    if mlflow.active_run() is not None:
        try_tracking(
            "record the model used", mlflow.set_tags, {f"predict.{k}": v for k, v in provenance.items()}
        )
        try_tracking("log the number of predictions", mlflow.log_metric, "predict.count", len(table))
    logger.info("Predicted %d inputs with %s", len(table), provenance)
    return table


def as_table(predictions, model: str) -> pd.DataFrame:
    """A task's predictions as CSV rows: its table, or one ``prediction`` per input."""
    if isinstance(predictions, pd.DataFrame):
        return predictions
    if predictions.ndim == 1:
        return pd.DataFrame({"prediction": predictions})
    raise ConfigError(
        f"predict.model: {model} answers each input with an array of shape {predictions.shape[1:]}, "
        "which does not fit a row of a CSV file; serve it or call it from Python instead"
    )


def load_predictor(settings: PredictConfig) -> tuple[ServedModel, dict[str, str]]:
    """The model ``predict.model`` names, ready to predict, and where it came from (URI,
    registered model and version, run)."""
    location = settings.model
    if location.startswith(MLFLOW_URI_SCHEMES) or (Path(location) / "MLmodel").is_file():
        try:
            # An alias is resolved once: the version recorded is the version loaded.
            provenance = mlflow_provenance(location)
            served = load_served_model(provenance.get("resolved_uri", location))
        except ValueError as err:
            raise ConfigError(f"predict.model: {err}") from None
        except Exception as err:  # noqa: BLE001 - any store error: one clear message
            raise ConfigError(f"predict.model: cannot load MLflow model '{location}': {err}") from None
        served.batch_size = settings.batch_size
        return served, provenance
    return _keras_predictor(settings), {"model_uri": location}


def mlflow_provenance(uri: str) -> dict[str, str]:
    """Where the MLflow model at ``uri`` comes from: for a registered model
    (``models:/name@alias``, ``models:/name/N``), its name, version and run, and the URI of that
    version (``resolved_uri``)."""
    provenance = {"model_uri": uri}
    reference = uri.removeprefix("models:/") if uri.startswith("models:/") else ""
    name, at, alias = reference.partition("@")
    base, slash, number = reference.partition("/")
    client = mlflow.MlflowClient()
    if at:
        version = client.get_model_version_by_alias(name, alias)
    elif slash and number.isdigit():
        version = client.get_model_version(base, number)
    else:
        return provenance
    return {
        **provenance,
        "registered_model": version.name,
        "model_version": str(version.version),
        "model_run_id": version.run_id or "",
        "resolved_uri": f"models:/{version.name}/{version.version}",
    }


def _keras_predictor(settings: PredictConfig) -> ServedModel:
    from dlpipe.models.pretrained import load_saved_model, resolve_saved_model
    from dlpipe.tasks import TASKS

    try:
        path = resolve_saved_model(settings.model)
    except FileNotFoundError:
        raise ConfigError(
            f"predict.model: no model at '{settings.model}'; expected an MLflow model URI "
            "(models:/dlpipe-<pipeline>@champion) or a .keras file or versioned folder"
        ) from None
    if settings.task not in TASKS or not TASKS[settings.task].served:
        served_tasks = sorted(name for name, task in TASKS.items() if task.served)
        raise ConfigError(
            f"predict.task: {settings.task!r}; a .keras model does not record its task: expected one of "
            f"{served_tasks}"
        )
    spec_path = Path(settings.data_spec) if settings.data_spec else _written_data_spec(path)
    if spec_path is None or not spec_path.is_file():
        raise ConfigError(
            f"predict.data_spec: no data description at {spec_path}; give the data_spec.json of the "
            "run that trained the model"
        )
    served = ServedModel(settings.task, json.loads(spec_path.read_text()), settings.batch_size)
    served.keras_model = load_saved_model(path)
    return served


def _written_data_spec(model_file: Path) -> Path | None:
    """The data description a pipeline wrote beside its models: for
    ``data/06_models/<block>/model.keras/<version>/model.keras``,
    ``data/02_intermediate/<block>/data_spec.json``."""
    parts = model_file.resolve().parts
    if "06_models" not in parts or len(parts) <= parts.index("06_models") + 1:
        return None
    index = parts.index("06_models")
    return Path(*parts[:index], "02_intermediate", parts[index + 1], "data_spec.json")
