"""A Gaussian mixture over a latent space, fitted to the codes of real data and drawn from: a
generative model's density of its codes estimated after training (ex-post density estimation),
in place of the prior it was trained towards."""

from __future__ import annotations

import keras
import numpy as np


def fit_latent_mixture(codes: np.ndarray, components: int, seed: int = 0):
    """``(weights, means, scale_tril)`` of a Gaussian mixture of ``components`` full-covariance
    components fitted to ``codes`` by expectation-maximisation (``scale_tril``: the Cholesky
    factors of the covariances)."""
    from sklearn.mixture import GaussianMixture

    mixture = GaussianMixture(components, covariance_type="full", random_state=seed)
    mixture.fit(np.asarray(codes, dtype="float64"))
    return mixture.weights_, mixture.means_, np.linalg.cholesky(mixture.covariances_)


def draw_from_mixture(weights, means, scale_tril, count: int, seed: int = 0) -> np.ndarray:
    """``count`` float32 vectors drawn with ``seed`` from the mixture ``fit_latent_mixture`` returns."""
    rng = np.random.default_rng(seed)
    weights = np.asarray(weights, dtype="float64")
    components = rng.choice(len(weights), size=count, p=weights / weights.sum())
    noise = rng.standard_normal((count, means.shape[-1]))
    latent = means[components] + np.einsum("nij,nj->ni", scale_tril[components], noise)
    return latent.astype("float32")


@keras.saving.register_keras_serializable(package="dlpipe")
class LatentMixture(keras.layers.Layer):
    """A Gaussian mixture over a ``latent_dim``-dimensional space, kept in the layer's
    non-trainable weights so that a saved model draws as the trained one did. ``fit`` fits it to
    codes; ``draw`` draws from it and refuses while it has never been fitted (a checkpoint written
    during training holds the initial values, which must not pass for a fitted mixture)."""

    def __init__(self, components: int, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.components = components
        self.latent_dim = latent_dim
        shape = (components, latent_dim)
        self.component_weights = self.add_weight(
            shape=(components,), initializer="ones", trainable=False, name="component_weights"
        )
        self.means = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="means")
        self.scale_tril = self.add_weight(
            shape=(*shape, latent_dim),
            initializer=lambda shape, dtype=None: np.broadcast_to(np.eye(shape[-1]), shape),
            trainable=False,
            name="scale_tril",
        )
        self.fitted = self.add_weight(shape=(), initializer="zeros", trainable=False, name="fitted")
        self.built = True  # its weights need no input shape

    def fit(self, codes: np.ndarray, seed: int = 0) -> None:
        """Fit the mixture to ``codes`` (one row per example) by expectation-maximisation."""
        weights, means, scale_tril = fit_latent_mixture(codes, self.components, seed)
        self.component_weights.assign(weights)
        self.means.assign(means)
        self.scale_tril.assign(scale_tril)
        self.fitted.assign(1.0)

    def draw(self, count: int, seed: int = 0) -> np.ndarray:
        """``count`` float32 vectors drawn with ``seed``."""
        if not self.fitted.numpy():
            raise ValueError(
                "the latent mixture was never fitted: this model is a checkpoint saved during "
                "training; use the model the training stage saved, or fit the mixture first"
            )
        parameters = (self.component_weights.numpy(), self.means.numpy(), self.scale_tril.numpy())
        return draw_from_mixture(*parameters, count, seed)

    def get_config(self):
        return {**super().get_config(), "components": self.components, "latent_dim": self.latent_dim}
