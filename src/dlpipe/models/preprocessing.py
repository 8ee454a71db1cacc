"""The model's own preprocessing: raw inputs in, so a saved model needs nothing else."""

from __future__ import annotations

import keras

from dlpipe.data.spec import DataSpec


def pixel_scale(spec: DataSpec) -> float:
    """The largest raw pixel value: 255 for uint8 images, 1 for images stored as floats."""
    return 255.0 if spec.input_dtype == "uint8" else 1.0


def model_inputs(spec: DataSpec):
    """``(inputs, x)``: the model's raw-input tensor and the preprocessed features.

    Images are rescaled to [0, 1]; tabular and sequence inputs are standardized per channel with
    the training split's statistics (a ``Normalization`` layer holding them as constants). Padded
    sequences get a ``Masking`` layer first, so recurrent layers skip the padding.
    """
    inputs = keras.Input(shape=tuple(spec.input_shape), dtype="float32", name="inputs")
    if spec.modality == "image":
        return inputs, keras.layers.Rescaling(1.0 / pixel_scale(spec), name="rescale")(inputs)
    x = inputs
    if spec.padded:
        x = keras.layers.Masking(mask_value=0.0, name="padding_mask")(x)
    x = keras.layers.Normalization(mean=spec.input_mean, variance=spec.input_variance, name="standardize")(x)
    return inputs, x
