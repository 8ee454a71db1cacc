"""The vae family: its loss is the ELBO's two terms, its KL weight warms up, it draws images from
the prior, and bad values are rejected (a diverging KL: tests/reliability/test_generative_faults.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import get_family
from dlpipe.models.deconv import decode_prior_draws
from dlpipe.tasks import get_task
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")
BLOCK = PARAMS["vae"]

BAD_VALUES = {
    "negative beta": ({"model.beta": -1.0}, "vae.model.beta", "-1.0"),
    "zero latent size": ({"model.latent_dim": 0}, "vae.model.latent_dim", "0"),
    "loss the task does not take": ({"training.loss": "huber"}, "vae.training.loss", "huber"),
    "metric the model does not report": (
        {"training.early_stopping.monitor": "val_accuracy"},
        "vae.training.early_stopping.monitor",
        "val_negative_elbo",
    ),
    "task the family cannot learn": ({"task": "classification"}, "vae.task", "generation"),
    "unknown sampling": ({"model.sampling": "posterior"}, "vae.model.sampling", "posterior"),
    "mixture without components": ({"model.mixture_components": 0}, "vae.model.mixture_components", "0"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("vae", BLOCK, *BAD_VALUES[case])


def _trained(tmp_path, overrides=None, epochs=1):
    block = with_overrides(shrunk_block(BLOCK, tmp_path, epochs=epochs), overrides or {})
    config = parse_family("vae", block)
    splits, spec = load_splits(config.dataset, config.seed)
    model, history = fit_model(config, splits, spec, epochs=epochs, callbacks=[])
    return config, splits, spec, model, history


def test_loss_terms_are_the_reconstruction_and_the_analytic_kl(tmp_path):
    config, splits, spec, model, history = _trained(
        tmp_path, {"model.kl_warmup_epochs": 2, "model.latent_dim": 4}, epochs=2
    )
    # Warm-up: no KL weight in the first epoch, half of beta in the second.
    assert history["loss"][0] == pytest.approx(history["reconstruction_loss"][0], rel=1e-5)
    assert history["loss"][1] < history["negative_elbo"][1]
    assert float(model.kl_weight.numpy()) == pytest.approx(0.5)

    images = splits["x_test"][:32].astype("float32")
    scores = model.test_on_batch(images, images / 255.0, return_dict=True)
    mean, log_var = (keras.ops.convert_to_numpy(t) for t in model.encoder(images))
    kl = np.mean(np.sum(-0.5 * (1 + log_var - mean**2 - np.exp(log_var)), axis=1))
    assert scores["kl_loss"] == pytest.approx(kl, rel=1e-4)
    assert scores["negative_elbo"] == pytest.approx(
        scores["reconstruction_loss"] + scores["kl_loss"], rel=1e-5
    )
    # The reconstruction term is summed over the 784 pixels: far above one pixel's cross-entropy.
    assert scores["reconstruction_loss"] > 784 * 0.05


def test_draws_images_from_the_prior_and_plots_a_2d_latent_space(tmp_path):
    config, splits, spec, model, _ = _trained(tmp_path, {"model.latent_dim": 2, "model.sampling": "prior"})
    path = tmp_path / "vae.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    drawn = reloaded.generate(12, seed=3)
    assert drawn.shape == (12, 28, 28, 1) and drawn.min() >= 0.0 and drawn.max() <= 1.0
    np.testing.assert_allclose(drawn, model.generate(12, seed=3), atol=1e-5)
    assert not np.allclose(drawn, reloaded.generate(12, seed=4))
    count = 200
    evaluation = get_task("generation").evaluate(
        reloaded,
        splits["x_test"],
        splits["y_test"],
        spec,
        config.training.loss,
        batch_size=32,
        train_sample=(splits["x_train"][:count], splits["y_train"][:count]),
    )
    assert {"samples", "generated_classes"} <= set(evaluation.figures)
    own = get_family("vae").evaluation_figures(reloaded, splits["x_test"], splits["y_test"], spec)
    assert {"reconstructions", "latent_means", "latent_manifold"} <= set(own)
    metrics = evaluation.metrics
    # The model's own test scores, and the judge's: trained on the first two thirds of the
    # training sample, the floor measured on the other third, which it never saw.
    assert metrics["test_negative_elbo"] == pytest.approx(
        metrics["test_reconstruction_loss"] + metrics["test_kl_loss"], rel=1e-5
    )
    judge_images = 2 * len(splits["x_train"][:count]) // 3
    assert f"first {judge_images} training images" in evaluation.report["judge"]
    assert {"test_frechet_distance_floor", "test_confident_share", "test_confident_share_real"} <= set(
        metrics
    )
    assert list(evaluation.report["class_shares"]) == spec.class_names


def test_draws_from_a_mixture_fitted_to_the_training_codes_and_saved_with_the_model(tmp_path):
    overrides = {"model.latent_dim": 4, "model.sampling": "fitted_mixture", "model.mixture_components": 3}
    config, splits, spec, model, _ = _trained(tmp_path, overrides)
    # Fitted when training ended, on the training images' latent means: after an M-step of
    # expectation-maximisation the components' weighted mean is the data's mean.
    mixture = model.mixture
    codes = model.encode(splits["x_train"])
    weights = mixture.component_weights.numpy()
    assert weights.sum() == pytest.approx(1.0, abs=1e-5) and (weights > 0).all()
    np.testing.assert_allclose(weights @ mixture.means.numpy(), codes.mean(axis=0), atol=1e-4)
    assert not np.allclose(mixture.scale_tril.numpy(), np.eye(4))

    path = tmp_path / "vae.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    drawn = reloaded.generate(16, seed=5)
    np.testing.assert_allclose(drawn, model.generate(16, seed=5), atol=1e-5)
    assert not np.allclose(drawn, decode_prior_draws(reloaded.decoder, 16, seed=5), atol=1e-3)
    own = get_family("vae").evaluation_figures(reloaded, splits["x_test"], splits["y_test"], spec)
    assert "prior_samples" in own
    # Draws come from the mixture's weights: all weight on one narrow component decodes to
    # (nearly) that component's mean.
    centre = np.array([1.5, -0.5, 0.25, 2.0])
    reloaded.mixture.component_weights.assign([0.0, 1.0, 0.0])
    reloaded.mixture.means.assign(np.stack([np.zeros(4), centre, np.zeros(4)]))
    reloaded.mixture.scale_tril.assign(np.broadcast_to(1e-4 * np.eye(4), (3, 4, 4)))
    expected = reloaded.decoder.predict(np.tile(centre, (4, 1)).astype("float32"), verbose=0)
    np.testing.assert_allclose(reloaded.generate(4, seed=1), expected, atol=1e-3)


def test_a_mixture_never_fitted_refuses_to_draw_and_a_prior_model_to_fit_one(tmp_path):
    overrides = {"model.latent_dim": 2, "model.sampling": "fitted_mixture", "model.mixture_components": 2}
    config, splits, spec, _, _ = _trained(tmp_path, overrides)
    unfitted = get_family("vae").build(spec, config)  # what a checkpoint during training holds
    with pytest.raises(ValueError, match="never fitted"):
        unfitted.generate(4)
    _, _, _, prior_model, _ = _trained(tmp_path / "prior", {"model.latent_dim": 2, "model.sampling": "prior"})
    assert prior_model.mixture_components == 0
    with pytest.raises(ValueError, match="no mixture components"):
        prior_model.fit_mixture(splits["x_train"][:16])


def test_more_components_than_training_images_is_refused_before_training(tmp_path):
    block = with_overrides(
        shrunk_block(BLOCK, tmp_path, epochs=1),
        {"model.sampling": "fitted_mixture", "model.mixture_components": 50},
    )
    config = parse_family("vae", with_overrides(block, {"dataset.train_limit": 40}))
    splits, spec = load_splits(config.dataset, config.seed)
    with pytest.raises(ValueError, match=r"vae.model.mixture_components: 50 .* at most \d+"):
        get_family("vae").check_data(spec, config)
