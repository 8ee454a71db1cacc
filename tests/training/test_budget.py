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


def test_a_budgeted_run_tunes_within_its_share_and_trains_the_epochs_that_fit(
    cnn_params, fashion_splits, pipeline_run, caplog
):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")
    cnn_params["tuning"]["n_trials"] = 50
    cnn_params["training"]["epochs"] = 200
    cnn_params["training"]["early_stopping"]["enabled"] = False
    # The run began long enough ago that the study's share (30 % of 30 s) is nearly spent.
    cnn_params["budget"] = {"seconds": 30, "tuning_share": 0.3, "reserve_s": 5}
    run_scope._scope["started"] = time.monotonic() - 7
    _, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert 1 <= len(trials) < 50  # stopped by the budget's share, not by n_trials
    config = parse_family("cnn", cnn_params)
    study = open_study(config)
    assert all(attr in trial.user_attrs for trial in study.trials for attr in PACE_ATTRS)
    pace, best_number = measured_pace(config)
    assert best_number == study.best_trial.number

    left = RunBudget(config.budget).training_seconds_left()
    expected = planned_epochs(200, left, pace, len(splits["x_train"]), len(splits["x_val"]))
    with caplog.at_level(logging.INFO, logger="dlpipe.pipelines.training.nodes"):
        _, history = train_model(splits, info, [], {}, cnn_params)
    assert 1 <= expected < 200
    # Planned from the pace (the clock moved on a little since `expected`), or stopped by the deadline.
    assert expected - 1 <= len(history["loss"]) <= expected
    assert f"(trial {best_number}'s pace)" in caplog.text


def test_without_a_budget_trials_and_epochs_are_as_configured(cnn_params, fashion_splits):
    splits, spec = fashion_splits
    cnn_params["budget"] = {"seconds": None}
    info = spec.model_dump(mode="json")
    _, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials) == cnn_params["tuning"]["n_trials"]
    cnn_params["training"]["early_stopping"]["enabled"] = False
    _, history = train_model(splits, info, [], {}, cnn_params)
    assert len(history["loss"]) == cnn_params["training"]["epochs"]
