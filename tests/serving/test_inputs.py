"""Inputs for prediction: what a model of uint8 images or strings accepts, and files read as inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dlpipe.serving.inputs import InvalidInputs, check_inputs, fit_channels, read_inputs

IMAGE = [28, 28, 1]


def test_raw_pixels_are_accepted_as_uint8():
    pixels = np.arange(2 * 28 * 28).reshape(2, 28, 28, 1) % 256
    checked = check_inputs(pixels.tolist(), IMAGE, "uint8")
    assert checked.dtype == np.uint8 and checked.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(checked, pixels)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (np.full((2, 28, 28, 1), 0.5), "fractions"),  # pixels scaled to [0, 1]: never cast to 0
        (np.full((2, 28, 28, 1), 256), "uint8 holds 0 to 255"),
        (np.full((2, 28, 28, 1), -1), "uint8 holds 0 to 255"),
        (np.zeros((2, 28, 27, 1)), r"shape \(2, 28, 27, 1\): expected a batch of shape \(n, 28, 28, 1\)"),
        (np.zeros((28, 28, 1)), "expected a batch of shape"),
        (np.zeros((0, 28, 28, 1)), "empty input"),
        (np.array("hello"), "single <U5 value"),
        (np.full((1, 28, 28, 1), "x"), "expected numbers"),
    ],
)
def test_inputs_a_model_cannot_take_are_refused_naming_what_was_expected(inputs, message):
    with pytest.raises(InvalidInputs, match=message):
        check_inputs(inputs, IMAGE, "uint8")


def test_strings_go_to_a_text_model_and_numbers_do_not():
    checked = check_inputs(["a cat", "two dogs"], [], "object")
    assert checked.dtype == object and list(checked) == ["a cat", "two dogs"]
    with pytest.raises(InvalidInputs, match="expected strings"):
        check_inputs([1.0, 2.0], [], "object")


def test_sequences_of_any_length_are_accepted_where_the_shape_says_so():
    assert check_inputs(np.ones((3, 17, 2)), [None, 2], "float32").shape == (3, 17, 2)
    with pytest.raises(InvalidInputs, match="NaN"):
        check_inputs(np.full((1, 4, 2), np.nan), [None, 2], "float32")


def test_a_folder_of_images_and_an_array_file_are_read_with_a_name_per_input(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"digit_{index}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    names, inputs = read_inputs(tmp_path)
    assert names == ["digit_0.png", "digit_1.png", "digit_2.png"]
    np.testing.assert_array_equal(fit_channels(inputs, IMAGE), pixels[..., np.newaxis])

    np.save(tmp_path / "batch.npy", pixels)
    names, inputs = read_inputs(tmp_path / "batch.npy")
    assert names == ["0", "1", "2"]
    np.testing.assert_array_equal(inputs, pixels)


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="predict.inputs: no .png"):
        read_inputs(tmp_path)
    with pytest.raises(FileNotFoundError, match="predict.inputs: no array file"):
        read_inputs(tmp_path / "missing.npy")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(InvalidInputs, match="differ in size"):
        read_inputs(tmp_path)
