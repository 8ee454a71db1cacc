"""A pretrained base for a model to build on: a saved model cut at a layer, or a Keras
Applications architecture with local weights; and the layers that adapt a dataset's raw images to
it. Errors name the keys of a family's ``model.base`` section.

dlpipe never downloads weights: a base comes from a file on this machine or an MLflow model URI
of this project's tracking store.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import keras

from dlpipe.data.spec import DataSpec
from dlpipe.models.pretrained import load_saved_model, resolve_saved_model

logger = logging.getLogger(__name__)

# Architectures that take raw 0-255 RGB pixels (their preprocessing is inside the model), with
# the smallest image side they accept.
APPLICATIONS = {
    "MobileNetV3Small": 32,
    "MobileNetV3Large": 32,
    "EfficientNetB0": 32,
}
MLFLOW_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


class BaseModelNotFoundError(FileNotFoundError):
    """The configured base model or weight file is not on this machine."""


def saved_model_file(location: str, key: str = "model.base.model") -> Path:
    """The ``.keras`` file of a saved model: a file, a Kedro versioned folder (its latest version)
    or an MLflow model URI (``models:/dlpipe-cnn/3``, ``runs:/<run id>/model``), fetched from the
    tracking store.

    Raises:
        BaseModelNotFoundError: nothing usable there; the message names ``key`` and the location.
    """
    if location.startswith(MLFLOW_URI_SCHEMES):
        return _fetched_mlflow_model(location, key)
    try:
        return resolve_saved_model(location)
    except FileNotFoundError:
        raise BaseModelNotFoundError(
            f"{key}: no saved model at '{location}' (expected a .keras file, the versioned folder "
            "a dlpipe run wrote, e.g. data/06_models/cnn/model.keras, or an MLflow model URI "
            "models:/<name>/<version>). Train the source first (`kedro run --pipelines=cnn`) or set "
            "model.base.train_if_missing"
        ) from None


@functools.lru_cache(maxsize=8)
def _fetched_mlflow_model(location: str, key: str) -> Path:
    """The ``.keras`` file of an MLflow model, fetched once per process (a registered version
    or a run's artifact never changes)."""
    import mlflow

    try:
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=location))
    except Exception as err:  # noqa: BLE001 - any store error: the same clear message
        raise BaseModelNotFoundError(f"{key}: cannot fetch MLflow model '{location}': {err}") from err
    found = sorted(folder.rglob("*.keras"))
    if not found:
        raise BaseModelNotFoundError(f"{key}: MLflow model '{location}' holds no .keras file")
    return found[0]


def cut(source: keras.Model, layer_name: str | None) -> keras.Model:
    """``source`` from its inputs to the output of ``layer_name``, named ``base``; by default to the
    input of its last layer (the features its own output read).

    Raises:
        ValueError: ``layer_name`` is not a layer of ``source``; the message lists them.
    """
    if layer_name is None:
        features = source.layers[-1].input
    else:
        names = [layer.name for layer in source.layers]
        if layer_name not in names:
            raise ValueError(
                f"model.base.cut_layer: '{layer_name}' is not a layer of the base model; its "
                f"layers are {names}"
            )
        if layer_name == names[0]:
            raise ValueError(
                f"model.base.cut_layer: '{layer_name}' is the base's input: nothing would be kept"
            )
        features = source.get_layer(layer_name).output
    return keras.Model(source.inputs, features, name="base")


def load_saved_base(location: str, cut_layer: str | None) -> keras.Model:
    """The saved model at ``location`` (see :func:`saved_model_file`), cut at ``cut_layer``."""
    source_file = saved_model_file(location)
    source = load_saved_model(source_file, compile=False)
    logger.info("Transfer base: %s, cut at %s", source_file, cut_layer or "its last layer's input")
    return cut(source, cut_layer)


def application_input_size(name: str, input_size: int | None, spec: DataSpec) -> int:
    """The image side an application base is fed: ``input_size``, else the data's larger side,
    at least the architecture's minimum."""
    return input_size or max(APPLICATIONS[name], *spec.input_shape[:2])


def application_base(name: str, weights: str | None, size: int) -> keras.Model:
    """Keras Applications' ``name`` without its classifier (average-pooled features), for
    ``size``x``size`` RGB images, with the weights of the local file ``weights`` when given.

    Raises:
        BaseModelNotFoundError: ``weights`` is not a file; ValueError: it does not fit ``name``.
    """
    if weights is not None and not Path(weights).expanduser().is_file():
        raise BaseModelNotFoundError(
            f"model.base.weights: no weight file at '{weights}'. dlpipe never downloads weights: "
            f"put {name}'s weights without its top (an .h5 or .weights.h5 file) on this machine "
            "and name it here, or use mode 'scratch'"
        )
    constructor = getattr(keras.applications, name)
    extra = {"include_preprocessing": True} if name.startswith("MobileNetV3") else {}
    base = constructor(input_shape=(size, size, 3), include_top=False, weights=None, pooling="avg", **extra)
    if weights is not None:
        try:
            base.load_weights(str(Path(weights).expanduser()))
        except Exception as err:  # noqa: BLE001 - any mismatch: name the key and the file
            raise ValueError(
                f"model.base.weights: '{weights}' does not hold {name}'s weights without its top "
                f"for {size}x{size}x3 inputs: {err}"
            ) from err
    return keras.Model(base.inputs, base.output, name="base")


def adapt_input(x, spec: DataSpec, base_shape: tuple) -> keras.KerasTensor:
    """Layers that turn the dataset's raw images into what the base takes: resized to its height
    and width, a single channel repeated when it takes three.

    Raises:
        ValueError: the data is not images, or its channels cannot be adapted; names the key.
    """
    if spec.modality != "image" or len(base_shape) != 3:
        raise ValueError(
            f"model.base: the base takes inputs of shape {tuple(base_shape)}; dataset "
            f"'{spec.name}' has {spec.modality} inputs of shape {tuple(spec.input_shape)}: "
            "transfer adapts images to an image base only"
        )
    height, width, channels = spec.input_shape
    base_height, base_width, base_channels = base_shape
    if channels != base_channels and not (channels == 1 and base_channels == 3):
        raise ValueError(
            f"model.base: the base takes images of {base_channels} channel(s); dataset "
            f"'{spec.name}' has {channels} (only 1 channel is adapted, repeated to 3)"
        )
    if (base_height, base_width) != (height, width) and None not in (base_height, base_width):
        x = keras.layers.Resizing(base_height, base_width, name="resize_to_base")(x)
    if channels != base_channels:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    return x
