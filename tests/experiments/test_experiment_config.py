"""An experiment block is checked, arms and verdict included, before anything is trained."""

from __future__ import annotations

import copy

import pytest

from dlpipe.config.common import ConfigError
from dlpipe.config.experiment import parse_experiment_block
from dlpipe.config.schema import validate_parameters


def _with(params, block, **changes):
    values = copy.deepcopy(params[block])
    values["experiment"].update(changes)
    return values


def test_every_project_experiment_parses_with_its_arms(all_smoke_params):
    from tests.conftest import PROJECT_ROOT

    validate_parameters(all_smoke_params)
    experiments = sorted(b for b in all_smoke_params if b.startswith("experiment_"))
    files = sorted(
        p.stem.removeprefix("parameters_")
        for p in (PROJECT_ROOT / "conf/base").glob("parameters_experiment_*.yml")
    )
    assert experiments == files and len(experiments) == 10


def test_an_arm_naming_a_missing_block_is_named_with_the_blocks_there_are(all_smoke_params):
    arms = {"a": {"block": "mlpp"}, "b": {}}
    values = _with(
        all_smoke_params,
        "experiment_regularization",
        arms=arms,
        verdict=[{"arm": "a", "measure": "train_val_gap", "below": "b"}],
    )
    with pytest.raises(
        ConfigError, match=r"experiment_regularization\.experiment\.arms\.a\.block: 'mlpp'.*'mlp'"
    ):
        parse_experiment_block("experiment_regularization", values, all_smoke_params)


def test_an_arm_override_its_family_rejects_names_arm_key_and_value(all_smoke_params):
    params = copy.deepcopy(all_smoke_params)
    params["experiment_activations"]["experiment"]["arms"]["sigmoid"] = {"model.dense.activation": "sigmod"}
    with pytest.raises(ConfigError) as error:
        validate_parameters(params)
    message = str(error.value)
    assert "experiment_activations.experiment.arms.sigmoid" in message
    assert "model.dense.activation" in message and "sigmod" in message


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            {"arm": "ghost", "measure": "final_loss", "below": "none"},
            r"verdict\.0: arm 'ghost' is not one of",
        ),
        ({"arm": "l2", "measure": "final_loss", "below": "ghost"}, r"verdict\.0: arm 'ghost'"),
        ({"arm": "l2", "measure": "smartness", "below": "none"}, r"measure 'smartness' is not reported"),
        ({"arm": "l2", "measure": "final_loss"}, r"exactly one of 'below' and 'above'"),
        ({"arm": "l2", "measure": "epochs_to_target", "below": "none"}, r"needs the experiment's 'target'"),
    ],
)
def test_a_verdict_condition_that_cannot_be_checked_is_refused(all_smoke_params, condition, expected):
    values = _with(all_smoke_params, "experiment_regularization", verdict=[condition])
    with pytest.raises(ConfigError, match=expected):
        parse_experiment_block("experiment_regularization", values, all_smoke_params)


def test_repeated_seeds_and_a_single_arm_are_refused(all_smoke_params):
    with pytest.raises(ConfigError, match=r"seeds: \[1, 1\] repeats a seed"):
        parse_experiment_block(
            "experiment_regularization",
            _with(all_smoke_params, "experiment_regularization", seeds=[1, 1]),
            all_smoke_params,
        )
    one_arm = _with(
        all_smoke_params,
        "experiment_regularization",
        arms={"none": {}},
        verdict=[{"arm": "none", "measure": "final_loss", "below": 1.0}],
    )
    with pytest.raises(ConfigError, match=r"experiment_regularization\.experiment\.arms"):
        parse_experiment_block("experiment_regularization", one_arm, all_smoke_params)


def test_overrides_given_as_a_section_are_not_changed_by_an_arm_setting_a_key_inside_it(all_smoke_params):
    from dlpipe.config.experiment import ExperimentBlock

    experiment = ExperimentBlock.model_validate(all_smoke_params["experiment_regularization"]).experiment
    from dlpipe.config.schema import parse_node_config

    base = all_smoke_params["mlp"]
    dropout = parse_node_config(base, overrides=experiment.arm_overrides("dropout"))
    plain = parse_node_config(base, overrides=experiment.arm_overrides("none"))
    assert dropout.model.dense.dropout == 0.5
    assert plain.model.dense.dropout == 0.0


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"verdict": [{"arm": "l2", "measure": "test_acuracy", "below": "none"}]},
            r"verdict\.0\.measure: arm 'l2' does not report 'test_acuracy'; it reports \[.*'test_accuracy'",
        ),
        (
            {"verdict": [{"arm": "l2", "measure": "gradient_ratio", "below": "none"}]},
            r"verdict\.0\.measure: 'gradient_ratio' .* arm 'l2' needs training\.gradient_monitor\.enabled",
        ),
        (
            {"target": {"metric": "val_acc", "value": 0.8}},
            r"target\.metric: arm 'none' does not report 'val_acc'; it reports \[.*'val_accuracy'",
        ),
        ({"curves": [{"y": "val_los"}]}, r"curves\.0\.y: arm 'none' does not report 'val_los'"),
        ({"overrides": {"seed": 3}}, r"experiment\.overrides\.seed: an arm's seed is not overridden"),
    ],
)
def test_what_no_arm_would_report_is_refused_before_training(all_smoke_params, changes, expected):
    values = _with(all_smoke_params, "experiment_regularization", **changes)
    with pytest.raises(ConfigError, match=expected):
        parse_experiment_block("experiment_regularization", values, all_smoke_params)
