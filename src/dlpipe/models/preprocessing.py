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
    if spec.modality == "text":
        raise ValueError(
            f"dataset.name: '{spec.name}' has strings; this family's model takes numbers (images, "
            "sequences or tabular features)"
        )
    inputs = keras.Input(shape=tuple(spec.input_shape), dtype="float32", name="inputs")
    if spec.modality == "image":
        return inputs, keras.layers.Rescaling(1.0 / pixel_scale(spec), name="rescale")(inputs)
    x = inputs
    if spec.padded:
        x = keras.layers.Masking(mask_value=0.0, name="padding_mask")(x)
    x = keras.layers.Normalization(mean=spec.input_mean, variance=spec.input_variance, name="standardize")(x)
    return inputs, x


@keras.saving.register_keras_serializable(package="dlpipe")
def lowercase(strings):
    """Strings in lower case, every Unicode letter (``TextVectorization``'s own ``"lower"``
    lowers ASCII letters only: ``"Über"`` would keep its ``Ü``)."""
    import tensorflow as tf

    return tf.strings.lower(strings, encoding="utf-8")


def character_ids(characters: list[str], name: str = "characters") -> keras.layers.TextVectorization:
    """A layer mapping raw strings to the ids of their lower-cased characters, padded with 0 to
    the longest string of the batch; 1 is any character not in ``characters`` (those of the
    training strings, as the data description lists them), then 2, 3, ... in their order."""
    return keras.layers.TextVectorization(
        standardize=lowercase, split="character", vocabulary=characters, name=name
    )
