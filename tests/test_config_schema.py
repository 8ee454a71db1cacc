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
    configs = validate_parameters(load_project_params(env, families_only=False))
    # Other families' blocks may sit beside these two; every block must validate.
    assert set(configs) >= {"cnn", "mlp"}
    assert configs["cnn"].model.conv is not None
    assert getattr(configs["mlp"].model, "conv", None) is None  # mlp is dense-only
    for block, config in configs.items():
        assert block == config.model.family or block.startswith(f"{config.model.family}_")


BAD_VALUES = {
    "negative learning rate": (
        {"training.optimizer.learning_rate": -0.01},
        "cnn.training.optimizer.learning_rate",
        "-0.01",
    ),
    "registry requirement without a comparison": (
        {"registry.require": ["test_accuracy 0.9"]},
        "cnn.registry.require.0",
        "'<test metric> <op> <number>'",
    ),
    "registry requirement on a metric no run reports": (
        {"registry.require": ["test_f1 >= 0.9"]},
        "cnn.registry.require.0",
        "'test_accuracy'",
    ),
    "negative min_improvement": ({"registry.min_improvement": -0.1}, "cnn.registry.min_improvement", "-0.1"),
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
    "loss maximized": ({"tuning.metric": "val_loss"}, "cnn.tuning.direction", "must be minimized"),
    "unknown initializer": ({"model.initializer.name": "xavier"}, "cnn.model.initializer.name", "xavier"),
    "unknown loss": ({"training.loss": "hinge"}, "cnn.training.loss", "hinge"),
    "unregistered family": ({"model.family": "capsule"}, "cnn.model.family", "capsule"),
    "regression metric on a classification family": (
        {"tuning.metric": "val_mae", "tuning.direction": "minimize"},
        "cnn.tuning.metric",
        "val_mae",
    ),
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
    assert "CnnConfig(" not in message  # the value is shown, never the whole block


def test_block_whose_name_and_family_disagree_is_rejected():
    params = copy.deepcopy(load_project_params("base")["cnn"])  # model.family: cnn
    with pytest.raises(ConfigError) as raised:
        parse_family("mlp", params)
    message = str(raised.value)
    assert "mlp.model.family" in message and "'cnn'" in message
    # The same through the whole parameters, as the run's validation hook sees them.
    everything = load_project_params("base")
    everything["mlp"] = params
    with pytest.raises(ConfigError, match=r"mlp\.model\.family: block 'mlp' holds family 'cnn'"):
        validate_parameters(everything)


def test_variant_blocks_are_named_after_their_family():
    params = load_project_params("base")["cnn"]
    assert parse_family("cnn_wide", params).model.family == "cnn"
    with pytest.raises(ConfigError, match=r"cnnwide\.model\.family"):
        parse_family("cnnwide", params)


def test_block_naming_an_unregistered_family_is_rejected():
    params = with_overrides(load_project_params("base")["cnn"], {"model.family": "capsule"})
    with pytest.raises(ConfigError) as raised:
        validate_parameters({"capsule": params})
    message = str(raised.value)
    assert "capsule.model.family" in message and "unknown family 'capsule'" in message
    assert "cnn" in message and "mlp" in message  # the registered ones are listed


def test_block_without_a_family_is_rejected():
    params = copy.deepcopy(load_project_params("base")["cnn"])
    del params["model"]["family"]
    with pytest.raises(ConfigError, match=r"cnn\.model\.family: missing"):
        parse_family("cnn", params)


def test_sections_of_another_family_are_rejected():
    # The dense-only mlp has no conv blocks: its schema rejects a conv section.
    params = with_overrides(load_project_params("base")["mlp"], {"model.conv": {"num_blocks": 1}})
    with pytest.raises(ConfigError) as raised:
        parse_family("mlp", params)
    assert "mlp.model.conv" in str(raised.value) and "unknown key" in str(raised.value)


def test_task_defaults_fill_loss_and_metrics():
    params = copy.deepcopy(load_project_params("base")["cnn"])
    del params["training"]["loss"]
    del params["training"]["early_stopping"]["monitor"]
    del params["tuning"]["metric"]
    del params["tuning"]["direction"]
    del params["dataset"]["name"]
    config = parse_family("cnn", params)
    assert config.training.loss == "sparse_categorical_crossentropy"
    assert config.training.early_stopping.monitor == "val_accuracy"
    assert (config.tuning.metric, config.tuning.direction) == ("val_accuracy", "maximize")
    assert config.dataset.name == "fashion_mnist_local"


def test_distance_losses_on_one_hot_classes_are_allowed():
    params = with_overrides(load_project_params("base")["cnn"], {"training.loss": "huber"})
    assert parse_family("cnn", params).training.loss == "huber"


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
