"""The one function that builds, compiles and fits a model: used by tuning and final training."""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import numpy as np

from dlpipe.augmentation import build_augmenter
from dlpipe.config.schema import FamilyConfig, LearningRateScheduleConfig, OptimizerConfig
from dlpipe.data.input_pipeline import make_dataset
from dlpipe.models import build_model
from dlpipe.training.strategy import resolve_strategy

logger = logging.getLogger(__name__)


def build_learning_rate(
    initial: float, schedule: LearningRateScheduleConfig, *, epochs: int, steps_per_epoch: int
):
    """The learning rate given to the optimizer: a float or a per-step schedule.

    ``reduce_on_plateau`` works through a callback (see ``schedule_callbacks``), so the optimizer
    starts from the plain initial rate.
    """
    if schedule.name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial, decay_steps=max(1, epochs * steps_per_epoch), alpha=schedule.alpha
        )
    if schedule.name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=steps_per_epoch, decay_rate=schedule.decay_rate
        )
    return initial


def schedule_callbacks(schedule: LearningRateScheduleConfig, monitor: str) -> list[keras.callbacks.Callback]:
    """Callbacks that a schedule needs (reduce-on-plateau); empty for the others."""
    if schedule.name != "reduce_on_plateau":
        return []
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            factor=schedule.factor,
            patience=schedule.patience,
            min_lr=schedule.min_learning_rate,
        )
    ]


def build_optimizer(config: OptimizerConfig, learning_rate=None) -> keras.optimizers.Optimizer:
    """Return the Keras optimizer named in ``config``.

    ``learning_rate`` (a float or a schedule) replaces ``config.learning_rate`` when given.
    """
    rate = config.learning_rate if learning_rate is None else learning_rate
    if config.name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=config.momentum, nesterov=config.nesterov)
    optimizer_class = {
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }[config.name]
    return optimizer_class(learning_rate=rate)


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
    num_train = len(splits["x_train"][:train_subset])
    learning_rate = build_learning_rate(
        training.optimizer.learning_rate,
        training.lr_schedule,
        epochs=epochs,
        steps_per_epoch=math.ceil(num_train / training.batch_size),
    )
    strategy = resolve_strategy(training.strategy)
    with strategy.scope():
        model = build_model(dataset_info["input_shape"], dataset_info["num_classes"], config.model)
        model.compile(
            optimizer=build_optimizer(training.optimizer, learning_rate),
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
        [op.model_dump() for op in config.augmentation.ops],
        dataset_info["input_shape"],
        config.seed,
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
        callbacks=[
            *schedule_callbacks(training.lr_schedule, training.early_stopping.monitor),
            *callbacks,
        ],
        verbose=training.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}
