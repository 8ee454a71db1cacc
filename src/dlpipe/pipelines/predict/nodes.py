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
from dlpipe.serving.inputs import InvalidInputs, fit_channels
from dlpipe.serving.served_model import ServedModel, load_served_model
from dlpipe.tracking import try_tracking

logger = logging.getLogger(__name__)

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def predict_batch(prediction_inputs: dict[str, Any], config: dict[str, Any]) -> pd.DataFrame:
    """The model's predictions for every input: a row per input, named by its file (or its index
    in an array), then the task's columns (class, label and each class's probability; values).

    The model and its registered version are recorded on the MLflow run.
    """
    settings = PredictConfig.model_validate(config)
    served, provenance = load_predictor(settings)
    spec = DataSpec.model_validate(served.spec)
    try:
        table = served.predictions(fit_channels(prediction_inputs["inputs"], spec.input_shape))
    except InvalidInputs as err:
        raise InvalidInputs(f"predict.inputs ({prediction_inputs['source']}): {err}") from None
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(f"predict.model: {settings.model} answers with arrays, not a table of predictions")
    table.insert(0, "input", prediction_inputs["names"])
    if mlflow.active_run() is not None:
        try_tracking(
            "record the model used", mlflow.set_tags, {f"predict.{k}": v for k, v in provenance.items()}
        )
        try_tracking("log the number of predictions", mlflow.log_metric, "predict.count", len(table))
    logger.info("Predicted %d inputs with %s", len(table), provenance)
    return table


def load_predictor(settings: PredictConfig) -> tuple[ServedModel, dict[str, str]]:
    """The model ``predict.model`` names, ready to predict, and where it came from (URI,
    registered model and version, logged model id, run)."""
    location = settings.model
    if location.startswith(MLFLOW_SCHEMES) or (Path(location) / "MLmodel").is_file():
        try:
            served = load_served_model(location)
        except ValueError as err:
            raise ConfigError(f"predict.model: {err}") from None
        except Exception as err:  # noqa: BLE001 - any store error: one clear message
            raise ConfigError(f"predict.model: cannot load MLflow model '{location}': {err}") from None
        served.batch_size = settings.batch_size
        return served, mlflow_provenance(location)
    return _keras_predictor(settings), {"model_uri": location}


def mlflow_provenance(uri: str) -> dict[str, str]:
    """The registered model and version (for ``models:/name@alias`` and ``models:/name/N``), or
    the logged model id, and the run of the MLflow model at ``uri``."""
    provenance = {"model_uri": uri}
    client = mlflow.MlflowClient()
    reference = uri.removeprefix("models:/")
    version = None
    if uri.startswith("models:/") and "@" in reference:
        name, alias = reference.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif uri.startswith("models:/") and reference.count("/") == 1:
        name, number = reference.split("/")
        version = client.get_model_version(name, number)
    if version is not None:
        provenance.update(
            registered_model=version.name,
            model_version=str(version.version),
            model_run_id=version.run_id or "",
        )
        if getattr(version, "model_id", None):
            provenance["model_id"] = version.model_id
    return provenance


def _keras_predictor(settings: PredictConfig) -> ServedModel:
    import keras

    import dlpipe.families  # noqa: F401 - registers the custom layers and models a saved model names
    from dlpipe.models.pretrained import resolve_saved_model
    from dlpipe.tasks import TASKS

    try:
        path = resolve_saved_model(settings.model)
    except FileNotFoundError:
        raise ConfigError(
            f"predict.model: no model at '{settings.model}'; expected an MLflow model URI "
            "(models:/dlpipe-cnn@champion) or a .keras file or versioned folder"
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
    served.keras_model = keras.models.load_model(path)
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
