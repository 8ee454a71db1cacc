"""The multi-replica path: MirroredStrategy over two logical CPU devices, without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import DATA_DIR, PROJECT_ROOT

# Logical devices must be configured before TensorFlow initialises its runtime, so this runs in a
# fresh interpreter.
TWO_CPUS = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    sys.path.insert(0, {root!r})
    """
)
SCRIPT = TWO_CPUS + textwrap.dedent(
    """
    from tests.conftest import load_project_params
    from dlpipe.config.data import DatasetConfig
    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.training.fit import fit_model
    from dlpipe.training.strategy import resolve_strategy

    params = load_project_params("smoke")["cnn"]
    params["dataset"]["data_dir"] = {data_dir!r}
    params["training"].update(strategy="mirrored", verbose=0, batch_size=64)
    config = parse_family("cnn", params)
    splits, info = load_splits(config.dataset, seed=config.seed)
    strategy = resolve_strategy("mirrored")
    model, history = fit_model(config, splits, info, epochs=2, callbacks=[])
    variable = model.trainable_variables[0]
    print(json.dumps({{
        "replicas": strategy.num_replicas_in_sync,
        "distributed_variable": type(getattr(variable, "value", variable)).__name__,
        "loss": history["loss"],
    }}))
    """
)


# A model with its own train_step: the GAN updates its generator's moving average in each replica.
GAN_SCRIPT = TWO_CPUS + textwrap.dedent(
    """
    import numpy as np
    from tests.conftest import load_project_params
    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.training.fit import fit_model

    params = load_project_params("smoke")["gan"]
    params["dataset"]["data_dir"] = {data_dir!r}
    params["training"].update(strategy="mirrored", verbose=0, batch_size=64)
    params["evaluation"] = {{"judge_model": None}}
    params["model"]["ema_decay"] = 0.999
    config = parse_family("gan", params)
    splits, info = load_splits(config.dataset, seed=config.seed)
    model, history = fit_model(config, splits, info, epochs=1, callbacks=[])
    average, weight = model.generator_average.weights[0], model.generator.weights[0]
    print(json.dumps({{
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "distributed_variable": type(getattr(average, "value", average)).__name__,
        "average_lags_the_generator": float(np.abs(average.numpy() - weight.numpy()).max()),
        "frechet_distance": history["val_frechet_distance"],
    }}))
    """
)


# A VAE fits the mixture it draws from after training: weights the strategy mirrors, assigned
# outside the training step.
VAE_SCRIPT = TWO_CPUS + textwrap.dedent(
    """
    import keras, numpy as np
    from tests.conftest import load_project_params
    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.training.fit import fit_model

    params = load_project_params("smoke")["vae"]
    params["dataset"]["data_dir"] = {data_dir!r}
    params["training"].update(strategy="mirrored", verbose=0, batch_size=64)
    params["evaluation"] = {{"judge_model": None}}
    params["model"].update(sampling="fitted_mixture", mixture_components=3)
    config = parse_family("vae", params)
    splits, info = load_splits(config.dataset, seed=config.seed)
    model, history = fit_model(config, splits, info, epochs=1, callbacks=[])
    weights = model.mixture.component_weights
    path = {tmp!r} + "/vae.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    alike = np.allclose(reloaded.generate(4, seed=1), model.generate(4, seed=1), atol=1e-5)
    print(json.dumps({{
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "distributed_variable": type(getattr(weights, "value", weights)).__name__,
        "component_weights": weights.numpy().tolist(),
        "reloaded_draws_alike": bool(alike),
    }}))
    """
)


def _run_on_two_cpus(script: str, **values) -> dict:
    code = script.format(root=str(PROJECT_ROOT), data_dir=str(DATA_DIR), **values)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_strategy_trains_over_two_logical_cpus():
    report = _run_on_two_cpus(SCRIPT)
    assert report["replicas"] == 2
    assert "Mirrored" in report["distributed_variable"]
    assert report["loss"][1] < report["loss"][0]


def test_a_gan_keeps_its_generator_average_over_two_logical_cpus():
    report = _run_on_two_cpus(GAN_SCRIPT)
    assert report["replicas"] == 2
    assert "Mirrored" in report["distributed_variable"]
    assert report["average_lags_the_generator"] > 0.0
    assert len(report["frechet_distance"]) == 1 and report["frechet_distance"][0] > 0.0


def test_a_vae_fits_its_mixture_over_two_logical_cpus(tmp_path):
    report = _run_on_two_cpus(VAE_SCRIPT, tmp=str(tmp_path))
    assert report["replicas"] == 2
    assert "Mirrored" in report["distributed_variable"]
    assert sum(report["component_weights"]) == pytest.approx(1.0, abs=1e-5)
    assert report["component_weights"] != [1.0, 1.0, 1.0]  # fitted, not the initial values
    assert report["reloaded_draws_alike"]
