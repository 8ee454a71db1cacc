"""Every categorical knob of the toolbox builds and trains, on a slice of real data."""

from __future__ import annotations

import math
import typing

import keras
import numpy as np
import pytest

from dlpipe.config import common
from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.config.training import LearningRateScheduleConfig
from dlpipe.families import get_family
from dlpipe.training.fit import fit_model, iterations_per_epoch
from tests.conftest import image_spec


def _train_one_epoch(params, splits, info, overrides):
    config = parse_family(params["model"]["family"], with_overrides(params, overrides))
    model, history = fit_model(config, splits, info, epochs=1, callbacks=[])
    assert math.isfinite(history["loss"][0]), overrides
    return model, history


def _choices(model_class, field):
    return typing.get_args(model_class.model_fields[field].annotation)


@pytest.fixture
def small(tiny_splits):
    splits, info = tiny_splits
    return {k: v[:64] for k, v in splits.items()}, info


@pytest.mark.parametrize("activation", common.ACTIVATIONS)
def test_every_activation_trains(activation, mlp_params, small):
    model, _ = _train_one_epoch(mlp_params, *small, {"model.dense.activation": activation})
    if activation == "leaky_relu":
        assert any(isinstance(layer, keras.layers.LeakyReLU) for layer in model.layers)


def test_leaky_relu_slope_is_applied(mlp_params, small):
    overrides = {"model.dense.activation": "leaky_relu", "model.dense.leaky_relu_slope": 0.05}
    model, _ = _train_one_epoch(mlp_params, *small, overrides)
    leaky = next(layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU))
    assert leaky.negative_slope == pytest.approx(0.05)


@pytest.mark.parametrize("initializer", [n for n in common.INITIALIZERS if n != "pretrained"])
def test_every_initializer_trains(initializer, mlp_params, small):
    model, _ = _train_one_epoch(mlp_params, *small, {"model.initializer.name": initializer})
    if initializer == "zeros":
        kernel = model.get_layer("dense1").get_weights()[0]
        assert np.allclose(kernel, 0.0)  # zeros: no gradient reaches a symmetric hidden layer


def test_pretrained_initializer_starts_from_a_saved_model(mlp_params, small, tmp_path):
    source, _ = _train_one_epoch(mlp_params, *small, {})
    saved = tmp_path / "model.keras" / "2026-01-01T00.00.00.000Z" / "model.keras"
    saved.parent.mkdir(parents=True)
    source.save(saved)
    config = parse_family(
        "mlp",
        with_overrides(
            mlp_params,
            {
                "model.initializer.name": "pretrained",
                "model.initializer.pretrained_model": str(saved.parents[1]),
            },
        ),
    )
    model = get_family("mlp").build(image_spec(), config)
    for name in ("dense1", "dense2", "predictions"):
        got, expected = model.get_layer(name).get_weights(), source.get_layer(name).get_weights()
        for got_array, expected_array in zip(got, expected, strict=True):
            np.testing.assert_array_equal(got_array, expected_array)


def test_pretrained_without_a_saved_model_names_the_path(mlp_params, tmp_path):
    config = parse_family(
        "mlp",
        with_overrides(
            mlp_params,
            {
                "model.initializer.name": "pretrained",
                "model.initializer.pretrained_model": str(tmp_path / "x"),
            },
        ),
    )
    with pytest.raises(FileNotFoundError, match="pretrained_model.*x"):
        get_family("mlp").build(image_spec(), config)


@pytest.mark.parametrize("loss", [loss for loss in common.LOSSES if loss != "binary_crossentropy"])
def test_every_multiclass_loss_trains(loss, mlp_params, small):
    _train_one_epoch(mlp_params, *small, {"training.loss": loss})


def test_binary_cross_entropy_on_two_classes(mlp_params, tiny_splits):
    splits, info = tiny_splits
    keep = {name: splits[f"y_{name}"] < 2 for name in ("train", "val", "test")}
    binary = {}
    for name, mask in keep.items():
        binary[f"x_{name}"] = splits[f"x_{name}"][mask]
        binary[f"y_{name}"] = splits[f"y_{name}"][mask]
    info = info.model_copy(update={"class_names": info.class_names[:2]})
    assert info.num_classes == 2
    model, _ = _train_one_epoch(mlp_params, binary, info, {"training.loss": "binary_crossentropy"})
    assert model.output_shape == (None, 1)


