"""A Gaussian mixture over a latent space, fitted to the codes of real data and drawn from: a
generative model's density of its codes estimated after training (ex-post density estimation),
in place of the prior it was trained towards."""

from __future__ import annotations

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
