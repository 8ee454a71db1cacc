"""The one function that builds, compiles and fits a model: used by tuning and final training."""

from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np

from dlpipe.augmentation import build_augmenter
from dlpipe.config.schema import FamilyConfig
from dlpipe.config.training import TrainingConfig
from dlpipe.data.input_pipeline import as_model_input, make_dataset
from dlpipe.data.spec import DataSpec
from dlpipe.families import TrainingPhase, check_fits_data, get_family
from dlpipe.tasks import get_task
from dlpipe.tasks.base import batch_fn
from dlpipe.training.optimizers import build_learning_rate, compile_model, schedule_callbacks
from dlpipe.training.phases import check_phases, fit_in_phases
from dlpipe.training.precision import precision_policy
from dlpipe.training.strategy import resolve_strategy

logger = logging.getLogger(__name__)


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


def monitor_mode(config: FamilyConfig, metric: str) -> str:
    """``max`` or ``min``: the direction in which ``metric`` of this block's family improves."""
    direction = get_family(config.model.family).monitored_metrics(config.task)[metric]
    return "max" if direction == "maximize" else "min"


def fit_model(
    config: FamilyConfig,
    splits: dict[str, np.ndarray],
    spec: DataSpec,
    *,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    train_subset: int | None = None,
    validation_subset: int | None = None,
    mlflow_run_id: str | None = None,
    dataset_cache: dict | None = None,
    finish: bool = True,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build the block's family model under the configured strategy, compile and fit it.

    A family with ``phases`` trains in them, recompiled for each (see
    ``dlpipe.training.phases``). Returns the model and its per-epoch history, the epochs before a
    restart included when a ``TrainingBackup`` among ``callbacks`` resumed it. The training
    split is augmented with ``config.augmentation``; ``train_subset``/``validation_subset`` keep
    the first N examples (the splits are already shuffled with the seed). With
    ``training.gradient_monitor.enabled`` the gradient-health monitor runs too (the caller's, if
    ``callbacks`` has one), logging to
    ``mlflow_run_id`` when given. Passing the same ``dataset_cache`` dict to several calls (the
    trials of a study) reuses their tf.data pipelines and filled caches instead of rebuilding them
    for every model. With ``finish`` (the default) the family's ``after_training`` work is done
    on the trained model before it is returned (the VAE fits the mixture it draws from).

    Raises:
        ValueError: the family or its task cannot learn this data (checked before the model is built).
    """
    training = config.training
    family = get_family(config.model.family)
    check_fits_data(config, spec)
    # Made before the seed is set: whatever they prepare (a classifier they train) must not move
    # the random state the model starts from.
    family_callbacks = (
        family.callbacks(config, splits=splits, spec=spec, mlflow_run_id=mlflow_run_id)
        if family.callbacks is not None
        else []
    )
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        # Process-wide and irreversible: every later model of this process is deterministic too.
        tf.config.experimental.enable_op_determinism()
    num_train = len(splits["x_train"][:train_subset])
    batch_size = effective_batch_size(training, num_train)
    steps_per_epoch = iterations_per_epoch(training, num_train)
    strategy = resolve_strategy(training.strategy)
    with precision_policy(training.mixed_precision), strategy.scope():
        model = family.build(spec, config)

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
            config, splits, spec, batch_size, train_subset, validation_subset
        )
        if dataset_cache is not None:
            dataset_cache[cache_key] = (train_data, validation_data)
    monitor = training.early_stopping.monitor
    # The family's own first: its stop rule, or a metric it adds to the epoch's logs, must be in
    # place before schedules, early stopping or pruning read them.
    callbacks = [
        *family_callbacks,
        *schedule_callbacks(training.lr_schedule, monitor, monitor_mode(config, monitor)),
        *callbacks,
    ]
    if training.gradient_monitor.enabled:
        from dlpipe.training.gradients import GradientHealthMonitor

        if not any(isinstance(callback, GradientHealthMonitor) for callback in callbacks):
            callbacks.append(gradient_monitor(config, splits, spec, mlflow_run_id))
    phases = family.phases(config, epochs) if family.phases else [TrainingPhase("train", epochs)]
    check_phases(phases, epochs, family.name)

    def enter(phase: TrainingPhase) -> None:
        with strategy.scope():
            if phase.prepare is not None:
                phase.prepare(model)
            learning_rate = build_learning_rate(
                training.optimizer.learning_rate * phase.learning_rate_factor,
                training.lr_schedule,
                epochs=phase.epochs,
                steps_per_epoch=steps_per_epoch,
            )
            compile_model(model, config, learning_rate)

    started = time.perf_counter()
    history, epochs_run = fit_in_phases(
        model,
        phases,
        enter=enter,
        callbacks=callbacks,
        x=train_data,
        validation_data=validation_data,
        verbose=training.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    logger.info(
        "fit: %d epoch(s) on %d examples in %.2f s", epochs_run, num_train, time.perf_counter() - started
    )
    if finish and family.after_training is not None:
        family.after_training(model, config, splits["x_train"][:train_subset])
    return model, history


def encoded_targets(config: FamilyConfig, targets: np.ndarray, spec: DataSpec) -> np.ndarray:
    """``targets`` as the block's task feeds them to its loss."""
    return get_task(config.task).encode_targets(targets, spec, config.training.loss)


def _build_datasets(
    config: FamilyConfig, splits, spec: DataSpec, batch_size, train_subset, validation_subset
):
    common = {
        "batch_size": batch_size,
        "seed": config.seed,
        "shuffle_buffer": config.dataset.shuffle_buffer,
        "batch_fn": batch_fn(get_task(config.task), spec),
    }
    augmenter = build_augmenter([op.model_dump() for op in config.augmentation.ops], spec, config.seed)
    train_data = make_dataset(
        splits["x_train"][:train_subset],
        encoded_targets(config, splits["y_train"][:train_subset], spec),
        training=True,
        augmenter=augmenter,
        **common,
    )
    validation_data = make_dataset(
        splits["x_val"][:validation_subset],
        encoded_targets(config, splits["y_val"][:validation_subset], spec),
        training=False,
        **common,
    )
    return train_data, validation_data


def gradient_monitor(config: FamilyConfig, splits, spec: DataSpec, mlflow_run_id: str | None):
    """The gradient-health monitor ``training.gradient_monitor`` configures, probing the first
    training examples; ``fit_model`` adds one itself unless its caller passed one (to read it)."""
    from dlpipe.training.gradients import GradientHealthMonitor

    training = config.training
    monitor = training.gradient_monitor
    count = monitor.probe_batch_size
    task = get_task(config.task)
    raw = splits["x_train"][:count]
    inputs, targets = task.batch(
        as_model_input(raw),
        encoded_targets(config, splits["y_train"][:count], spec),
        spec,
    )
    return GradientHealthMonitor(
        inputs,
        targets,
        task.compile_loss(training.loss),
        every_n_steps=monitor.every_n_steps,
        vanishing_threshold=monitor.vanishing_threshold,
        exploding_threshold=monitor.exploding_threshold,
        mlflow_run_id=mlflow_run_id,
    )
