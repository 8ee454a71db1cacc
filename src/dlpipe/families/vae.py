"""The ``vae`` family: a variational autoencoder of images.

The encoder maps an image to the mean and log-variance of a Gaussian over the latent space; a
latent vector is drawn from it by the reparameterisation ``z = mean + exp(log_var / 2) * eps``
(so gradients flow through the draw), and the decoder's transposed convolutions map it back to
an image. The loss per image is the reconstruction error summed over pixels plus ``beta`` times
the KL divergence of that Gaussian from the standard normal prior; with ``beta = 1`` it is the
negative evidence lower bound (ELBO). New images are decoded from draws of the prior, or, with
``model.sampling: fitted_mixture``, of a Gaussian mixture fitted to the training images' latent
means once training ends (ex-post density estimation): the prior also covers regions no training
image encodes to, which decode to blurred, in-between images.
"""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from pydantic import Field

from dlpipe.config.common import NonNegativeInt, PositiveInt
from dlpipe.config.layers import ConvEncoderConfig, DeconvDecoderConfig, ModelConfigBase
from dlpipe.families.registry import Family, model_figures, register
from dlpipe.models.blocks import LayerOptions
from dlpipe.models.composed import ComposedModel
from dlpipe.models.deconv import (
    check_decodes_to_input_size,
    conv_encoder,
    decode_prior_draws,
    deconv_decoder,
    dense_to_feature_map,
    image_output,
)
from dlpipe.models.latent_mixture import LatentMixture
from dlpipe.models.preprocessing import model_inputs, pixel_scale
from dlpipe.training.optimizers import compile_optimizer_only

LOSS_TERMS = ("loss", "reconstruction_loss", "kl_loss", "negative_elbo")


class VaeModelConfig(ModelConfigBase):
    family: Literal["vae"]
    encoder: ConvEncoderConfig = ConvEncoderConfig()
    latent_dim: PositiveInt = 16
    decoder: DeconvDecoderConfig = DeconvDecoderConfig()
    beta: float = Field(1.0, ge=0.0)  # weight of the KL term (beta-VAE); 1 is the ELBO
    # The KL weight grows linearly from 0 at the first epoch to beta after this many epochs.
    kl_warmup_epochs: NonNegativeInt = 0
    # What new images are decoded from: draws of the standard normal prior, or of a Gaussian
    # mixture with `mixture_components` full-covariance components fitted to the latent means of
    # the training images after training.
    sampling: Literal["prior", "fitted_mixture"] = "prior"
    mixture_components: PositiveInt = 10


