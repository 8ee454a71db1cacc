"""Mixed precision and XLA: one epoch on real data under each setting, the policy as configured."""

from __future__ import annotations

import logging
import math

import keras
import pytest

from dlpipe.config.common import ConfigError
from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.training.fit import fit_model


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_one_epoch_under_mixed_precision_is_finite_with_a_float32_output(
    cnn_params, tiny_splits, policy, caplog
):
    splits, spec = tiny_splits
    config = parse_family("cnn", with_overrides(cnn_params, {"training.mixed_precision": policy}))
    with caplog.at_level(logging.WARNING, logger="dlpipe.training.precision"):
        model, history = fit_model(config, splits, spec, epochs=1, callbacks=[])
    assert math.isfinite(history["loss"][0]) and math.isfinite(history["val_loss"][0])
    assert model.dtype_policy.name == policy
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == policy.removeprefix("mixed_") for layer in convs)
    assert all(layer.variable_dtype == "float32" for layer in convs)  # weights stay float32
    assert model.output.dtype == "float32"
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")  # only float16 needs its loss scaled
    warned = "without a GPU" in caplog.text
    assert warned == (policy == "mixed_float16" and not keras.distribution.list_devices("gpu"))
    # The policy was for this model only: the next model is float32 again.
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("native", [True, False])
def test_auto_takes_bfloat16_only_where_the_cpu_computes_it_natively(
    cnn_params, tiny_splits, native, monkeypatch
):
    from dlpipe.training import precision

    monkeypatch.setattr(precision, "native_bfloat16_cpu", lambda: native)
    monkeypatch.setattr(keras.distribution, "list_devices", lambda kind=None: [])  # a CPU-only machine
    splits, spec = tiny_splits
    config = parse_family("cnn", with_overrides(cnn_params, {"training.mixed_precision": "auto"}))
    model, history = fit_model(config, splits, spec, epochs=1, callbacks=[])
    assert model.dtype_policy.name == ("mixed_bfloat16" if native else "float32")
    assert math.isfinite(history["loss"][0])


def test_xla_compiles_the_training_step(cnn_params, tiny_splits):
    splits, spec = tiny_splits
    config = parse_family("cnn", with_overrides(cnn_params, {"training.jit_compile": True}))
    model, history = fit_model(config, splits, spec, epochs=1, callbacks=[])
    assert model.jit_compile is True and math.isfinite(history["loss"][0])


def test_a_family_with_its_own_training_step_refuses_both_switches(smoke_params):
    for key, value in (("training.mixed_precision", "mixed_float16"), ("training.jit_compile", True)):
        with pytest.raises(ConfigError, match=rf"vae\.{key}: .* family 'vae' compiles its own"):
            parse_family("vae", with_overrides(smoke_params["vae"], {key: value}))


def test_the_gradient_monitor_refuses_an_unscaled_float16_loss(cnn_params):
    changes = {"training.mixed_precision": "mixed_float16", "training.gradient_monitor.enabled": True}
    with pytest.raises(ConfigError, match=r"cnn\.training\.gradient_monitor\.enabled: .*float16"):
        parse_family("cnn", with_overrides(cnn_params, changes))