def test_binary_cross_entropy_on_ten_classes_is_refused_before_training(mlp_params, small):
    with pytest.raises(ValueError, match="training.loss: 'binary_crossentropy' needs exactly 2 classes"):
        _train_one_epoch(mlp_params, *small, {"training.loss": "binary_crossentropy"})


@pytest.mark.parametrize("optimizer", common.OPTIMIZERS)
def test_every_optimizer_trains(optimizer, mlp_params, small):
    overrides = {"training.optimizer.name": optimizer}
    if optimizer == "sgd":
        overrides.update({"training.optimizer.momentum": 0.9, "training.optimizer.nesterov": True})
    model, _ = _train_one_epoch(mlp_params, *small, overrides)
    assert type(model.optimizer).__name__.lower() == optimizer


@pytest.mark.parametrize("schedule", _choices(LearningRateScheduleConfig, "name"))
def test_every_learning_rate_schedule_trains(schedule, mlp_params, small):
    _, history = _train_one_epoch(mlp_params, *small, {"training.lr_schedule.name": schedule})
    assert "loss" in history


def test_cosine_schedule_decays_to_alpha(mlp_params, small):
    overrides = {"training.lr_schedule.name": "cosine", "training.lr_schedule.alpha": 0.1}
    model, _ = _train_one_epoch(mlp_params, *small, overrides)
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    initial = mlp_params["training"]["optimizer"]["learning_rate"]
    assert rate == pytest.approx(0.1 * initial, rel=1e-3)


@pytest.mark.parametrize(
    "regularization",
    [
        {"model.regularization.l1": 1e-4},
        {"model.regularization.l2": 1e-4},
        {"model.regularization.l1": 1e-4, "model.regularization.l2": 1e-4},
        {"model.regularization.max_norm": 2.0},
        {"model.dense.dropout": 0.5},
    ],
    ids=["l1", "l2", "l1_l2", "max_norm", "dropout"],
)
def test_every_regularizer_trains(regularization, mlp_params, small):
    model, _ = _train_one_epoch(mlp_params, *small, regularization)
    dense = model.get_layer("dense1")
    if "model.regularization.max_norm" in regularization:
        norms = np.sqrt((dense.get_weights()[0] ** 2).sum(axis=0))
        assert norms.max() <= 2.0 + 1e-5
    elif "model.dense.dropout" not in regularization:
        assert model.losses  # the penalty is part of the loss


@pytest.mark.parametrize("mode", ["minibatch", "batch", "stochastic"])
def test_every_gradient_descent_mode_trains(mode, mlp_params, small):
    splits, info = small
    overrides = {"training.gradient_descent": mode, "training.batch_size": 16}
    config = parse_family("mlp", with_overrides(mlp_params, overrides))
    expected = {"minibatch": 4, "batch": 1, "stochastic": 64}[mode]
    assert iterations_per_epoch(config.training, len(splits["x_train"])) == expected
    model, _ = _train_one_epoch(mlp_params, splits, info, overrides)
    assert int(model.optimizer.iterations) == expected


@pytest.mark.parametrize("mode", ["none", "norm", "value", "global_norm"])
def test_every_gradient_clipping_mode_trains(mode, mlp_params, small):
    overrides = {"training.gradient_clipping.mode": mode, "training.gradient_clipping.threshold": 0.5}
    model, _ = _train_one_epoch(mlp_params, *small, overrides)
    attribute = {"norm": "clipnorm", "value": "clipvalue", "global_norm": "global_clipnorm"}.get(mode)
    if attribute:
        assert getattr(model.optimizer, attribute) == pytest.approx(0.5)


@pytest.mark.parametrize("position", ["before_activation", "after_activation"])
def test_batch_norm_before_or_after_the_activation(position, cnn_params, small):
    overrides = {"model.conv.batch_norm": True, "model.conv.batch_norm_position": position}
    model, _ = _train_one_epoch(cnn_params, *small, overrides)
    names = [layer.name for layer in model.layers]
    bn = names.index("block1_conv1_bn")
    activation = next(i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Activation))
    assert (bn < activation) == (position == "before_activation")
