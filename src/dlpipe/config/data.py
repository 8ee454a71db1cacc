"""Schemas of the data stage and of image augmentation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from dlpipe.config.common import NonNegativeInt, PositiveInt, Strict


class SeriesWindowsConfig(Strict):
    """How a time series becomes examples: ``length`` past steps → the value ``horizon`` steps on.

    The series is split in time order: the last ``test_fraction`` is the test window, the
    ``validation_fraction`` (of the dataset block) before it the validation window; never shuffled
    across time.
    """

    length: PositiveInt = 24
    horizon: PositiveInt = 1
    test_fraction: float = Field(0.15, gt=0.0, lt=1.0)


class DatasetConfig(Strict):
    # A TFDS name (``builder`` or ``builder/config``); when left out, the family's default dataset.
    name: str | None = Field(None, min_length=1)
    data_dir: str = "data/01_raw/tfds"
    # Where dlpipe's offline builders look for their source files; None: each builder's defaults.
    source_dirs: list[str] | None = None
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    train_limit: PositiveInt | None = None
    test_limit: PositiveInt | None = None
    shuffle_buffer: PositiveInt = 10_000
    # Checks for a reachable TFDS download server give up after this long instead of stalling.
    network_timeout_s: float = Field(3.0, gt=0.0)
    # Set for a dataset that is one time series (forecasting): the windows cut from it.
    windows: SeriesWindowsConfig | None = None
    # Sequences only: frames of Gaussian noise appended after every sequence, which a recurrent
    # network must carry what it read through; around each channel's training mean, with
    # ``noise_scale`` times its spread.
    noise_steps: NonNegativeInt = 0
    noise_scale: float = Field(1.0, gt=0.0)

    @model_validator(mode="after")
    def _noise_follows_sequences_not_windows(self) -> DatasetConfig:
        if self.noise_steps and self.windows is not None:
            raise ValueError(
                f"noise_steps: {self.noise_steps} noise frames follow the sequences of a supervised "
                "dataset; a series cut into `windows` has none (set noise_steps: 0)"
            )
        return self


class RotationOp(Strict):
    op: Literal["rotation"]
    factor: float = Field(0.05, gt=0.0, le=1.0)  # fraction of a full turn, both directions


class ZoomOp(Strict):
    op: Literal["zoom"]
    factor: float = Field(0.1, gt=0.0, lt=1.0)


class FlipOp(Strict):
    op: Literal["flip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal"


class CropOp(Strict):
    op: Literal["crop"]
    padding: PositiveInt = 2  # pixels padded on each side before a crop back to the input size


class ShearOp(Strict):
    op: Literal["shear"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


class TranslationOp(Strict):
    op: Literal["translation"]
    factor: float = Field(0.1, gt=0.0, lt=1.0)


class NoiseOp(Strict):
    op: Literal["noise"]
    stddev: float = Field(0.05, gt=0.0)  # as a fraction of the pixel range


class BrightnessOp(Strict):
    op: Literal["brightness"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


class ContrastOp(Strict):
    op: Literal["contrast"]
    factor: float = Field(0.1, gt=0.0, le=1.0)


AugmentationOp = Annotated[
    RotationOp | ZoomOp | FlipOp | CropOp | ShearOp | TranslationOp | NoiseOp | BrightnessOp | ContrastOp,
    Field(discriminator="op"),
]


class AugmentationConfig(Strict):
    ops: list[AugmentationOp] = []
    grid_size: PositiveInt = 4  # the logged sample grid shows grid_size x grid_size images
