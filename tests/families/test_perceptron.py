"""The perceptron family: the learning rule converges on separable data and fails on XOR, where
one hidden layer succeeds."""

from __future__ import annotations

import numpy as np
import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")


def _train(block: str, tmp_path, epochs: int, **overrides):
    params = with_overrides(shrunk_block(PARAMS[block], tmp_path, epochs=epochs), overrides)
    params["dataset"].pop("train_limit", None)  # these sets are small: all of them
    config = parse_family(block, params)
    splits, spec = load_splits(config.dataset, config.seed)
    return fit_model(config, splits, spec, epochs=epochs, callbacks=[])


def test_rule_converges_on_separable_iris(tmp_path):
    _, history = _train("perceptron", tmp_path, epochs=30)
    assert history["accuracy"][-1] == 1.0
    assert history["updates"][-1] == 0  # it stopped because an epoch changed nothing
    assert len(history["updates"]) < 30


def test_rule_never_gets_all_xor_points(tmp_path):
    _, history = _train("perceptron_xor", tmp_path, epochs=40)
    assert max(history["accuracy"]) <= 0.75
    assert min(history["updates"]) > 0  # it never converges


def test_one_hidden_layer_learns_xor(tmp_path):
    model, history = _train("mlp_xor", tmp_path, epochs=300)
    points = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    predicted = model.predict(points, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(predicted, [0, 1, 1, 0])


@pytest.mark.parametrize(
    ("overrides", "key", "shown"),
    [
        ({"training.optimizer.name": "adam"}, "perceptron.training.optimizer.name", "adam"),
        ({"training.loss": "binary_crossentropy"}, "perceptron.training.loss", "binary_crossentropy"),
        ({"model.initializer": "he_normal"}, "perceptron.model.initializer", "he_normal"),
        (
            {"training.early_stopping.monitor": "val_updates"},
            "perceptron.training.early_stopping.monitor",
            "updates",
        ),
    ],
)
def test_bad_value_is_rejected_naming_the_key(overrides, key, shown):
    assert_rejected_naming_the_key("perceptron", PARAMS["perceptron"], overrides, key, shown)
