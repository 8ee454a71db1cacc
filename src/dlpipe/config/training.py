"""Schemas of the training stage: optimizer, schedule, clipping, early stopping, strategy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dlpipe.config.common import (
    LOSSES,
    OPTIMIZERS,
    STRATEGIES,
    NonNegativeInt,
    PositiveInt,
    Strict,
    UnitFraction,
)


class OptimizerConfig(Strict):
    name: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    momentum: UnitFraction = 0.0  # SGD only
    nesterov: bool = False  # SGD only
    # Adam, AdamW, Nadam: decay of the first-moment average (adversarial training often uses 0.5).
    beta_1: float = Field(0.9, gt=0.0, lt=1.0)
    weight_decay: float | None = Field(None, ge=0.0)  # decoupled weight decay (AdamW's default 0.004)


class GradientClippingConfig(Strict):
    # norm: each gradient tensor's norm; value: each element; global_norm: all tensors together.
    mode: Literal["none", "norm", "value", "global_norm"] = "none"
    threshold: float = Field(1.0, gt=0.0)


class GradientMonitorConfig(Strict):
    """Per-layer gradient norms every N steps; warns on vanishing or exploding gradients."""

    enabled: bool = False
    every_n_steps: PositiveInt = 100
    vanishing_threshold: float = Field(1e-6, gt=0.0)
    exploding_threshold: float = Field(1e3, gt=0.0)
    probe_batch_size: PositiveInt = 64

    @model_validator(mode="after")
    def _ordered(self) -> GradientMonitorConfig:
        if self.vanishing_threshold >= self.exploding_threshold:
            raise ValueError(
                f"vanishing_threshold ({self.vanishing_threshold}) must be below "
                f"exploding_threshold ({self.exploding_threshold})"
            )
        return self


class LearningRateScheduleConfig(Strict):
    name: Literal["constant", "cosine", "exponential", "reduce_on_plateau"] = "constant"
    alpha: UnitFraction = 0.0  # cosine: the final learning rate as a fraction of the initial one
    # cosine: the rate first grows linearly from 0 to the optimizer's over this many epochs (a
    # fit of fewer epochs, such as a short tuning trial, warms up throughout).
    warmup_epochs: NonNegativeInt = 0
    decay_rate: float = Field(0.9, gt=0.0, le=1.0)  # exponential: factor per epoch
    factor: float = Field(0.5, gt=0.0, lt=1.0)  # reduce_on_plateau: factor per plateau
    patience: NonNegativeInt = 2  # reduce_on_plateau: epochs without improvement
    min_learning_rate: float = Field(0.0, ge=0.0)  # reduce_on_plateau: the floor

    @model_validator(mode="after")
    def _warmup_with_cosine(self) -> LearningRateScheduleConfig:
        if self.warmup_epochs and self.name != "cosine":
            raise ValueError(
                f"warmup_epochs: {self.warmup_epochs} warm-up epochs need name 'cosine', got '{self.name}'"
            )
        return self


class EarlyStoppingConfig(Strict):
    # false: every epoch is trained and the last one's weights kept (a regularization experiment's
    # arms without early stopping).
    enabled: bool = True
    # A metric the family's task reports (checked with the family); None: the task's main one.
    monitor: str | None = None
    patience: NonNegativeInt = 3
    min_delta: float = Field(0.0, ge=0.0)


class TrainingConfig(Strict):
    epochs: PositiveInt = 10
    # minibatch: batch_size examples per update; batch: the whole training set; stochastic: one.
    gradient_descent: Literal["minibatch", "batch", "stochastic"] = "minibatch"
    batch_size: PositiveInt = 128  # global batch, split across replicas
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_schedule: LearningRateScheduleConfig = LearningRateScheduleConfig()
    gradient_clipping: GradientClippingConfig = GradientClippingConfig()
    gradient_monitor: GradientMonitorConfig = GradientMonitorConfig()
    # One the family's task accepts (checked with the family); None: the task's default loss.
    loss: Literal[LOSSES] | None = None  # type: ignore[valid-type]
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    strategy: Literal[STRATEGIES] = "auto"  # type: ignore[valid-type]
    # mixed_float16 / mixed_bfloat16: layers compute in 16 bits and keep float32 weights; the
    # output layer stays float32 and Keras scales a float16 loss. Fast on GPUs with tensor cores;
    # a CPU emulates float16 (see benchmarks/mixed_precision.py). auto: mixed_bfloat16 on a
    # machine without a GPU whose CPU computes bfloat16 natively (AVX512-BF16 or AMX), else none.
    mixed_precision: Literal["none", "auto", "mixed_float16", "mixed_bfloat16"] = "none"
    # XLA compilation of the training and evaluation steps: "auto" lets Keras decide.
    jit_compile: Literal["auto"] | bool = "auto"
    checkpoint_dir: str = "data/06_models/checkpoints"
    backup_dir: str = "data/06_models/backup"
    verbose: Literal[0, 1, 2] = 2
