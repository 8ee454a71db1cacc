"""The Fréchet distance agrees with its closed form on Gaussians whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from dlpipe.evaluation.judge import frechet_distance


def test_a_sample_against_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(2000, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_shifted_means_with_equal_covariance_give_the_squared_distance_of_the_means():
    features = np.random.default_rng(1).normal(size=(5000, 4))
    shift = np.array([3.0, 0.0, -1.0, 2.0])
    assert frechet_distance(features, features + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_diagonal_covariances_give_the_squared_difference_of_the_deviations():
    # For N(0, diag(a^2)) and N(0, diag(b^2)): sum((a - b)^2).
    rng = np.random.default_rng(2)
    first = rng.normal(size=(200_000, 3)) * np.array([1.0, 2.0, 0.5])
    second = rng.normal(size=(200_000, 3)) * np.array([2.0, 2.0, 1.5])
    expected = (1.0 - 2.0) ** 2 + 0.0 + (0.5 - 1.5) ** 2
    assert frechet_distance(first, second) == pytest.approx(expected, abs=0.03)
