"""The rnn family: its configuration is checked, its data read in order, its layers as configured."""

from __future__ import annotations

import numpy as np
import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, get_family
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")

BAD_VALUES = {
    "unknown cell": ("rnn", {"model.cell": "transformer"}, "rnn.model.cell", "transformer"),
    "negative units": ("rnn", {"model.units": -4}, "rnn.model.units", "-4"),
    "recurrent dropout 1": ("rnn", {"model.recurrent_dropout": 1.0}, "rnn.model.recurrent_dropout", "1.0"),
    "classification loss on regression": (
        "rnn_forecast",
        {"training.loss": "sparse_categorical_crossentropy"},
        "rnn_forecast.training.loss",
        "regression",
    ),
    "metric the task does not report": (
        "rnn_forecast",
        {"training.early_stopping.monitor": "val_accuracy"},
        "rnn_forecast.training.early_stopping.monitor",
        "val_mae",
    ),
    "task the family cannot learn": ("rnn", {"task": "generation"}, "rnn.task", "generation"),
    "zero-length windows": (
        "rnn_forecast",
        {"dataset.windows.length": 0},
        "rnn_forecast.dataset.windows.length",
        "0",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    block, *rest = BAD_VALUES[case]
    assert_rejected_naming_the_key(block, PARAMS[block], *rest)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_layers_follow_the_config(cell, tmp_path):
    config = parse_family(
        "rnn",
        with_overrides(
            shrunk_block(PARAMS["rnn"], tmp_path),
            {"model.cell": cell, "model.num_layers": 2, "model.units": 8, "model.bidirectional": True},
        ),
    )
    _, spec = load_splits(config.dataset, config.seed)
    model = get_family("rnn").build(spec, config)
    names = [layer.name for layer in model.layers]
    assert "padding_mask" in names and "standardize" in names  # variable lengths are masked
    assert names.count("bidirectional1") == 1 and "bidirectional2" in names
    first = model.get_layer("bidirectional1").forward_layer
    assert first.units == 8 and first.return_sequences  # stacked: the first layer returns sequences
    assert not model.get_layer("bidirectional2").forward_layer.return_sequences
    assert model.output_shape == (None, spec.num_classes)


def test_forecast_windows_are_split_in_time_order(tmp_path):
    config = parse_family("rnn_forecast", shrunk_block(PARAMS["rnn_forecast"], tmp_path))
    splits, spec = load_splits(config.dataset, config.seed)
    length = config.dataset.windows.length
    assert spec.modality == "sequence" and spec.input_shape == [length, 1] and spec.forecast_horizon == 1
    # Each window's target is the value right after it; consecutive windows overlap by one step.
    series = np.concatenate([splits["x_train"][0, :, 0], splits["y_train"][:, 0]])
    np.testing.assert_array_equal(splits["x_train"][1, :, 0], series[1 : length + 1])
    # The validation window starts where training ends, the test window where validation ends.
    np.testing.assert_array_equal(splits["x_val"][0, -1, 0], splits["y_train"][-1, 0])
    np.testing.assert_array_equal(splits["x_test"][0, -1, 0], splits["y_val"][-1, 0])
    assert spec.num_train + spec.num_val + spec.num_test == 309 - length


def test_image_data_is_refused_before_training(tmp_path):
    config = parse_family(
        "rnn", with_overrides(shrunk_block(PARAMS["rnn"], tmp_path), {"dataset.name": "fashion_mnist_local"})
    )
    _, spec = load_splits(config.dataset, config.seed)
    with pytest.raises(ValueError, match="model.family: 'rnn' reads sequences"):
        check_fits_data(config, spec)
