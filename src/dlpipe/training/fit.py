"""The one function that builds, compiles and fits a model: used by tuning and final training."""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from dlpipe.augmentation import build_augmenter
from dlpipe.config.schema import FamilyConfig, OptimizerConfig
from dlpipe.data.input_pipeline import make_dataset
from dlpipe.models import build_model
from dlpipe.training.strategy import resolve_strategy

logger = logging.getLogger(__name__)


def build_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    """Return the Keras optimizer named in ``config`` with its learning rate (and SGD momentum)."""
    if config.name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=config.learning_rate, momentum=config.momentum, nesterov=config.nesterov
        )
    optimizer_class = {
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }[config.name]
    return optimizer_class(learning_rate=config.learning_rate)


def fit_model(
    config: FamilyConfig,
    splits: dict[str, np.ndarray],
    dataset_info: dict[str, Any],
    *,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    train_subset: int | None = None,
    validation_subset: int | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build ``config.model`` under the configured strategy, compile and fit it.

    Returns the model and its per-epoch history. The training split is augmented with
    ``config.augmentation``; ``train_subset``/``validation_subset`` keep the first N examples
    (the splits are already shuffled with the seed).
    """
    keras.utils.set_random_seed(config.seed)
    training = config.training
    strategy = resolve_strategy(training.strategy)
    with strategy.scope():
        model = build_model(dataset_info["input_shape"], dataset_info["num_classes"], config.model)
        model.compile(
            optimizer=build_optimizer(training.optimizer),
            loss=training.loss,
            metrics=["accuracy"],
        )

    common = {
        "batch_size": training.batch_size,
        "num_classes": dataset_info["num_classes"],
        "loss": training.loss,
        "seed": config.seed,
        "shuffle_buffer": config.dataset.shuffle_buffer,
    }
    augmenter = build_augmenter(
        [op.model_dump() for op in config.augmentation.ops], dataset_info["input_shape"], config.seed
    )
    train_data = make_dataset(
        splits["x_train"][:train_subset],
        splits["y_train"][:train_subset],
        training=True,
        augmenter=augmenter,
        **common,
    )
    validation_data = make_dataset(
        splits["x_val"][:validation_subset],
        splits["y_val"][:validation_subset],
        training=False,
        **common,
    )
    history = model.fit(
        train_data,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=callbacks,
        verbose=training.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}
