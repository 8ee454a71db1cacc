"""The gan family: two players with two optimizers, measured every epoch by the Fréchet distance,
and bad values rejected naming the key."""

from __future__ import annotations

import math

import keras
import mlflow
import numpy as np
import pytest

from dlpipe.config.schema import ConfigError, parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data
from dlpipe.models.deconv import decode_prior_draws
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")
BLOCK = PARAMS["gan"]

BAD_VALUES = {
    "zero discriminator steps": ({"model.discriminator_steps": 0}, "gan.model.discriminator_steps", "0"),
    "label smoothing 1": ({"model.label_smoothing": 1.0}, "gan.model.label_smoothing", "1.0"),
    "unknown discriminator optimizer": (
        {"model.discriminator_optimizer.name": "lbfgs"},
        "gan.model.discriminator_optimizer.name",
        "lbfgs",
    ),
    "moving-average decay of 1": ({"model.ema_decay": 1.0}, "gan.model.ema_decay", "1"),
    "metric the model does not report": (
        {"training.early_stopping.monitor": "val_accuracy"},
        "gan.training.early_stopping.monitor",
        "val_frechet_distance",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("gan", BLOCK, *BAD_VALUES[case])


def _setup(tmp_path, overrides=None):
    config = parse_family(
        "gan",
        with_overrides(shrunk_block(BLOCK, tmp_path), {"model.frechet_examples": 32, **(overrides or {})}),
    )
    splits, spec = load_splits(config.dataset, config.seed)
    return config, splits, spec


def test_early_stopping_and_tuning_watch_the_frechet_distance_by_default(tmp_path):
    block = shrunk_block(BLOCK, tmp_path)
    block["training"]["early_stopping"] = {"patience": 2}
    block["tuning"].pop("metric", None)
    config = parse_family("gan", block)
    assert config.training.early_stopping.monitor == config.tuning.metric == "val_frechet_distance"
    assert config.tuning.direction == "minimize"


def test_gradient_monitor_is_refused_for_a_model_with_its_own_train_step():
    block = with_overrides(BLOCK, {"training.gradient_monitor.enabled": True})
    with pytest.raises(ConfigError, match=r"gan\.training\.gradient_monitor\.enabled: .* own train_step"):
        parse_family("gan", block)


def test_discriminator_that_does_not_fit_the_image_is_rejected_before_training(tmp_path):
    config, _, spec = _setup(
        tmp_path,
        {
            "model.discriminator.padding": "valid",
            "model.discriminator.kernel_size": 8,
            "model.discriminator.filters": [8, 8, 8],
        },
    )  # 28 -> 11 -> 2, then a kernel of 8 no longer fits
    with pytest.raises(ValueError, match=r"model\.discriminator: layer 3"):
        check_fits_data(config, spec)


def test_generator_that_misses_the_image_size_is_rejected_before_training(tmp_path):
    config, _, spec = _setup(tmp_path, {"model.generator.filters": [128, 64, 32]})  # 28 is not 8 * n
    with pytest.raises(ValueError, match=r"model\.generator: 3 transposed convolutions .* by 8"):
        check_fits_data(config, spec)


def test_each_player_steps_with_its_own_optimizer_and_the_fid_is_logged(tmp_path):
    config, splits, spec = _setup(
        tmp_path,
        {"model.discriminator_steps": 2, "model.discriminator_optimizer.learning_rate": 0.0004},
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        model, history = fit_model(
            config, splits, spec, epochs=2, callbacks=[], mlflow_run_id=run.info.run_id
        )
    steps = 2 * 4  # 2 epochs of 64 images in batches of 16
    assert int(model.optimizer.iterations.numpy()) == steps
    assert int(model.discriminator_optimizer.iterations.numpy()) == 2 * steps
    assert float(model.discriminator_optimizer.learning_rate.numpy()) == pytest.approx(0.0004)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0002)
    assert len(history["val_frechet_distance"]) == 2
    assert all(math.isfinite(value) for value in history["val_frechet_distance"])
    assert {"d_loss", "g_loss", "val_d_loss", "val_g_loss"} <= set(history)
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "samples")}
    assert logged == {"samples/epoch_001.png", "samples/epoch_002.png"}

    # The saved model: the discriminator's verdict on raw images, and the generator's images.
    path = tmp_path / "gan.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    raw = splits["x_test"][:8]
    np.testing.assert_allclose(reloaded.predict(raw, verbose=0), model.predict(raw, verbose=0), atol=1e-5)
    np.testing.assert_allclose(reloaded.generate(4, seed=1), model.generate(4, seed=1), atol=1e-5)
    assert reloaded.generate(4, seed=1).shape == (4, 28, 28, 1)


@pytest.mark.parametrize("decay", [0.5, 0.0])
def test_images_are_drawn_by_the_moving_average_of_the_generator(tmp_path, decay):
    from dlpipe.families.gan import build_gan, compile_gan

    config, splits, spec = _setup(tmp_path, {"model.ema_decay": decay})
    model = build_gan(spec, config)
    compile_gan(model, config, config.training.optimizer.learning_rate)
    before = model.generator.get_weights()
    images = splits["x_train"][:16].astype("float32") / 255.0
    model.train_on_batch(images, images)
    after = model.generator.get_weights()
    if not decay:
        assert model.generator_average is None
        np.testing.assert_allclose(model.generate(4, seed=3), decode_prior_draws(model.generator, 4, 3))
        return
    ramped = min(decay, (1 + 1) / (10 + 1))  # the decay after the first generator step
    for average, start, end in zip(model.generator_average.get_weights(), before, after, strict=True):
        np.testing.assert_allclose(average, ramped * start + (1 - ramped) * end, rtol=1e-5, atol=1e-6)
    drawn = model.generate(4, seed=3)
    np.testing.assert_allclose(drawn, decode_prior_draws(model.generator_average, 4, 3))
    assert not np.allclose(drawn, decode_prior_draws(model.generator, 4, 3))

    # The average is saved with the model: a reloaded model draws the same images.
    model.save(tmp_path / "gan.keras")
    reloaded = keras.models.load_model(tmp_path / "gan.keras")
    kept, saved = reloaded.generator_average.get_weights(), model.generator_average.get_weights()
    for reloaded_weight, weight in zip(kept, saved, strict=True):
        np.testing.assert_array_equal(reloaded_weight, weight)
    np.testing.assert_allclose(reloaded.generate(4, seed=3), drawn, atol=1e-6)
