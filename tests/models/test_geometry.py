"""The output-size formulas agree with the shapes Keras produces."""

from __future__ import annotations

import itertools

import keras
import pytest

from dlpipe.models.geometry import (
    conv_output_size,
    conv_transpose_output_size,
    layer_output_shapes,
    model_summary_text,
)

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


def test_transposed_formula_matches_keras_conv2d_transpose():
    checked = 0
    for size, kernel, stride, padding in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS):
        for output_padding in [None, *range(stride)]:
            layer = keras.layers.Conv2DTranspose(
                1, kernel, strides=stride, padding=padding, output_padding=output_padding
            )
            shape = layer.compute_output_shape((None, size, size, 1))
            expected = conv_transpose_output_size(size, kernel, stride, padding, output_padding)
            assert shape[1] == expected, (size, kernel, stride, padding, output_padding)
            checked += 1
    assert checked > 400


def test_transposed_convolution_undoes_the_convolution_shape():
    # With Keras' default output padding, a stride-s transposed convolution maps a strided
    # convolution's output back to the input size whenever s divides it.
    for size, kernel, stride in itertools.product([8, 12, 28, 32], KERNELS, [1, 2, 4]):
        down = conv_output_size(size, kernel, stride, "same")
        assert conv_transpose_output_size(down, kernel, stride, "same") == size


def test_transposed_formula_rejects_impossible_geometry():
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_output_size(7, 3, 2, "same", output_padding=2)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose_output_size(7, 3, 2, "full")


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
