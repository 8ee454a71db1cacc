"""Augmentation ops: every classic op builds, keeps shape and range, and really changes images."""

from __future__ import annotations

import numpy as np
import pytest

from dlpipe.augmentation import augment_batch, build_augmenter
from dlpipe.config.data import AugmentationConfig
from dlpipe.pipelines.augmentation.nodes import prepare_augmentation, render_augmentation_samples
from tests.conftest import image_spec, tabular_spec

ALL_OPS = [
    {"op": "rotation", "factor": 0.1},
    {"op": "zoom", "factor": 0.2},
    {"op": "flip", "mode": "horizontal"},
    {"op": "crop", "padding": 3},
    {"op": "shear", "factor": 0.2},
    {"op": "translation", "factor": 0.15},
    {"op": "noise", "stddev": 0.1},
    {"op": "brightness", "factor": 0.3},
    {"op": "contrast", "factor": 0.3},
]


@pytest.mark.parametrize("op", ALL_OPS, ids=[op["op"] for op in ALL_OPS])
def test_each_op_keeps_shape_and_range_and_changes_images(op, tiny_splits):
    splits, spec = tiny_splits
    images = splits["x_train"][:16]
    augmented = augment_batch(images, [op], spec, seed=3)
    assert augmented.shape == images.shape
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0
    assert not np.allclose(augmented, images.astype("float32") / 255.0)


def test_horizontal_flip_mirrors_the_image():
    image = np.zeros((1, 4, 4, 1), dtype=np.uint8)
    image[0, :, 0, 0] = 255
    flipped_any = False
    for seed in range(10):
        out = augment_batch(image, [{"op": "flip", "mode": "horizontal"}], image_spec((4, 4, 1)), seed=seed)
        if out[0, :, 3, 0].min() == 1.0:
            flipped_any = True
            assert out[0, :, 0, 0].max() == 0.0
    assert flipped_any


PIXEL_RANGE_OPS = [op for op in ALL_OPS if op["op"] in ("noise", "brightness", "contrast")]


@pytest.mark.parametrize("op", PIXEL_RANGE_OPS, ids=[op["op"] for op in PIXEL_RANGE_OPS])
def test_pixel_range_ops_act_alike_on_raw_and_on_scaled_images(op, tiny_splits):
    """Raw 0-255 pixels are augmented in their own range: the same op on the same images stored as
    floats in [0, 1] gives the same picture."""
    splits, spec = tiny_splits
    raw = splits["x_train"][:8]
    from_raw = augment_batch(raw, [op], spec, seed=5)
    scaled = (raw / 255.0).astype("float32")
    from_scaled = augment_batch(scaled, [op], image_spec(raw.shape[1:], dtype="float32"), seed=5)
    np.testing.assert_allclose(from_raw, from_scaled, atol=1e-4)


def test_no_ops_means_no_augmenter():
    assert build_augmenter([], image_spec(), seed=0) is None


def test_unknown_op_is_rejected():
    with pytest.raises(ValueError, match="warp"):
        AugmentationConfig.model_validate({"ops": [{"op": "warp"}]})


def test_prepare_augmentation_rejects_non_image_inputs(mlp_params):
    info = tabular_spec(30).model_dump(mode="json")
    mlp_params["augmentation"] = {"ops": [{"op": "flip"}]}
    with pytest.raises(ValueError, match=r"augmentation.ops.*inputs of shape \[30\]"):
        prepare_augmentation(mlp_params, info)
    mlp_params["augmentation"] = {"ops": []}
    assert prepare_augmentation(mlp_params, info) == []


def test_sample_grid_is_rendered(tiny_splits, cnn_params):
    splits, info = tiny_splits
    cnn_params["seed"] = 0
    cnn_params["augmentation"]["grid_size"] = 3
    figure = render_augmentation_samples(splits, info.model_dump(mode="json"), ALL_OPS[:3], cnn_params)
    assert len([axis for axis in figure.axes if axis.images]) == 9
