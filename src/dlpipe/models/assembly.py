"""Assemble a functional model: the data's preprocessing, a family's body, the task's output."""

from __future__ import annotations

from collections.abc import Callable

import keras

from dlpipe.data.spec import DataSpec
from dlpipe.models.blocks import LayerOptions
from dlpipe.models.preprocessing import model_inputs
from dlpipe.models.pretrained import load_pretrained_weights
from dlpipe.tasks import get_task


def assemble_functional_model(
    spec: DataSpec,
    config,
    body: Callable[[keras.KerasTensor, LayerOptions], keras.KerasTensor],
) -> keras.Model:
    """``inputs → preprocessing → body(x, options) → the block's task's output``, named after
    the family.

    ``config`` is a validated block; the kernel options (initializer, penalties, max-norm) of
    ``config.model`` go to every layer the body and the output create. With the ``pretrained``
    initializer, the weights of same-named layers are then copied from the saved model.
    """
    model_config = config.model
    options = LayerOptions(model_config)
    inputs, x = model_inputs(spec)
    x = body(x, options)
    outputs = get_task(config.task).output_head(x, spec, config.training.loss, **options())
    model = keras.Model(inputs, outputs, name=model_config.family)
    if model_config.initializer.name == "pretrained":
        load_pretrained_weights(model, model_config.initializer.pretrained_model)
    return model