@keras.saving.register_keras_serializable(package="dlpipe")
class VariationalAutoencoder(ComposedModel):
    """``encoder``: raw images to ``[mean, log_var]``; ``decoder``: latent vectors to images in
    [0, 1]. Called on raw images it returns their reconstructions from the latent means.

    Reports ``loss`` (reconstruction + KL weight * KL; on validation and test data always with
    ``beta``, whatever the warm-up), ``reconstruction_loss``, ``kl_loss`` and ``negative_elbo``
    (reconstruction + KL), each averaged over images. With binary cross-entropy the latter is the
    negative evidence lower bound; with squared error it is the same sum, not a likelihood bound.
    """

    submodels = ("encoder", "decoder")

    def __init__(
        self,
        encoder,
        decoder,
        reconstruction: str = "binary_crossentropy",
        beta: float = 1.0,
        seed=None,
        mixture_components: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction = reconstruction
        self.beta = beta
        self.seed = seed
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.kl_weight = keras.Variable(beta, trainable=False, name="kl_weight")
        # The density new images are drawn from when `mixture_components` > 0.
        self.mixture_components = mixture_components
        if mixture_components:
            self.mixture = LatentMixture(mixture_components, self.latent_dim, name="mixture")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_TERMS}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        mean, _ = self.encoder(inputs, training=training)
        return self.decoder(mean, training=training)

    def _loss_terms(self, data, training: bool):
        # Raw images, and the same images in [0, 1] (the generation task's targets).
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        mean, log_var = self.encoder(inputs, training=training)
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        latent = mean + ops.exp(0.5 * log_var) * noise
        outputs = self.decoder(latent, training=training)
        if self.reconstruction == "binary_crossentropy":
            per_pixel = ops.binary_crossentropy(targets, outputs)
        else:
            per_pixel = ops.square(targets - outputs)
        reconstruction = ops.mean(ops.sum(per_pixel, axis=(1, 2, 3)))
        kl = ops.mean(ops.sum(-0.5 * (1.0 + log_var - ops.square(mean) - ops.exp(log_var)), axis=1))
        return reconstruction, kl

    def _report(self, reconstruction, kl, loss):
        values = {
            "loss": loss,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "negative_elbo": reconstruction + kl,
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            reconstruction, kl = self._loss_terms(data, training=True)
            loss = reconstruction + self.kl_weight * kl
            penalties = sum(self.losses) if self.losses else 0.0  # L1/L2 kernel penalties
            # Each replica's gradients are summed across replicas: scale as Keras' own step does.
            total = (loss + penalties) / self.distribute_strategy.num_replicas_in_sync
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._report(reconstruction, kl, loss)

    def test_step(self, data):
        reconstruction, kl = self._loss_terms(data, training=False)
        # The objective itself, not its warm-up: comparable across epochs (early stopping, the
        # best weights) and unchanged by a KL weight restored with them.
        return self._report(reconstruction, kl, reconstruction + self.beta * kl)

    def encode(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latent means of raw images."""
        return self.encoder.predict(inputs, batch_size=batch_size, verbose=0)[0]

    def fit_mixture(self, inputs: np.ndarray, seed: int = 0) -> None:
        """Fit the model's Gaussian mixture to the latent means of the raw images ``inputs``;
        ``generate`` draws from it from then on."""
        if not self.mixture_components:
            raise ValueError("this model draws from the prior: it was built with no mixture components")
        self.mixture.fit(self.encode(inputs), seed)

    def generate(self, count: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
        """``count`` images in [0, 1] decoded from ``count`` draws, made with ``seed``, of the
        fitted mixture when the model has one, otherwise of the standard normal prior."""
        if not self.mixture_components:
            return decode_prior_draws(self.decoder, count, seed, batch_size)
        return self.decoder.predict(self.mixture.draw(count, seed), batch_size=batch_size, verbose=0)

    def evaluation_figures(self, inputs, labels, spec) -> dict:
        """Test reconstructions, test latent means by class, the decoded latent plane (2-D only)
        and, when the model draws from a fitted mixture, images drawn from the prior beside it."""
        from dlpipe.evaluation.generative_plots import plot_image_manifold, plot_latent_means
        from dlpipe.evaluation.plots import plot_image_grid, plot_reconstructions

        scale = pixel_scale(spec)
        figures = {
            "reconstructions": plot_reconstructions(
                {"original": inputs[:10] / scale, "reconstruction": self.predict(inputs[:10], verbose=0)}
            )
        }
        if spec.target == "class":
            means = self.encode(inputs)
            title = "Test latent means"
            if self.latent_dim > 2:
                from sklearn.decomposition import PCA

                means = PCA(n_components=2, random_state=0).fit_transform(means)
                title += f" (first 2 principal components of {self.latent_dim})"
            figures["latent_means"] = plot_latent_means(means, labels, spec.class_names, title)
        if self.mixture_components:
            drawn = decode_prior_draws(self.decoder, 64, seed=0)
            figures["prior_samples"] = plot_image_grid(drawn, [""] * 64, "Images drawn from the prior")
        if self.latent_dim == 2:
            from scipy.stats import norm

            grid = 15
            coordinates = norm.ppf(np.linspace(0.05, 0.95, grid))
            plane = np.array([[x, y] for y in coordinates[::-1] for x in coordinates], dtype="float32")
            images = self.decoder.predict(plane, verbose=0)
            figures["latent_manifold"] = plot_image_manifold(images, grid, (coordinates[0], coordinates[-1]))
        return figures

    def get_config(self):
        return {
            **super().get_config(),
            "reconstruction": self.reconstruction,
            "beta": self.beta,
            "seed": self.seed,
            "mixture_components": self.mixture_components,
        }


class KlWarmUp(keras.callbacks.Callback):
    """Sets the KL weight to ``beta * min(1, epoch / epochs)`` at the start of every epoch."""

    def __init__(self, beta: float, epochs: int):
        super().__init__()
        self.beta = beta
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_weight.assign(self.beta * min(1.0, epoch / self.epochs))


def build_vae(spec, config) -> VariationalAutoencoder:
    model = config.model
    options = LayerOptions(model)
    inputs, x = model_inputs(spec)
    x = conv_encoder(x, model.encoder, options)
    feature_shape = tuple(x.shape[1:])
    x = layers.Flatten(name="flatten")(x)
    mean = layers.Dense(model.latent_dim, name="latent_mean", **options())(x)
    log_var = layers.Dense(model.latent_dim, name="latent_log_var", **options())(x)
    encoder = keras.Model(inputs, [mean, log_var], name="encoder")

    latent = keras.Input((model.latent_dim,), name="latent")
    x = dense_to_feature_map(latent, feature_shape, model.encoder, options)
    x = deconv_decoder(x, model.encoder, model.decoder, options)
    images = image_output(x, spec.input_shape[-1], options)
    decoder = keras.Model(latent, images, name="decoder")

    vae = VariationalAutoencoder(
        encoder,
        decoder,
        config.training.loss,
        model.beta,
        seed=config.seed,
        mixture_components=model.mixture_components if model.sampling == "fitted_mixture" else 0,
        name="vae",
    )
    vae(keras.ops.zeros((1, *spec.input_shape)))  # build the weights before the traced train step
    return vae


def check_data(spec, config) -> None:
    # The generation task has checked that the inputs are images.
    check_decodes_to_input_size(spec.input_shape, config.model.encoder, config.model.decoder)
    if config.model.sampling == "fitted_mixture":
        _check_enough_codes(config.model.mixture_components, spec.num_train)


def _check_enough_codes(components: int, count: int) -> None:
    if count < components:
        raise ValueError(
            f"vae.model.mixture_components: {components} components cannot be fitted to the codes of "
            f"{count} training images; expected at most {count} (or model.sampling: prior)"
        )


def fit_sampling_density(model: VariationalAutoencoder, config, train_inputs: np.ndarray) -> None:
    """When the model draws from a mixture (``model.sampling: fitted_mixture``), fit it to the
    codes of ``train_inputs``."""
    if model.mixture_components:
        _check_enough_codes(model.mixture_components, len(train_inputs))
        model.fit_mixture(train_inputs, seed=config.seed)


def warm_up(config, **fit) -> list:
    model = config.model
    return [KlWarmUp(model.beta, model.kl_warmup_epochs)] if model.kl_warmup_epochs else []


FAMILY = register(
    Family(
        name="vae",
        model_schema=VaeModelConfig,
        tasks=("generation",),
        build=build_vae,
        compile=compile_optimizer_only,
        default_dataset="fashion_mnist_local",
        extra_metrics={f"{prefix}{term}": "minimize" for term in LOSS_TERMS for prefix in ("", "val_")},
        # Not `val_loss`, which grows while the KL weight warms up in training.
        main_metric="val_negative_elbo",
        supports_pretrained=False,
        evaluation_figures=model_figures,
        check_data=check_data,
        callbacks=warm_up,
        after_training=fit_sampling_density,
    )
)
