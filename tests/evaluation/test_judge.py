"""The Fréchet distance agrees with its closed form on Gaussians whose answer is known; a saved
classifier judges generated images when there is one, a judge trained on the fly otherwise."""

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


def _classifier(units: int, classes: int = 10, activation: str = "softmax"):
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x), name=f"clf{units}")


def _save_versions(folder, *models):
    """Save ``models`` as the successive versions of a versioned catalog entry ``folder``."""
    for index, model in enumerate(models):
        version = folder / f"2026-12-0{index + 1}T10.00.00.000Z"
        version.mkdir(parents=True)
        model.save(version / folder.name)


def test_a_saved_classifier_judges_with_its_newest_version(tmp_path):
    from dlpipe.evaluation.judge import find_judge
    from tests.conftest import image_spec

    folder = tmp_path / "model.keras"
    _save_versions(folder, _classifier(units=16), _classifier(units=8))
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1)).astype("float32")
    judge = find_judge(train_sample=None, spec=image_spec(), judge_model=str(folder))
    probabilities, features = judge.read(images)
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert features.shape == (5, 8)  # the newest version's penultimate layer
    assert features.dtype == np.float32
    assert "2026-12-02T10.00.00.000Z" in judge.description and "clf8" in judge.description


@pytest.mark.parametrize(
    ("model_kwargs", "expected"),
    [
        ({"units": 8, "classes": 3}, "outputs shape (None, 3), not (None, 10)"),
        ({"units": 8, "activation": "sigmoid"}, "ends in a 'sigmoid' activation, not 'softmax'"),
    ],
)
def test_a_saved_model_that_is_no_classifier_of_the_data_is_refused_naming_the_key(
    tmp_path, model_kwargs, expected
):
    from dlpipe.evaluation.judge import load_judge
    from tests.conftest import image_spec

    file = tmp_path / "other.keras"
    _classifier(**model_kwargs).save(file)
    with pytest.raises(ValueError) as caught:
        load_judge(str(file), image_spec())
    message = str(caught.value)
    assert "evaluation.judge_model" in message and str(file) in message and expected in message, message


def test_a_saved_model_without_a_graph_is_refused_naming_the_key(tmp_path):
    import keras

    from dlpipe.evaluation.judge import load_judge
    from tests.conftest import image_spec

    @keras.saving.register_keras_serializable(package="tests")
    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(10, activation="softmax")

        def call(self, inputs):
            return self.dense(keras.ops.reshape(inputs, (-1, 784)))

    model = Subclassed()
    model(np.zeros((1, 28, 28, 1), "float32"))
    file = tmp_path / "subclassed.keras"
    model.save(file)
    with pytest.raises(
        ValueError, match=r"evaluation\.judge_model: .*'Subclassed' model; expected a functional"
    ):
        load_judge(str(file), image_spec())


def test_without_a_saved_classifier_a_judge_is_trained_on_the_fly(tmp_path):
    from dlpipe.evaluation.judge import find_judge
    from tests.conftest import image_spec

    rng = np.random.default_rng(0)
    sample = (rng.integers(0, 256, size=(64, 28, 28, 1)).astype("uint8"), rng.integers(0, 10, size=64))
    judge = find_judge(sample, image_spec(), judge_model=str(tmp_path / "missing" / "model.keras"))
    assert "trained for 4 epochs on the first 64 training images" in judge.description
    assert judge.read(sample[0][:3])[0].shape == (3, 10)


def test_a_judge_model_is_refused_for_a_task_that_generates_nothing():
    from dlpipe.config.schema import ConfigError
    from tests.conftest import block_config

    with pytest.raises(ConfigError) as caught:
        block_config("cnn", {"family": "cnn"}, evaluation={"judge_model": "data/06_models/x.keras"})
    message = str(caught.value)
    assert "evaluation.judge_model" in message and "data/06_models/x.keras" in message, message
