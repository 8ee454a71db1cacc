"""A classifier of the real images that judges generated ones: how confidently it recognises
them, which classes they fall in, and how far their features lie from real images'. It is a
saved classifier (``evaluation.judge_model``), or one dlpipe trains on the fly."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keras
import numpy as np

from dlpipe.data.input_pipeline import make_dataset
from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import model_inputs

FEATURES_LAYER = "judge_features"
JUDGE_MODEL_KEY = "evaluation.judge_model"

logger = logging.getLogger(__name__)


@dataclass
class Judge:
    """A trained image classifier of raw images."""

    network: keras.Model  # raw images to [class probabilities, penultimate activations]
    description: str

    def read(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """``(class probabilities, penultimate features)`` of raw ``images``, in one pass, as
        float32 whatever the network computes in (a bfloat16 classifier's features would
        otherwise be averaged in bfloat16)."""
        probabilities, features = self.network.predict(images, batch_size=batch_size, verbose=0)
        return np.asarray(probabilities, np.float32), np.asarray(features, np.float32)

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


def find_judge(train_sample: tuple[np.ndarray, np.ndarray], spec: DataSpec, judge_model: str | None) -> Judge:
    """The classifier saved at ``judge_model`` (:func:`load_judge`) when there is one, otherwise
    one trained on ``train_sample`` (:func:`train_judge`)."""
    if judge_model is not None:
        saved = load_judge(judge_model, spec)
        if saved is not None:
            return saved
        logger.warning(
            "%s: nothing saved at %s yet; training a judge on the fly", JUDGE_MODEL_KEY, judge_model
        )
    return train_judge(train_sample, spec)


def load_judge(judge_model: str, spec: DataSpec) -> Judge | None:
    """The saved classifier at ``judge_model`` (a ``.keras`` file, a versioned catalog folder:
    its newest version, or an MLflow model URI) as a judge: its softmax output, and the input of
    its last layer as features. Loaded once per process per file; None when nothing is saved
    there. Raises ValueError naming the key when it is not a softmax classifier of ``spec``'s
    raw images and classes."""
    from dlpipe.models.pretrained import load_saved_model
    from dlpipe.models.transfer_base import MLFLOW_URI_SCHEMES, BaseModelNotFoundError, saved_model_file

    try:
        file = saved_model_file(judge_model, JUDGE_MODEL_KEY)
    except BaseModelNotFoundError as err:
        if judge_model.startswith(MLFLOW_URI_SCHEMES):  # a model named in a store must be there
            raise ValueError(str(err)) from err
        return None
    key = (str(file.resolve()), file.stat().st_mtime_ns, spec.name, tuple(spec.input_shape), spec.num_classes)
    if key in _JUDGES:
        return _JUDGES[key]
    try:
        classifier = load_saved_model(file, compile=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear error
        raise ValueError(f"{JUDGE_MODEL_KEY}: cannot load {file} as a Keras model: {err}") from err
    if not hasattr(classifier, "inputs"):  # a subclassed model (a saved GAN, a VAE) has no graph to cut
        raise ValueError(
            f"{JUDGE_MODEL_KEY}: {file} holds a '{type(classifier).__name__}' model; expected a "
            "functional or sequential softmax classifier of the raw images"
        )
    head = classifier.layers[-1]
    expected_input = (None, *spec.input_shape)
    problems = []
    if tuple(classifier.inputs[0].shape) != expected_input:
        problems.append(f"takes inputs of shape {tuple(classifier.inputs[0].shape)}, not {expected_input}")
    if tuple(head.output.shape) != (None, spec.num_classes):
        problems.append(f"outputs shape {tuple(head.output.shape)}, not (None, {spec.num_classes})")
    if head.get_config().get("activation") != "softmax":
        problems.append(f"ends in a {head.get_config().get('activation')!r} activation, not 'softmax'")
    if problems:
        raise ValueError(
            f"{JUDGE_MODEL_KEY}: {file} {'; '.join(problems)}; expected a softmax classifier of the raw "
            f"images of {spec.name} and its {spec.num_classes} classes"
        )
    network = keras.Model(classifier.inputs, [classifier.outputs[0], head.input])
    judge = Judge(
        network, f"saved classifier {file} ('{classifier.name}', penultimate layer: input of '{head.name}')"
    )
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
