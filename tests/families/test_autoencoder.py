"""The autoencoder family: its geometry is checked before training, its layers follow the config,
its denoising corrupts only while training, and it learns to reconstruct real images."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, get_family
from dlpipe.tasks import get_task
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")
BLOCK = PARAMS["autoencoder"]

BAD_VALUES = {
    "unknown corruption": (
        {"model.denoising.corruption": "salt"},
        "autoencoder.model.denoising.corruption",
        "salt",
    ),
    "zero code size": ({"model.code_size": 0}, "autoencoder.model.code_size", "0"),
    "no encoder layer": ({"model.encoder.filters": []}, "autoencoder.model.encoder.filters", "[]"),
    "output padding not below stride": (
        {"model.decoder.output_padding": 2},
        "autoencoder.model.decoder",
        "output_padding 2",
    ),
    "classification loss": (
        {"training.loss": "sparse_categorical_crossentropy"},
        "autoencoder.training.loss",
        "reconstruction",
    ),
    "metric the task does not report": (
        {"training.early_stopping.monitor": "val_accuracy"},
        "autoencoder.training.early_stopping.monitor",
        "val_accuracy",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("autoencoder", BLOCK, *BAD_VALUES[case])


def _config(tmp_path, overrides=None, **shrink):
    return parse_family(
        "autoencoder", with_overrides(shrunk_block(BLOCK, tmp_path, **shrink), overrides or {})
    )


def test_decoder_that_misses_the_input_size_is_rejected_before_training(tmp_path):
    # 28 -> 14 -> 7 -> 4 through three stride-2 convolutions, then 4 -> 8 -> 16 -> 32 back.
    config = _config(tmp_path, {"model.encoder.filters": [8, 16, 32]})
    splits, spec = load_splits(config.dataset, config.seed)
    with pytest.raises(ValueError) as caught:
        check_fits_data(config, spec)
    assert "model.decoder" in str(caught.value) and "28 -> 14 -> 7 -> 4 -> 8 -> 16 -> 32" in str(caught.value)
    # An explicit output padding follows the textbook formula: (7 - 1) * 2 + 3 - 2 * 1 + 1 = 14.
    fixed = _config(tmp_path, {"model.decoder.output_padding": 1})
    check_fits_data(fixed, spec)
    model = get_family("autoencoder").build(spec, fixed)
    assert model.output_shape == (None, 28, 28, 1)


@pytest.mark.parametrize(("bottleneck", "code_shape"), [("dense", (None, 16)), ("conv", (None, 7, 7, 16))])
def test_layers_follow_the_config(bottleneck, code_shape, tmp_path):
    config = _config(tmp_path, {"model.bottleneck": bottleneck, "model.code_size": 16})
    _, spec = load_splits(config.dataset, config.seed)
    model = get_family("autoencoder").build(spec, config)
    assert model.get_layer("code").output.shape == code_shape
    deconvs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in deconvs] == [64, 32]  # the encoder's filters reversed
    assert model.output_shape == (None, *spec.input_shape)


@pytest.mark.parametrize("corruption", ["gaussian", "masking"])
def test_denoising_corrupts_only_while_training(corruption, tmp_path):
    config = _config(tmp_path, {"model.denoising.corruption": corruption, "model.denoising.rate": 0.5})
    splits, spec = load_splits(config.dataset, config.seed)
    model, _ = fit_model(config, splits, spec, epochs=1, callbacks=[])
    path = tmp_path / "denoising.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    raw = splits["x_test"][:8].astype("float32")
    np.testing.assert_allclose(reloaded.predict(raw, verbose=0), reloaded.predict(raw, verbose=0))
    clean = raw / 255.0
    corrupted = keras.ops.convert_to_numpy(reloaded.get_layer("corruption")(clean, training=True))
    assert not np.allclose(corrupted, clean)
    if corruption == "masking":  # kept pixels are untouched, about half of them are zeroed
        kept = corrupted != 0
        np.testing.assert_allclose(corrupted[kept], clean[kept])
        assert 0.3 < np.mean(corrupted[clean > 0] == 0) < 0.7
    evaluation = get_task("reconstruction").evaluate(
        reloaded, splits["x_test"], splits["y_test"], spec, config.training.loss, batch_size=16
    )
    # Scored again on corrupted copies of the test images: another error than on the clean ones.
    assert evaluation.metrics["test_mse_denoising"] != pytest.approx(evaluation.metrics["test_mse"], rel=1e-6)
    assert len(evaluation.figures["reconstructions"].axes) == 3 * 10  # original, corrupted, denoised


def test_learns_to_reconstruct_real_images_better_than_their_mean(tmp_path):
    config = _config(tmp_path, {"training.batch_size": 32, "dataset.train_limit": 1024}, epochs=3)
    splits, spec = load_splits(config.dataset, config.seed)
    model, history = fit_model(config, splits, spec, epochs=3, callbacks=[])
    assert history["val_loss"][-1] < history["val_loss"][0]
    count = 256
    evaluation = get_task("reconstruction").evaluate(
        model,
        splits["x_test"],
        splits["y_test"],
        spec,
        config.training.loss,
        batch_size=64,
        train_sample=(splits["x_train"][:count], splits["y_train"][:count]),
    )
    mean_image = splits["x_train"].mean(axis=0) / 255.0
    mean_image_mse = float(np.mean((splits["x_test"] / 255.0 - mean_image) ** 2))
    assert evaluation.metrics["test_mse"] < mean_image_mse
    # The code separates classes far better than chance (10 classes).
    assert evaluation.metrics["test_probe_accuracy"] > 0.3
