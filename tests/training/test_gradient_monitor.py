"""The gradient-health monitor fires on vanishing and exploding gradients, and stays quiet otherwise."""

from __future__ import annotations

import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.training.fit import fit_model
from dlpipe.training.gradients import GradientHealthMonitor


def _monitored_run(params, splits, info, overrides):
    monitor = {
        "training.gradient_monitor.enabled": True,
        "training.gradient_monitor.every_n_steps": 1,
        "training.batch_size": 32,
    }
    config = parse_family("mlp", with_overrides(params, {**monitor, **overrides}))
    model, _ = fit_model(config, splits, info, epochs=1, callbacks=[])
    return next(cb for cb in model._dlpipe_callbacks if isinstance(cb, GradientHealthMonitor))


@pytest.fixture(autouse=True)
def _keep_callbacks(monkeypatch):
    """Keep a handle on the callbacks fit_model builds, so the test can read the monitor."""
    import keras

    original_fit = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        self._dlpipe_callbacks = list(callbacks or [])
        return original_fit(self, *args, callbacks=callbacks, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)


DEEP = {"model.dense.num_layers": 8, "model.dense.units": 32, "model.dense.dropout": 0.0}


def test_deep_sigmoid_with_small_weights_vanishes(mlp_params, tiny_splits):
    overrides = {
        **DEEP,
        "model.dense.activation": "sigmoid",
        "model.initializer.name": "random_normal",
        "model.initializer.stddev": 0.01,
    }
    monitor = _monitored_run(mlp_params, *tiny_splits, overrides)
    vanishing = [w for w in monitor.warnings if "vanishing gradient in layer 'dense1'" in w]
    assert vanishing, monitor.warnings
    assert monitor.history[0]["norms"]["dense1"] < 1e-6


def test_relu_with_he_initialization_is_healthy(mlp_params, tiny_splits):
    overrides = {**DEEP, "model.dense.activation": "relu", "model.initializer.name": "he_normal"}
    monitor = _monitored_run(mlp_params, *tiny_splits, overrides)
    assert monitor.warnings == []
    assert len(monitor.history) >= 2
    assert set(monitor.history[0]["norms"]) >= {f"dense{i}" for i in range(1, 9)} | {"predictions"}


EXPLODING = {
    "model.dense.num_layers": 4,
    "model.dense.units": 64,
    "model.dense.dropout": 0.0,
    "model.dense.activation": "relu",
    "model.initializer.name": "random_normal",
    "model.initializer.stddev": 2.0,
}


def test_large_initialization_without_clipping_explodes(mlp_params, tiny_splits):
    monitor = _monitored_run(mlp_params, *tiny_splits, EXPLODING)
    assert any("exploding gradient in layer" in w for w in monitor.warnings), monitor.history[0]


def test_the_same_with_clipping_is_healthy(mlp_params, tiny_splits):
    clipped = {
        **EXPLODING,
        "training.gradient_clipping.mode": "norm",
        "training.gradient_clipping.threshold": 1.0,
    }
    monitor = _monitored_run(mlp_params, *tiny_splits, clipped)
    assert not any("exploding" in w for w in monitor.warnings), monitor.warnings
    # clipnorm bounds each tensor: a layer's kernel and bias together stay within sqrt(2).
    assert max(max(h["norms"].values()) for h in monitor.history) <= 2**0.5 + 1e-4


def test_monitor_rejects_inverted_thresholds():
    import numpy as np

    with pytest.raises(ValueError, match="vanishing_threshold < exploding_threshold"):
        GradientHealthMonitor(
            np.zeros((1, 2)),
            np.zeros((1,)),
            "mean_squared_error",
            vanishing_threshold=10.0,
            exploding_threshold=1.0,
        )
