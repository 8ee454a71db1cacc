"""Augmentation ops: every classic op builds, keeps shape and range, and really changes images."""

from __future__ import annotations

import numpy as np
import pytest

from dlpipe.augmentation import augment_batch, build_augmenter
from dlpipe.config.schema import AugmentationConfig
from dlpipe.pipelines.augmentation.nodes import prepare_augmentation, render_augmentation_samples

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
    splits, _ = tiny_splits
    images = splits["x_train"][:16]
    augmented = augment_batch(images, [op], seed=3)
    assert augmented.shape == images.shape
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0
    assert not np.allclose(augmented, images.astype("float32") / 255.0)


def test_horizontal_flip_mirrors_the_image():
    image = np.zeros((1, 4, 4, 1), dtype=np.uint8)
    image[0, :, 0, 0] = 255
    flipped_any = False
    for seed in range(10):
        out = augment_batch(image, [{"op": "flip", "mode": "horizontal"}], seed=seed)
        if out[0, :, 3, 0].min() == 1.0:
            flipped_any = True
            assert out[0, :, 0, 0].max() == 0.0
    assert flipped_any


def test_no_ops_means_no_augmenter():
    assert build_augmenter([], [28, 28, 1], seed=0) is None


def test_unknown_op_is_rejected():
    with pytest.raises(ValueError, match="warp"):
        AugmentationConfig.model_validate({"ops": [{"op": "warp"}]})


def test_prepare_augmentation_rejects_non_image_inputs():
    info = {"name": "tabular", "input_shape": [30]}
    with pytest.raises(ValueError, match=r"augmentation.ops.*input_shape \[30\]"):
        prepare_augmentation({"ops": [{"op": "flip"}]}, info)
    assert prepare_augmentation({"ops": []}, info) == []


def test_sample_grid_is_rendered(tiny_splits):
    splits, info = tiny_splits
    figure = render_augmentation_samples(splits, info, ALL_OPS[:3], {"grid_size": 3}, seed=0)
    assert len([axis for axis in figure.axes if axis.images]) == 9
