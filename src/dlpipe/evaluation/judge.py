"""A classifier dlpipe trains on the real images to judge generated ones: how confidently it
recognises them, which classes they fall in, and how far their features lie from real images'."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from dlpipe.data.input_pipeline import make_dataset
from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import model_inputs

FEATURES_LAYER = "judge_features"


@dataclass
class Judge:
    """A trained image classifier of raw images."""

    network: keras.Model  # raw images to [class probabilities, penultimate activations]
    description: str

    def read(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """``(class probabilities, penultimate features)`` of raw ``images``, in one pass."""
        probabilities, features = self.network.predict(images, batch_size=batch_size, verbose=0)
        return probabilities, features

    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.read(images, batch_size)[1]


# Judges trained in this process, by what they were trained on: the tuning trials, the final
# training and the evaluation of one run share one.
_JUDGES: dict[tuple, Judge] = {}


def train_judge(
    train_sample: tuple[np.ndarray, np.ndarray],
    spec: DataSpec,
    *,
    epochs: int = 4,
    batch_size: int = 128,
    seed: int = 0,
) -> Judge:
    """A small convnet (conv32, pool, conv64, pool, dense128, softmax) trained on the raw training
    images and labels of ``train_sample``; trained once per process for the same images."""
    x_train, y_train = train_sample
    key = (spec.name, tuple(spec.input_shape), len(x_train), hash(x_train[:64].tobytes()), epochs, seed)
    if key in _JUDGES:
        return _JUDGES[key]
    keras.utils.set_random_seed(seed)
    inputs, x = model_inputs(spec)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(0.3)(features)
    outputs = keras.layers.Dense(spec.num_classes, activation="softmax", dtype="float32")(x)
    classifier = keras.Model(inputs, outputs, name="judge")
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    classifier.fit(
        make_dataset(x_train, y_train.astype(np.int64), batch_size=batch_size, training=True, seed=seed),
        epochs=epochs,
        verbose=0,
        shuffle=False,  # the dataset shuffles
    )
    description = (
        f"convnet (conv32-pool-conv64-pool-dense128) trained for {epochs} epochs on the first "
        f"{len(x_train)} training images of {spec.name}"
    )
    judge = Judge(keras.Model(inputs, [outputs, features]), description)
    _JUDGES[key] = judge
    return judge


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of feature vectors:
    ``|mu_a - mu_b|^2 + trace(S_a + S_b - 2 (S_a S_b)^(1/2))`` (the FID formula)."""
    from scipy import linalg

    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product (dead ReLU units): nudge the diagonals
        offset = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(root):  # numerical noise only: the product of two covariances has a real root
        root = root.real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))
