"""A run's budget: the study stops at its share, the final training plans its epochs from the best
trial's measured pace, and a deadline stops an overrunning training."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
import pytest

from dlpipe import run_scope
from dlpipe.config.common import ConfigError
from dlpipe.config.schema import parse_family
from dlpipe.pipelines.training.nodes import train_model
from dlpipe.pipelines.tuning.nodes import tune_hyperparameters
from dlpipe.training.budget import BudgetDeadline, EpochTimer, Pace, RunBudget, planned_epochs
from dlpipe.training.fingerprint import configuration_fingerprint
from dlpipe.tuning.pace import PACE_ATTRS, measured_pace
from dlpipe.tuning.storage import open_study


def _tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_planned_epochs_are_those_that_fit_with_the_margin_between_one_and_the_maximum():
    pace = Pace(train_s_per_example=0.001, validation_s_per_example=0.0005)
    assert pace.epoch_seconds(1000, 200) == pytest.approx(1.1)
    # 1.1 s per epoch, planned at 1.21 s: 12.0 s hold 9 epochs, not 10.
    assert planned_epochs(30, 12.0, pace, 1000, 200) == 9
    assert planned_epochs(5, 12.0, pace, 1000, 200) == 5  # the configured epochs stay the maximum
    assert planned_epochs(30, 0.5, pace, 1000, 200) == 1  # always at least one epoch
    assert planned_epochs(30, 12.0, None, 1000, 200) == 30  # nothing measured: the maximum


def test_the_epoch_timer_splits_each_epoch_into_training_and_validation():
    x, y = np.random.default_rng(0).normal(size=(256, 4)), np.arange(256) % 2
    timer = EpochTimer()
    _tiny_model().fit(
        x, y, validation_data=(x[:64], y[:64]), epochs=2, batch_size=32, verbose=0, callbacks=[timer]
    )
    assert len(timer.train_seconds) == len(timer.validation_seconds) == 2
    assert all(s > 0 for s in timer.train_seconds + timer.validation_seconds)
    pace = timer.pace(256, 64)
    assert pace.train_s_per_example == pytest.approx(timer.train_seconds[-1] / 256)
    assert pace.validation_s_per_example == pytest.approx(timer.validation_seconds[-1] / 64)
    assert EpochTimer().pace(256, 64) is None


def test_the_deadline_stops_training_when_another_epoch_would_overrun_it(caplog):
    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2
    deadline = BudgetDeadline(time.monotonic() + 3600)
    history = _tiny_model().fit(x, y, epochs=3, verbose=0, callbacks=[deadline])
    assert len(history.history["loss"]) == 3 and deadline.stopped_after is None
    past = BudgetDeadline(time.monotonic())
    with caplog.at_level(logging.WARNING, logger="dlpipe.training.budget"):
        history = _tiny_model().fit(x, y, epochs=5, verbose=0, callbacks=[past])
    assert len(history.history["loss"]) == 1 and past.stopped_after == 1
    assert "stopping after epoch 1" in caplog.text


def test_the_budget_counts_from_the_start_of_the_pipeline_run(cnn_params, pipeline_run):
    config = parse_family(
        "cnn", {**cnn_params, "budget": {"seconds": 100, "tuning_share": 0.25, "reserve_s": 10}}
    )
    budget = RunBudget(config.budget)
    assert budget.started == run_scope.started_at()
    assert 0 < budget.tuning_seconds_left() <= 25
    assert 0 < budget.training_seconds_left() <= 90


def test_a_reserve_that_leaves_no_training_time_is_refused_naming_the_key(cnn_params):
    with pytest.raises(ConfigError) as err:
        parse_family("cnn", {**cnn_params, "budget": {"seconds": 60, "tuning_share": 0.5, "reserve_s": 30}})
    assert "budget.reserve_s" in str(err.value) and "30" in str(err.value)


def test_the_budget_does_not_change_which_backup_a_training_resumes(cnn_params, fashion_splits):
    _, spec = fashion_splits
    plain = parse_family("cnn", cnn_params)
    budgeted = parse_family("cnn", {**cnn_params, "budget": {"seconds": 500}})
    assert configuration_fingerprint(plain, spec) == configuration_fingerprint(budgeted, spec)


def test_the_study_gets_its_share_of_what_is_left_and_at_least_a_second(pipeline_run):
    from dlpipe.config.budget import BudgetConfig
    from dlpipe.training.budget import tuning_timeout

    budget = BudgetConfig(seconds=100, tuning_share=0.3, reserve_s=10)
    run_scope._scope["started"] = time.monotonic() - 10  # the run began 10 s ago
    assert 19 < tuning_timeout(budget, None) <= 20
    assert tuning_timeout(budget, 5.0) == 5.0  # a shorter configured timeout stands
    run_scope._scope["started"] = time.monotonic() - 60  # the share is spent: one trial still runs
    assert tuning_timeout(budget, None) == 1.0
    assert tuning_timeout(BudgetConfig(), 7.0) == 7.0  # no budget: as configured


def test_trials_record_their_pace_and_a_session_cut_by_the_budget_is_not_tuned_again(
    cnn_params, fashion_splits, pipeline_run
):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")
    cnn_params["tuning"]["n_trials"] = 50
    cnn_params["budget"] = {"seconds": 30, "tuning_share": 0.3, "reserve_s": 5}
    run_scope._scope["started"] = time.monotonic() - 8.5  # 0.5 s of the study's 9 s left
    _, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials) == 1  # the timeout (at least a second) lets one trial start, not 50
    config = parse_family("cnn", cnn_params)
    study = open_study(config)
    trial = study.trials[0]
    assert all(trial.user_attrs[attr] > 0 for attr in PACE_ATTRS)
    assert measured_pace(config) == (Pace(*(trial.user_attrs[attr] for attr in PACE_ATTRS)), 0)
    # The run fails later (say in training) and is run again: the session it cut short is done.
    run_scope._scope["started"] = time.monotonic()
    _, trials_again = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials_again) == 1


def test_the_pace_is_the_best_trials_else_the_latest_measured(cnn_params):
    import optuna

    config = parse_family("cnn", cnn_params)
    study = open_study(config)
    paced = dict(zip(PACE_ATTRS, (0.002, 0.001), strict=True))
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs=paced))
    study.add_trial(optuna.trial.create_trial(value=0.9))  # the best, from before paces were kept
    assert measured_pace(config) == (Pace(0.002, 0.001), 0)
    study.add_trial(
        optuna.trial.create_trial(value=0.95, user_attrs=dict(zip(PACE_ATTRS, (0.003, 0.002), strict=True)))
    )
    assert measured_pace(config) == (Pace(0.003, 0.002), 2)


def test_the_final_training_trains_the_epochs_that_fit_at_the_measured_pace(
    cnn_params, fashion_splits, pipeline_run, monkeypatch, caplog
):
    from dlpipe.pipelines.training import nodes as training_nodes

    splits, spec = fashion_splits
    num_train, num_val = len(splits["x_train"]), len(splits["x_val"])
    # An epoch of exactly 1 s at this pace: 10 s left hold 9 epochs with the 10 % margin.
    pace = Pace(0.8 / num_train, 0.2 / num_val)
    monkeypatch.setattr(training_nodes, "measured_pace", lambda config: (pace, 7))
    monkeypatch.setattr(RunBudget, "training_seconds_left", lambda self: 10.0)
    cnn_params["training"]["epochs"] = 200
    cnn_params["training"]["early_stopping"]["enabled"] = False
    cnn_params["budget"] = {"seconds": 3600}  # its deadline is far: the plan alone decides
    with caplog.at_level(logging.INFO, logger="dlpipe.pipelines.training.nodes"):
        _, history = train_model(splits, spec.model_dump(mode="json"), [], {}, cnn_params)
    assert len(history["loss"]) == 9
    assert "(trial 7's pace): 9 of at most 200 epochs" in caplog.text


def test_without_a_budget_trials_and_epochs_are_as_configured(cnn_params, fashion_splits):
    splits, spec = fashion_splits
    cnn_params["budget"] = {"seconds": None}
    info = spec.model_dump(mode="json")
    _, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials) == cnn_params["tuning"]["n_trials"]
    cnn_params["training"]["early_stopping"]["enabled"] = False
    _, history = train_model(splits, info, [], {}, cnn_params)
    assert len(history["loss"]) == cnn_params["training"]["epochs"]


def test_a_deadline_in_an_early_phase_ends_the_training_and_keeps_it_as_finished(tmp_path, pipeline_run):
    from dlpipe.families import TrainingPhase
    from dlpipe.training.backup import TrainingBackup
    from dlpipe.training.backup_folders import FINISHED
    from dlpipe.training.phases import fit_in_phases

    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2
    model = _tiny_model()
    backup = TrainingBackup(str(tmp_path / "backup"), keep_finished=True)
    deadline = BudgetDeadline(time.monotonic())  # passed: stops after the first epoch
    phases = [TrainingPhase("head", 3), TrainingPhase("all", 3)]
    history, epochs_run = fit_in_phases(
        model, phases, enter=lambda phase: None, callbacks=[backup, deadline], x=x, y=y, verbose=0
    )
    assert epochs_run == 1 and len(history["loss"]) == 1  # the second phase never started
    # Kept as a finished training, not as resume points a rerun would continue from.
    assert (tmp_path / "backup" / FINISHED).is_dir()
    assert not list((tmp_path / "backup").glob("epoch-*"))
