"""The typed description of a loaded dataset, which every later stage reads instead of the arrays."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# image: (height, width, channels) pixels; sequence: (time, channels), maybe padded;
# tabular: (features,); text: one string per example.
Modality = Literal["image", "sequence", "tabular", "text"]


class DataSpec(BaseModel):
    """What a model needs to know about its data: the inputs, the targets and their statistics.

    The statistics are those of the training split: a model builds its own preprocessing from
    them (``Normalization`` layers with these constants), so a saved model takes raw inputs.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    modality: Modality
    input_shape: list[int | None]
    input_dtype: str  # the raw inputs' dtype, e.g. uint8 pixels or float32 values
    # class: one class id; value: numbers; text: a string of whitespace-separated tokens.
    target: Literal["class", "value", "text"]
    class_names: list[str] = []
    num_train: int
    num_val: int
    num_test: int
    # Per-channel mean and variance of the training inputs (tabular and sequence modalities).
    input_mean: list[float] | None = None
    input_variance: list[float] | None = None
    # Regression: mean and variance of the training targets, one per target value.
    target_mean: list[float] | None = None
    target_variance: list[float] | None = None
    # Sequences of different lengths are right-padded with zeros: the model masks those steps.
    padded: bool = False
    # Forecasting: the target is channel 0 of the series, this many steps after the window.
    forecast_horizon: int | None = None
    # Text: the characters of the training inputs and the tokens of the training targets, in
    # order of frequency, and the most characters and tokens of one training example. A model
    # builds its lookup layers from these, so a saved model maps raw strings to raw strings.
    input_characters: list[str] | None = None
    target_tokens: list[str] | None = None
    max_input_length: int | None = None
    max_target_length: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_targets(self) -> int:
        return len(self.target_mean or [0.0])
