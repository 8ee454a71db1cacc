"""Start a model from the weights of a model that an earlier dlpipe run saved."""

from __future__ import annotations

import logging
from pathlib import Path

import keras

logger = logging.getLogger(__name__)


def resolve_saved_model(path: str) -> Path:
    """Return the `.keras` file at ``path``.

    ``path`` is either the file itself or a Kedro versioned folder
    (``data/06_models/cnn/model.keras/<version>/model.keras``), whose latest version is used.

    Raises:
        FileNotFoundError: nothing usable at ``path``; the message names it.
    """
    location = Path(path).expanduser()
    if location.is_file():
        return location
    if location.is_dir():
        versions = sorted(
            (child / location.name for child in location.iterdir() if (child / location.name).is_file()),
            key=lambda file: file.parent.name,
        )
        if versions:
            return versions[-1]
    raise FileNotFoundError(
        f"model.initializer.pretrained_model: no saved model at '{path}' (expected a .keras file "
        "or the versioned folder a dlpipe run wrote, e.g. data/06_models/cnn/model.keras)"
    )


def load_saved_model(path: str | Path, **kwargs) -> keras.Model:
    """``keras.models.load_model(path, **kwargs)`` for a model dlpipe saved: every family is
    imported first, so the custom layers and models it names are found in any process."""
    from dlpipe.families import registered_families

    registered_families()
    return keras.models.load_model(path, **kwargs)


def load_pretrained_weights(model: keras.Model, path: str) -> int:
    """Copy the weights of every same-named, same-shaped layer from the saved model into ``model``.

    Returns the number of layers copied.

    Raises:
        ValueError: no layer matched, so nothing would be pretrained.
    """
    source_file = resolve_saved_model(path)
    source = load_saved_model(source_file, compile=False)
    source_layers = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in model.layers:
        match = source_layers.get(layer.name)
        if match is None or not layer.weights:
            continue
        weights = match.get_weights()
        if [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
    if not copied:
        raise ValueError(
            f"model.initializer.pretrained_model: no layer of '{source_file}' matches this model by "
            "name and shape; pretrain with the same architecture"
        )
    logger.info("Pretrained weights from %s for layers: %s", source_file, ", ".join(copied))
    return len(copied)
