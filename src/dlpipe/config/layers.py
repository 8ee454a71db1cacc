"""Schemas of the building blocks that model families share: layers, initializers, penalties."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dlpipe.config.common import ACTIVATIONS, INITIALIZERS, NonNegativeInt, PositiveInt, Strict, UnitFraction


class ConvConfig(Strict):
    num_blocks: PositiveInt = 2
    filters: PositiveInt = 32
    filters_growth: float = Field(2.0, ge=1.0)  # block i has filters * growth**i filters
    convs_per_block: PositiveInt = 1
    kernel_size: PositiveInt = 3
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] = "same"
    pooling: Literal["max", "average", "none"] = "max"
    pool_size: PositiveInt = 2
    pool_every: PositiveInt = 1  # pool after every N-th block and after the last one
    batch_norm: bool = True
    batch_norm_position: Literal["before_activation", "after_activation"] = "before_activation"
    dropout: UnitFraction = 0.0  # after each pooling (after each block when pooling is "none")
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)  # used when activation is leaky_relu


class DenseConfig(Strict):
    num_layers: NonNegativeInt = 1
    units: PositiveInt = 128
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)  # used when activation is leaky_relu
    dropout: UnitFraction = 0.0
    batch_norm: bool = False
    batch_norm_position: Literal["before_activation", "after_activation"] = "before_activation"


class ConvEncoderConfig(Strict):
    """Strided convolutions that shrink an image, one layer per entry of ``filters``."""

    filters: list[PositiveInt] = Field(default=[32, 64], min_length=1)
    kernel_size: PositiveInt = 3
    stride: PositiveInt = 2
    padding: Literal["same", "valid"] = "same"
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    leaky_relu_slope: float = Field(0.2, gt=0.0, lt=1.0)
    batch_norm: bool = False


class DeconvDecoderConfig(Strict):
    """Transposed convolutions ("deconvolutions") that grow a code back to an image, one per
    encoder layer, with the encoder's filters reversed."""

    kernel_size: PositiveInt = 3
    stride: PositiveInt = 2
    padding: Literal["same", "valid"] = "same"
    # None: the size a convolution with the same settings maps back from (Keras' default).
    output_padding: NonNegativeInt | None = None

    @model_validator(mode="after")
    def _output_padding_below_stride(self) -> DeconvDecoderConfig:
        if self.output_padding is not None and self.output_padding >= self.stride:
            raise ValueError(
                f"output_padding {self.output_padding} must be smaller than stride ({self.stride})"
            )
        return self


class UpsamplingGeneratorConfig(Strict):
    """Dense to a ``filters[0]``-channel map, then one stride-``stride`` transposed convolution
    per further entry and a last one to the image's channels: ``len(filters)`` upsamplings."""

    filters: list[PositiveInt] = Field(default=[128, 64], min_length=1)
    kernel_size: PositiveInt = 4
    stride: PositiveInt = 2
    batch_norm: bool = True

    @property
    def upsampling_factor(self) -> int:
        """How many times larger the image is than the first map, along each axis."""
        return self.stride ** len(self.filters)


class InitializerConfig(Strict):
    """How the kernels of every conv and dense layer start (biases start at zero)."""

    name: Literal[INITIALIZERS] = "glorot_uniform"  # type: ignore[valid-type]
    stddev: float = Field(0.05, gt=0.0)  # random_normal, truncated_normal
    scale: float = Field(0.05, gt=0.0)  # random_uniform draws from [-scale, scale]
    gain: float = Field(1.0, gt=0.0)  # orthogonal
    # pretrained: a `.keras` file saved by an earlier run, or its versioned folder (latest version).
    pretrained_model: str | None = None

    @model_validator(mode="after")
    def _pretrained_needs_a_model(self) -> InitializerConfig:
        if self.name == "pretrained" and not self.pretrained_model:
            raise ValueError("name 'pretrained' needs 'pretrained_model': the path of a saved model")
        return self


class RegularizationConfig(Strict):
    """Weight penalties and constraints on the kernels of every conv and dense layer."""

    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)
    max_norm: float | None = Field(None, gt=0.0)  # max-norm constraint on each unit's weights


class ModelConfigBase(Strict):
    """What every family's ``model`` section has; a family's schema adds ``family`` and its layers."""

    initializer: InitializerConfig = InitializerConfig()
    regularization: RegularizationConfig = RegularizationConfig()
