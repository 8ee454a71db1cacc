"""The model as dlpipe logs it to MLflow: raw inputs in, the task's predictions out.

What the evaluation scored is what is logged: the same Keras model (its preprocessing inside),
called by the same quiet batched prediction, its outputs turned into the task's prediction table
(class, label and probabilities; values in the targets' units). The MLflow model carries a
signature and an input example of raw inputs, dlpipe's own pinned requirements and its code, so
``mlflow.pyfunc.load_model(uri).predict(raw_inputs)`` works in a fresh process.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.serving.inputs import check_inputs

KERAS_ARTIFACT = "keras_model"
# Rows of the test split logged as the model's input example.
EXAMPLE_ROWS = 2


class ServedModel(mlflow.pyfunc.PythonModel):
    """An MLflow ``pyfunc`` model around a saved dlpipe Keras model of a served task."""

    # The signature is inferred from the data, not from type hints of ``predict``: MLflow then
    # neither wraps ``predict`` nor warns that it has none.
    _skip_type_hint_validation = True

    def __init__(self, task: str, spec: dict[str, Any], batch_size: int):
        self.task = task
        self.spec = spec
        self.batch_size = batch_size
        self.keras_model = None

    def load_context(self, context) -> None:
        from dlpipe.models.pretrained import load_saved_model

        self.keras_model = load_saved_model(context.artifacts[KERAS_ARTIFACT])

    def predict(self, context, model_input, params=None):
        """The task's predictions for ``model_input``, an array of raw inputs (one per row)."""
        return self.predictions(np.asarray(model_input))

    def predictions(self, inputs: np.ndarray):
        """The task's prediction table for raw ``inputs``, checked against the data first
        (:class:`dlpipe.serving.inputs.InvalidInputs` names what was expected)."""
        from dlpipe.tasks import get_task
        from dlpipe.tasks.base import predict

        spec = DataSpec.model_validate(self.spec)
        inputs = check_inputs(inputs, spec.input_shape, spec.input_dtype)
        return get_task(self.task).prediction_table(predict(self.keras_model, inputs, self.batch_size), spec)


def dlpipe_requirements() -> list[str]:
    """dlpipe's own pinned runtime requirements, as installed (no development extras)."""
    required = importlib.metadata.requires("dlpipe") or []
    return [requirement for requirement in required if "extra ==" not in requirement]


def log_served_model(
    model,
    spec: DataSpec,
    task: str,
    batch_size: int,
    example_inputs: np.ndarray,
    metadata: dict[str, Any],
    step: int = 0,
):
    """Log ``model`` to the active MLflow run as ``model``; returns MLflow's ``ModelInfo``.

    A served task's model is a :class:`ServedModel` with a signature inferred from
    ``example_inputs`` (raw test inputs); any other model is logged as a plain Keras model. The
    logged model carries the run's metrics logged at ``step`` (MLflow links them to it).
    """
    from dlpipe.tasks import get_task

    if not get_task(task).served:
        return mlflow.tensorflow.log_model(
            model, name="model", pip_requirements=dlpipe_requirements(), metadata=metadata, step=step
        )
    with tempfile.TemporaryDirectory() as folder:
        arguments = _pyfunc_arguments(model, spec, task, batch_size, example_inputs, metadata, folder)
        return mlflow.pyfunc.log_model(name="model", step=step, **arguments)


def save_served_model(
    path: Path, model, spec: DataSpec, task: str, batch_size: int, example_inputs: np.ndarray
) -> None:
    """Write the :class:`ServedModel` of ``model`` as an MLflow model folder at ``path``."""
    with tempfile.TemporaryDirectory() as folder:
        mlflow.pyfunc.save_model(
            str(path), **_pyfunc_arguments(model, spec, task, batch_size, example_inputs, {}, folder)
        )


def _pyfunc_arguments(model, spec, task, batch_size, example_inputs, metadata, folder) -> dict[str, Any]:
    from mlflow.models import infer_signature
    from mlflow.types import Schema, TensorSpec

    import dlpipe

    keras_path = Path(folder) / "model.keras"
    model.save(keras_path)
    served = ServedModel(task, spec.model_dump(mode="json"), batch_size)
    served.keras_model = model
    example = np.asarray(example_inputs[:EXAMPLE_ROWS])
    with warnings.catch_warnings():
        # MLflow's hint that integer columns (the predicted class) cannot hold missing values.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(example, served.predictions(example))
    if example.dtype != object:
        # Any number of examples, and any length where the data's shape says so (padded
        # sequences), not only the example's.
        shape = (-1, *(-1 if size is None else size for size in spec.input_shape))
        signature.inputs = Schema([TensorSpec(example.dtype, shape)])
    served.keras_model = None  # loaded from the artifact, not pickled
    return {
        "python_model": served,
        "artifacts": {KERAS_ARTIFACT: str(keras_path)},
        "signature": signature,
        "input_example": example,
        "pip_requirements": dlpipe_requirements(),
        # dlpipe's code travels with the model: the custom layers it names, this wrapper.
        "code_paths": [str(Path(dlpipe.__file__).parent)],
        "metadata": {"task": task, **metadata},
    }


def load_keras_model(uri: str):
    """The Keras model of an MLflow model logged by dlpipe: a :class:`ServedModel` or, for tasks
    that are not served (and models logged before), the ``tensorflow`` flavour."""
    from mlflow.models import get_model_info

    if "tensorflow" in get_model_info(uri).flavors:
        return mlflow.tensorflow.load_model(uri)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().keras_model


def load_served_model(uri: str):
    """The :class:`ServedModel` of an MLflow model URI; ValueError for a model dlpipe does not serve."""
    model = mlflow.pyfunc.load_model(uri)
    try:
        served = model.unwrap_python_model()
    except Exception:  # noqa: BLE001 - a flavour without a Python model
        served = None
    if not isinstance(served, ServedModel):
        raise ValueError(
            f"{uri} is not a model dlpipe serves (its task's models do not predict from inputs, or "
            "it was logged by another tool)"
        )
    return served
