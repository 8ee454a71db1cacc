"""The one function that builds, compiles and fits a model: used by tuning and final training."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
import numpy as np

from dlpipe.augmentation import build_augmenter
from dlpipe.config.schema import (
    FamilyConfig,
    GradientClippingConfig,
    LearningRateScheduleConfig,
    OptimizerConfig,
    TrainingConfig,
)
from dlpipe.data.input_pipeline import label_encoding, make_dataset
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


def effective_batch_size(training: TrainingConfig, num_train: int) -> int:
    """Examples per update: all of them (``batch``), one (``stochastic``) or ``batch_size``."""
    if training.gradient_descent == "batch":
        return max(1, num_train)
    if training.gradient_descent == "stochastic":
        return 1
    return training.batch_size


def iterations_per_epoch(training: TrainingConfig, num_train: int) -> int:
    """Parameter updates per epoch: ceil(training examples / examples per update)."""
    return math.ceil(num_train / effective_batch_size(training, num_train))


def check_loss_fits_labels(loss: str, num_classes: int, dataset_name: str) -> None:
    """Raise ValueError when ``loss`` cannot be computed on this dataset's labels."""
    if label_encoding(loss) == "binary" and num_classes != 2:
        raise ValueError(
            f"training.loss: 'binary_crossentropy' needs exactly 2 classes, but dataset "
            f"'{dataset_name}' has {num_classes}. Use sparse_categorical_crossentropy (class ids) or "
            "categorical_crossentropy (one-hot) for more classes."
        )


def _clipping_arguments(config: GradientClippingConfig) -> dict[str, float]:
    return {
        "none": {},
        "norm": {"clipnorm": config.threshold},
        "value": {"clipvalue": config.threshold},
        "global_norm": {"global_clipnorm": config.threshold},
    }[config.mode]


def build_optimizer(
    config: OptimizerConfig,
    learning_rate=None,
    clipping: GradientClippingConfig | None = None,
) -> keras.optimizers.Optimizer:
    """Return the Keras optimizer named in ``config``, with gradient clipping when configured.

    ``learning_rate`` (a float or a schedule) replaces ``config.learning_rate`` when given.
    """
    rate = config.learning_rate if learning_rate is None else learning_rate
    extra = _clipping_arguments(clipping or GradientClippingConfig())
    if config.weight_decay is not None:
        extra["weight_decay"] = config.weight_decay
    if config.name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=rate, momentum=config.momentum, nesterov=config.nesterov, **extra
        )
    optimizer_class = {
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }[config.name]
    return optimizer_class(learning_rate=rate, **extra)


def fit_model(
    config: FamilyConfig,
    splits: dict[str, np.ndarray],
    dataset_info: dict[str, Any],
    *,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    train_subset: int | None = None,
    validation_subset: int | None = None,
    mlflow_run_id: str | None = None,
    dataset_cache: dict | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build ``config.model`` under the configured strategy, compile and fit it.

    Returns the model and its per-epoch history. The training split is augmented with
    ``config.augmentation``; ``train_subset``/``validation_subset`` keep the first N examples
    (the splits are already shuffled with the seed). With ``training.gradient_monitor.enabled``
    the gradient-health monitor runs too, logging to ``mlflow_run_id`` when given. Passing the same
    ``dataset_cache`` dict to several calls (the trials of a study) reuses their tf.data pipelines
    and filled caches instead of rebuilding them for every model.

    Raises:
        ValueError: the loss cannot fit the labels (checked before the model is built).
    """
    training = config.training
    check_loss_fits_labels(training.loss, dataset_info["num_classes"], dataset_info["name"])
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        # Process-wide and irreversible: every later model of this process is deterministic too.
        tf.config.experimental.enable_op_determinism()
    num_train = len(splits["x_train"][:train_subset])
    batch_size = effective_batch_size(training, num_train)
    learning_rate = build_learning_rate(
        training.optimizer.learning_rate,
        training.lr_schedule,
        epochs=epochs,
        steps_per_epoch=iterations_per_epoch(training, num_train),
    )
    strategy = resolve_strategy(training.strategy)
    with strategy.scope():
        model = build_model(
            dataset_info["input_shape"],
            dataset_info["num_classes"],
            config.model,
            binary_output=label_encoding(training.loss) == "binary",
        )
        model.compile(
            optimizer=build_optimizer(training.optimizer, learning_rate, training.gradient_clipping),
            loss=training.loss,
            metrics=["accuracy"],
        )

    cache_key = (
        id(splits),
        train_subset,
        validation_subset,
        batch_size,
        training.loss,
        tuple(op.model_dump_json() for op in config.augmentation.ops),
        config.seed,
    )
    if dataset_cache is not None and cache_key in dataset_cache:
        train_data, validation_data = dataset_cache[cache_key]
    else:
        train_data, validation_data = _build_datasets(
            config, splits, dataset_info, batch_size, train_subset, validation_subset
        )
        if dataset_cache is not None:
            dataset_cache[cache_key] = (train_data, validation_data)
    callbacks = list(callbacks)
    if training.gradient_monitor.enabled:
        callbacks.append(_gradient_monitor(training, splits, dataset_info, mlflow_run_id))
    started = time.perf_counter()
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
    epochs_run = len(history.history.get("loss", []))
    logger.info(
        "fit: %d epoch(s) on %d examples in %.2f s", epochs_run, num_train, time.perf_counter() - started
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def _build_datasets(config: FamilyConfig, splits, dataset_info, batch_size, train_subset, validation_subset):
    common = {
        "batch_size": batch_size,
        "num_classes": dataset_info["num_classes"],
        "loss": config.training.loss,
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
    return train_data, validation_data


def _gradient_monitor(training: TrainingConfig, splits, dataset_info, mlflow_run_id):
    from dlpipe.training.gradients import GradientHealthMonitor

    monitor = training.gradient_monitor
    probe = make_dataset(
        splits["x_train"][: monitor.probe_batch_size],
        splits["y_train"][: monitor.probe_batch_size],
        batch_size=monitor.probe_batch_size,
        num_classes=dataset_info["num_classes"],
        loss=training.loss,
        training=False,
        seed=0,
    )
    images, labels = next(iter(probe))
    return GradientHealthMonitor(
        images.numpy(),
        labels.numpy(),
        training.loss,
        every_n_steps=monitor.every_n_steps,
        vanishing_threshold=monitor.vanishing_threshold,
        exploding_threshold=monitor.exploding_threshold,
        mlflow_run_id=mlflow_run_id,
    )
