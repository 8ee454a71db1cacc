"""Batch prediction: what ``predict.model`` may name, and the errors that name the key."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from dlpipe.config.common import ConfigError
from dlpipe.config.predict import PredictConfig, parse_own_block
from dlpipe.pipelines.predict.nodes import load_predictor, predict_batch
from tests.conftest import image_spec


@pytest.fixture
def saved_version(tmp_path):
    """A classifier of raw uint8 images saved as a pipeline saves it, beside its data_spec.json."""
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    version = tmp_path / "data" / "06_models" / "cnn" / "model.keras" / "2026-12-01T10.00.00.000Z"
    version.mkdir(parents=True)
    model.save(version / "model.keras")
    spec_file = tmp_path / "data" / "02_intermediate" / "cnn" / "data_spec.json"
    spec_file.parent.mkdir(parents=True)
    spec_file.write_text(json.dumps(image_spec().model_dump(mode="json")))
    return tmp_path / "data" / "06_models" / "cnn" / "model.keras", model


def test_a_saved_keras_version_predicts_with_its_pipelines_data_description(saved_version):
    folder, model = saved_version
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)  # as read from PNGs
    table = predict_batch(
        {"names": [f"{i}.png" for i in range(5)], "inputs": images, "source": "pngs"},
        {"model": str(folder), "task": "classification"},
    )
    expected = model.predict(images[..., np.newaxis].astype(np.float32), verbose=0)
    assert list(table["input"]) == [f"{i}.png" for i in range(5)]
    np.testing.assert_array_equal(table["class"], expected.argmax(axis=1))
    np.testing.assert_allclose(table.filter(like="probability_").to_numpy(), expected, rtol=1e-5)


def test_inputs_the_model_cannot_take_are_named_with_their_source(saved_version):
    with pytest.raises(ValueError, match=r"predict.inputs \(scans\): inputs of shape \(2, 32, 32, 1\)"):
        predict_batch(
            {"names": ["a", "b"], "inputs": np.zeros((2, 32, 32), np.uint8), "source": "scans"},
            {"model": str(saved_version[0]), "task": "classification"},
        )


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (
            {"model": "data/06_models/nothing/model.keras", "task": "classification"},
            "predict.model: no model",
        ),
        ({"task": None}, "predict.task: None; a .keras model does not record its task"),
        ({"task": "generation"}, "predict.task: 'generation'"),
        ({"task": "classification", "data_spec": "missing.json"}, "predict.data_spec: no data description"),
    ],
)
def test_a_model_that_cannot_predict_is_refused_naming_the_key(saved_version, settings, key):
    config = PredictConfig.model_validate({"model": str(saved_version[0]), **settings})
    with pytest.raises(ConfigError, match=key.replace("(", r"\(")):
        load_predictor(config)


def test_an_unknown_mlflow_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(ConfigError, match="predict.model: cannot load MLflow model 'models:/dlpipe-none/1'"):
        load_predictor(PredictConfig(model="models:/dlpipe-none/1"))


def test_the_predict_block_is_validated_naming_the_key():
    with pytest.raises(ConfigError, match="predict.batch_sise: unknown key"):
        parse_own_block("predict", {"batch_sise": 8})


def test_a_model_of_a_custom_keras_class_loads_in_a_fresh_process(tmp_path):
    """The perceptron is a Keras class of dlpipe's own: plain MLflow in a new process finds it."""
    import subprocess
    import sys

    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.serving.served_model import save_served_model
    from dlpipe.training.fit import fit_model
    from tests.conftest import load_project_params
    from tests.families.conftest import shrunk_block

    config = parse_family("perceptron", shrunk_block(load_project_params("base")["perceptron"], tmp_path))
    splits, spec = load_splits(config.dataset, config.seed)
    model, _ = fit_model(config, splits, spec, epochs=1, callbacks=[])
    save_served_model(tmp_path / "model", model, spec, config.task, 16, splits["x_test"])
    np.save(tmp_path / "x.npy", splits["x_test"])
    model_path, inputs_path = str(tmp_path / "model"), str(tmp_path / "x.npy")
    script = (
        "import mlflow, numpy as np; "
        f"table = mlflow.pyfunc.load_model({model_path!r}).predict(np.load({inputs_path!r})); "
        "print(table['class'].tolist())"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = model.predict(splits["x_test"].astype(np.float32), verbose=0)
    classes = (expected[:, 0] > 0.5).astype(int) if expected.shape[-1] == 1 else expected.argmax(axis=1)
    assert result.stdout.strip().splitlines()[-1] == str(classes.tolist())
