"""What a fit is measured by, on models and curves whose answer is known."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from dlpipe.config.experiment import Target
from dlpipe.experiments import measures


def _dense_model(kernel: np.ndarray) -> keras.Model:
    inputs = keras.Input((kernel.shape[0],))
    hidden = keras.layers.Dense(kernel.shape[1], name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="output")(hidden)
    model = keras.Model(inputs, outputs)
    model.get_layer("hidden").kernel.assign(kernel)
    return model


def test_identical_hidden_units_count_as_one():
    identical = np.tile(np.array([[0.3], [-0.2], [0.1]]), (1, 8))
    assert measures.distinct_units_fraction(_dense_model(identical)) == pytest.approx(1 / 8)
    different = np.random.default_rng(0).normal(size=(3, 8))
    assert measures.distinct_units_fraction(_dense_model(different)) == 1.0


def test_epochs_to_target_is_the_first_epoch_that_reaches_it_or_one_past_the_last(mlp_params):
    from dlpipe.config.schema import parse_node_config

    config = parse_node_config(mlp_params)  # classification: val_accuracy improves upwards
    curves = {"val_accuracy": [0.5, 0.79, 0.81, 0.8], "val_loss": [1.0, 0.6, 0.4, 0.5]}
    assert measures.epochs_to_target(curves, Target(metric="val_accuracy", value=0.8), config) == (3, 1.0)
    assert measures.epochs_to_target(curves, Target(metric="val_loss", value=0.5), config) == (3, 1.0)
    # Never reached in 4 epochs: at least 5 would have been needed (an infinite mean would let
    # any arm look faster than one that missed the target once).
    assert measures.epochs_to_target(curves, Target(metric="val_accuracy", value=0.9), config) == (5, 0.0)


def test_train_val_gap_is_positive_when_the_training_examples_score_better(mlp_params):
    from dlpipe.config.schema import parse_node_config

    config = parse_node_config(mlp_params)
    assert measures.train_val_gap({"train_accuracy": 0.99, "val_accuracy": 0.8}, config) == pytest.approx(
        0.19
    )


@pytest.mark.parametrize(
    ("losses", "batch_losses", "expected"),
    [
        ([2.3, 1.5, 1.0], [2.3, 2.2, 1.5], False),
        ([2.3, 2.31, 2.32], [2.3, 2.4], False),  # a noisy plateau is not divergence
        ([2.3, math.nan], [2.3, 1.0], True),
        ([1e9, 2.3, 2.3], [2.3, 1e9], True),  # blew up, then died at chance
        ([2.0], [2.3, math.inf], True),
    ],
)
def test_divergence_is_a_non_finite_loss_or_an_explosion(losses, batch_losses, expected):
    recorder = measures.EpochRecorder()
    recorder.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    for batch, loss in enumerate(batch_losses):
        recorder.on_train_batch_end(batch, {"loss": loss})
    assert measures.diverged({"loss": losses}, recorder) is expected


def test_first_epoch_gradient_norms_are_geometric_means_of_the_first_epochs_measurements():
    history = [
        {"step": 0, "norms": {"dense1": 1e-6, "output": 1.0}},
        {"step": 10, "norms": {"dense1": 1e-4, "output": 4.0}},
        {"step": 20, "norms": {"dense1": 5.0, "output": 5.0}},  # second epoch: left out
    ]
    norms = measures.first_epoch_gradient_norms(history, updates_per_epoch=10)
    assert norms == pytest.approx({"dense1": 1e-5, "output": 2.0})
    summary = measures.gradient_measures(norms)
    assert summary["gradient_ratio"] == pytest.approx(5e-6)


def test_a_gradient_that_vanished_or_broke_once_is_never_averaged_into_a_healthy_one():
    history = [
        {"step": 0, "norms": {"dense1": 0.0, "dense2": math.nan, "output": 1.0}},
        {"step": 5, "norms": {"dense1": 3.0, "dense2": 2.0, "output": 1.0}},
    ]
    norms = measures.first_epoch_gradient_norms(history, updates_per_epoch=10)
    assert norms["dense1"] == 0.0 and math.isnan(norms["dense2"]) and norms["output"] == 1.0
    assert measures.gradient_measures(norms)["gradient_ratio"] == 0.0


def test_the_recorder_stops_at_the_first_non_finite_loss_and_keeps_the_epochs_before():
    recorder = measures.EpochRecorder()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    recorder.set_model(model)
    recorder.on_train_begin()
    recorder.on_epoch_begin(0)
    recorder.on_train_batch_end(0, {"loss": 1.0})
    recorder.on_epoch_end(0, {"loss": 1.0})
    recorder.on_epoch_begin(1)
    recorder.on_train_batch_end(0, {"loss": math.inf})
    assert model.stop_training and recorder.diverged_at_epoch == 2
    assert recorder.curves()["loss"] == [1.0]
