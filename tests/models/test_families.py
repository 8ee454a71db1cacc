"""Registered families build what the config says, from the data's description."""

from __future__ import annotations

import keras
import pytest
from pydantic import ValidationError

from dlpipe.families import check_fits_data, get_family, registered_families
from dlpipe.families.cnn import CnnModelConfig
from dlpipe.families.mlp import MlpModelConfig
from tests.conftest import block_config, image_spec, tabular_spec


def _cnn(**conv):
    base = {"num_blocks": 2, "filters": 8, "convs_per_block": 2, "batch_norm": True, "dropout": 0.1}
    return block_config(
        "cnn", {"family": "cnn", "conv": {**base, **conv}, "dense": {"num_layers": 2, "units": 16}}
    )


def _build(config, spec=None):
    return get_family(config.model.family).build(spec or image_spec(), config)


def test_cnn_has_the_configured_blocks_and_head():
    model = _build(_cnn())
    names = [layer.name for layer in model.layers]
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 4
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 4
    assert "block2_pool" in names and "dense2" in names
    assert model.get_layer("block2_conv1").filters == 16  # filters doubled in the second block
    assert model.output_shape == (None, 10)
    assert model.layers[-1].name == "predictions"
    assert model.layers[-1].activation.__name__ == "softmax"


def test_a_model_takes_raw_pixels_and_rescales_them_itself():
    model = _build(_cnn())
    rescale = model.layers[1]  # right after the input
    assert isinstance(rescale, keras.layers.Rescaling) and rescale.name == "rescale"
    assert rescale.scale == pytest.approx(1 / 255)
    # Images stored as floats in [0, 1] are left as they are.
    floats = _build(_cnn(), image_spec(dtype="float32"))
    assert floats.get_layer("rescale").scale == pytest.approx(1.0)


def test_cnn_geometry_follows_padding_and_stride():
    same = _build(_cnn(num_blocks=1, convs_per_block=1, pooling="none"))
    valid = _build(_cnn(num_blocks=1, convs_per_block=1, pooling="none", padding="valid", stride=2))
    assert same.get_layer("block1_conv1").output.shape[1:3] == (28, 28)
    assert valid.get_layer("block1_conv1").output.shape[1:3] == (13, 13)  # floor((28-3)/2)+1


def test_mlp_is_dense_only():
    config = block_config("mlp", {"family": "mlp", "dense": {"num_layers": 3, "units": 32}})
    model = _build(config)
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert sum(isinstance(layer, keras.layers.Dense) for layer in model.layers) == 4
    assert model.output_shape == (None, 10)


def test_cnn_rejects_flat_inputs():
    with pytest.raises(ValueError, match=r"model.family: 'cnn' needs image inputs.*shape \[30\]"):
        check_fits_data(_cnn(), tabular_spec(30))


def test_family_and_sections_must_agree():
    # A cnn without a conv section gets the default conv blocks; the dense-only mlp has none.
    assert CnnModelConfig.model_validate({"family": "cnn"}).conv.num_blocks >= 1
    with pytest.raises(ValidationError, match=r"conv\s+Extra inputs are not permitted"):
        MlpModelConfig.model_validate({"family": "mlp", "conv": {}})
    with pytest.raises(ValidationError, match="family"):
        MlpModelConfig.model_validate({"family": "cnn"})


def test_families_are_registered_by_name():
    families = registered_families()
    assert {"cnn", "mlp"} <= set(families)
    for name, family in families.items():
        assert family.name == name and get_family(name) is family
    with pytest.raises(KeyError, match=r"unknown model family 'capsule'; registered: .*'cnn'"):
        get_family("capsule")
