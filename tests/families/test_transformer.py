"""The transformer family: attention that ignores padding, patches that tile the image, a
warm-up before the cosine, and bad values rejected before any training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, get_family
from dlpipe.families.transformer import attention_weights
from dlpipe.training.optimizers import build_learning_rate
from tests.conftest import image_spec, load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")

BAD_VALUES = {
    "heads not dividing the width": ({"model.heads": 3}, "transformer.model.heads", "64"),
    "unknown positions": ({"model.positions": "rotary"}, "transformer.model.positions", "rotary"),
    "warm-up without the cosine": (
        {"training.lr_schedule": {"name": "constant", "warmup_epochs": 1}},
        "transformer.training.lr_schedule.warmup_epochs",
        "cosine",
    ),
    "task the family cannot learn": ({"task": "regression"}, "transformer.task", "classification"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("transformer", PARAMS["transformer"], *BAD_VALUES[case])


def test_a_patch_size_that_does_not_tile_the_image_is_rejected_before_any_node():
    # The image size comes from what the dataset's builder declares, before anything is loaded.
    overrides = {"model.patch_size": 5}
    block = PARAMS["transformer_vit"]
    assert_rejected_naming_the_key(
        "transformer_vit", block, overrides, "transformer_vit.model.patch_size", "28x28"
    )
    # ... and the loaded data is checked again.
    config = parse_family("transformer_vit", with_overrides(block, {"model.patch_size": 7}))
    with pytest.raises(ValueError, match=r"model.patch_size: 7 does not divide the 30x30"):
        check_fits_data(config, image_spec((30, 30, 1)))


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("transformer")
    config = parse_family("transformer", shrunk_block(PARAMS["transformer"], tmp_path))
    splits, spec = load_splits(config.dataset, config.seed)
    model = get_family("transformer").build(spec, config)
    return splits, spec, model


def test_attention_ignores_the_padding_after_each_word(language_model):
    splits, spec, model = language_model
    words = splits["x_test"][:8]
    weights = attention_weights(model, words)
    longest = max(len(word) for word in words)  # a batch is padded to its longest word
    assert weights.shape == (8, longest, longest)
    for word, rows in zip(words, weights, strict=True):
        length = len(word.decode("utf-8"))
        np.testing.assert_allclose(rows[:length].sum(axis=-1), 1.0, atol=1e-5)
        assert np.all(rows[:length, length:] < 1e-6), "no attention to padding"


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_image_patches_become_the_sequence(positions):
    config = parse_family(
        "transformer_vit", with_overrides(PARAMS["transformer_vit"], {"model.positions": positions})
    )
    model = get_family("transformer").build(image_spec(), config)
    assert model.get_layer("patches").output.shape[1:] == (49, 64)  # (28 / 4) ** 2 patches
    learned = sum(int(np.prod(w.shape)) for w in model.get_layer("positions").trainable_weights)
    assert learned == (49 * 64 if positions == "learned" else 0)
    weights = attention_weights(model, np.zeros((2, 28, 28, 1), np.uint8))
    assert weights.shape == (2, 49, 49)


def test_cosine_schedule_warms_up_linearly_then_decays():
    schedule = PARAMS["transformer"]["training"]["lr_schedule"]
    from dlpipe.config.training import LearningRateScheduleConfig

    rate = build_learning_rate(
        0.002, LearningRateScheduleConfig.model_validate(schedule), epochs=4, steps_per_epoch=10
    )
    values = [float(keras.ops.convert_to_numpy(rate(step))) for step in (0, 5, 10, 25, 40)]
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert values[1] == pytest.approx(0.001, rel=1e-4)  # half-way through the warm-up epoch
    assert values[2] == pytest.approx(0.002, rel=1e-4)
    assert values[2] > values[3] > values[4]
    assert values[4] == pytest.approx(0.0, abs=1e-6)


def test_odd_raw_strings_get_probabilities(language_model):
    _, spec, model = language_model
    words = ["", "ÜBERGEBEN", "übergeben", "zq9ß", "a" * 200]
    probabilities = model.predict(tf.constant(words), verbose=0)
    assert np.all(np.isfinite(probabilities)) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities[1], probabilities[2], atol=1e-6)  # Unicode lower case
    alone = model.predict(tf.constant(["", ""]), verbose=0)  # a batch of empty strings
    assert np.all(np.isfinite(alone))
