"""Optimizers, learning-rate schedules and the default compile of a family's model."""

from __future__ import annotations

import keras

from dlpipe.config.training import GradientClippingConfig, LearningRateScheduleConfig, OptimizerConfig


def build_learning_rate(
    initial: float, schedule: LearningRateScheduleConfig, *, epochs: int, steps_per_epoch: int
):
    """The learning rate given to the optimizer: a float or a per-step schedule.

    ``reduce_on_plateau`` works through a callback (see ``schedule_callbacks``), so the optimizer
    starts from the plain initial rate.
    """
    if schedule.name == "cosine":
        warmup_steps = min(schedule.warmup_epochs, epochs) * steps_per_epoch
        if warmup_steps:  # from 0 up to `initial`, then the cosine down from it
            return keras.optimizers.schedules.CosineDecay(
                0.0,
                decay_steps=max(1, epochs * steps_per_epoch - warmup_steps),
                alpha=schedule.alpha,
                warmup_target=initial,
                warmup_steps=warmup_steps,
            )
        return keras.optimizers.schedules.CosineDecay(
            initial, decay_steps=max(1, epochs * steps_per_epoch), alpha=schedule.alpha
        )
    if schedule.name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=steps_per_epoch, decay_rate=schedule.decay_rate
        )
    return initial


def schedule_callbacks(
    schedule: LearningRateScheduleConfig, monitor: str, mode: str = "auto"
) -> list[keras.callbacks.Callback]:
    """Callbacks that a schedule needs (reduce-on-plateau); empty for the others."""
    if schedule.name != "reduce_on_plateau":
        return []
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=schedule.factor,
            patience=schedule.patience,
            min_lr=schedule.min_learning_rate,
        )
    ]


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
    if config.name in ("adam", "adamw", "nadam"):
        extra["beta_1"] = config.beta_1
    optimizer_class = {
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }[config.name]
    return optimizer_class(learning_rate=rate, **extra)


def compile_optimizer_only(model: keras.Model, config, learning_rate) -> None:
    """Compile a model whose own ``train_step`` computes its loss: only the configured optimizer
    (with clipping), no loss or metrics."""
    training = config.training
    model.compile(optimizer=build_optimizer(training.optimizer, learning_rate, training.gradient_clipping))


def compile_model(model: keras.Model, config, learning_rate) -> None:
    """Compile ``model`` of a validated block ``config``: its family's compile when it has one,
    else the configured optimizer (with clipping) on the task's loss and metrics."""
    from dlpipe.families import get_family
    from dlpipe.tasks import get_task

    family = get_family(config.model.family)
    if family.compile is not None:
        family.compile(model, config, learning_rate)
        return
    training = config.training
    task = get_task(config.task)
    # A mixed_float16 model gets its optimizer wrapped in Keras' LossScaleOptimizer here.
    model.compile(
        optimizer=build_optimizer(training.optimizer, learning_rate, training.gradient_clipping),
        loss=task.compile_loss(training.loss),
        metrics=task.compile_metrics(training.loss),
        jit_compile=training.jit_compile,
    )
