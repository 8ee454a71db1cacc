"""Model factories build what the config says."""

from __future__ import annotations

import keras
import pytest

from dlpipe.config.schema import ModelConfig
from dlpipe.models import build_model


def _cnn(**conv):
    base = {"num_blocks": 2, "filters": 8, "convs_per_block": 2, "batch_norm": True, "dropout": 0.1}
    return ModelConfig.model_validate(
        {"family": "cnn", "conv": {**base, **conv}, "dense": {"num_layers": 2, "units": 16}}
    )


def test_cnn_has_the_configured_blocks_and_head():
    model = build_model([28, 28, 1], 10, _cnn())
    names = [layer.name for layer in model.layers]
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 4
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 4
    assert "block2_pool" in names and "dense2" in names
    assert model.get_layer("block2_conv1").filters == 16  # filters doubled in the second block
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation.__name__ == "softmax"


def test_cnn_geometry_follows_padding_and_stride():
    same = build_model([28, 28, 1], 10, _cnn(num_blocks=1, convs_per_block=1, pooling="none"))
    valid = build_model(
        [28, 28, 1],
        10,
        _cnn(num_blocks=1, convs_per_block=1, pooling="none", padding="valid", stride=2),
    )
    assert same.get_layer("block1_conv1").output.shape[1:3] == (28, 28)
    assert valid.get_layer("block1_conv1").output.shape[1:3] == (13, 13)  # floor((28-3)/2)+1


def test_mlp_is_dense_only():
    config = ModelConfig.model_validate({"family": "mlp", "dense": {"num_layers": 3, "units": 32}})
    model = build_model([28, 28, 1], 10, config)
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert sum(isinstance(layer, keras.layers.Dense) for layer in model.layers) == 4


def test_cnn_rejects_flat_inputs():
    with pytest.raises(ValueError, match=r"input_shape \[30\]"):
        build_model([30], 2, _cnn())


def test_family_and_sections_must_agree():
    with pytest.raises(ValueError, match="needs a 'conv' section"):
        ModelConfig.model_validate({"family": "cnn"})
    with pytest.raises(ValueError, match="dense-only"):
        ModelConfig.model_validate({"family": "mlp", "conv": {}})
