"""Parameter validation: the real config parses; each bad value is rejected with its key path."""

from __future__ import annotations

import copy

import pytest

from dlpipe.config.schema import (
    ConfigError,
    get_path,
    parse_family,
    validate_parameters,
    with_overrides,
)
from tests.conftest import load_project_params


@pytest.mark.parametrize("env", ["base", "smoke"])
def test_project_parameters_are_valid(env):
    configs = validate_parameters(load_project_params(env))
    assert set(configs) == {"cnn", "mlp"}
    assert configs["cnn"].model.conv is not None
    assert configs["mlp"].model.conv is None


BAD_VALUES = {
    "negative learning rate": (
        {"training.optimizer.learning_rate": -0.01},
        "cnn.training.optimizer.learning_rate",
        "-0.01",
    ),
    "unknown activation": (
        {"model.dense.activation": "relux"},
        "cnn.model.dense.activation",
        "relux",
    ),
    "dropout 1.5": ({"model.conv.dropout": 1.5}, "cnn.model.conv.dropout", "1.5"),
    "unknown optimizer": (
        {"training.optimizer.name": "adamm"},
        "cnn.training.optimizer.name",
        "adamm",
    ),
    "misspelled key": ({"training.epohcs": 3}, "cnn.training.epohcs", "unknown key"),
    "unknown strategy": ({"training.strategy": "tpu"}, "cnn.training.strategy", "tpu"),
    "zero batch size": ({"training.batch_size": 0}, "cnn.training.batch_size", "0"),
    "unknown monitored metric": (
        {"training.early_stopping.monitor": "val_acc"},
        "cnn.training.early_stopping.monitor",
        "val_acc",
    ),
    "loss maximized": ({"tuning.metric": "val_loss"}, "cnn.tuning", "must be minimized"),
    "unknown initializer": ({"model.initializer.name": "xavier"}, "cnn.model.initializer.name", "xavier"),
    "unknown loss": ({"training.loss": "hinge"}, "cnn.training.loss", "hinge"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_with_key_path(case):
    overrides, key_path, shown = BAD_VALUES[case]
    params = with_overrides(load_project_params("base")["cnn"], overrides)
    with pytest.raises(ConfigError) as raised:
        parse_family("cnn", params)
    message = str(raised.value)
    assert key_path in message
    assert shown in message


def test_search_space_low_above_high_is_rejected():
    params = copy.deepcopy(load_project_params("base")["cnn"])
    params["tuning"]["search_space"] = [{"path": "model.dense.units", "type": "int", "low": 256, "high": 64}]
    with pytest.raises(ConfigError, match=r"cnn\.tuning\.search_space\.0.*low \(256.*high \(64"):
        parse_family("cnn", params)


def test_search_space_path_must_exist():
    params = copy.deepcopy(load_project_params("base")["cnn"])
    params["tuning"]["search_space"] = [{"path": "model.dense.unitz", "type": "int", "low": 1, "high": 2}]
    with pytest.raises(ConfigError, match="model.dense.unitz"):
        parse_family("cnn", params)


def test_search_space_values_must_be_valid_parameters():
    params = copy.deepcopy(load_project_params("base")["cnn"])
    params["tuning"]["search_space"] = [
        {"path": "model.dense.dropout", "type": "float", "low": 0.1, "high": 1.5}
    ]
    with pytest.raises(ConfigError, match=r"value 1\.5 for 'model\.dense\.dropout'"):
        parse_family("cnn", params)


def test_unknown_parameter_group_is_rejected():
    params = load_project_params("base")
    params["cnnn"] = params.pop("cnn")
    with pytest.raises(ConfigError, match="cnnn"):
        validate_parameters(params)


def test_overrides_do_not_touch_the_original():
    tree = {"a": {"b": 1}}
    changed = with_overrides(tree, {"a.b": 2, "a.c": 3})
    assert tree == {"a": {"b": 1}}
    assert get_path(changed, "a.b") == 2 and get_path(changed, "a.c") == 3
    with pytest.raises(KeyError, match="a.x"):
        get_path(changed, "a.x.y")
