"""The output-size formula agrees with the shapes Keras produces."""

from __future__ import annotations

import itertools

import keras
import pytest

from dlpipe.models.geometry import conv_output_size, layer_output_shapes, model_summary_text

SIZES = [1, 2, 3, 4, 5, 7, 8, 13, 28, 32]
KERNELS = [1, 2, 3, 5]
STRIDES = [1, 2, 3]
PADDINGS = ["same", "valid"]


def _cases():
    for size, kernel, stride, padding in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS):
        if padding == "valid" and kernel > size:
            continue
        yield size, kernel, stride, padding


def test_formula_matches_keras_conv_and_pooling():
    checked = 0
    for size, kernel, stride, padding in _cases():
        expected = conv_output_size(size, kernel, stride, padding)
        inputs = keras.Input((size, size + 1, 1))
        conv = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)(inputs)
        pool = keras.layers.MaxPooling2D(kernel, strides=stride, padding=padding)(inputs)
        assert conv.shape[1] == expected, (size, kernel, stride, padding)
        assert pool.shape[1] == expected, (size, kernel, stride, padding)
        assert conv.shape[2] == conv_output_size(size + 1, kernel, stride, padding)
        checked += 1
    assert checked > 200


def test_formula_rejects_impossible_geometry():
    with pytest.raises(ValueError, match="larger than the input"):
        conv_output_size(3, 5, 1, "valid")
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(8, 3, 1, "full")
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(8, 3, 0, "same")


def test_summary_lists_every_layer_output_shape():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Flatten(name="flat")(x))
    shapes = dict((name, shape) for name, _, shape in layer_output_shapes(model))
    assert shapes["conv"] == (None, 26, 26, 4)
    text = model_summary_text(model)
    assert "conv" in text and "(None, 26, 26, 4)" in text
