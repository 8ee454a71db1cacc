"""The registry's evaluation gate, on a real MLflow store with a logged dlpipe model."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest

from dlpipe.serving.registry import decide, evaluation_digest, register_and_gate, unmet_requirements
from dlpipe.serving.served_model import log_served_model
from tests.conftest import image_spec


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield mlflow.MlflowClient()
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def logged_model(tracking) -> str:
    """A small classifier of raw uint8 images, logged as dlpipe logs a run's model."""
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", dtype="float32")(x))
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    # Its own experiment: MLflow remembers the active one across the tests of a process.
    with mlflow.start_run(experiment_id=mlflow.create_experiment("registry-gate")):
        info = log_served_model(
            model, image_spec(), "classification", 32, images, metadata={"family": "test"}
        )
    return info.model_uri


@pytest.fixture
def name(request) -> str:
    """A registered model of this test's own in the module's store."""
    return f"dlpipe-{request.node.name.removeprefix('test_')[:60]}"


def test_the_logged_model_has_a_raw_input_signature_an_example_and_pinned_requirements(
    tracking, logged_model
):
    info = mlflow.models.get_model_info(logged_model)
    inputs = info.signature.inputs.to_dict()[0]
    assert inputs["tensor-spec"]["dtype"] == "uint8"
    assert tuple(inputs["tensor-spec"]["shape"]) == (-1, 28, 28, 1)
    outputs = [column["name"] for column in info.signature.outputs.to_dict()]
    assert outputs[:3] == ["class", "label", "probability_class 0"] and len(outputs) == 12
    assert info.saved_input_example_info is not None
    requirements = mlflow.pyfunc.get_model_dependencies(logged_model)
    with open(requirements) as listed:
        assert "tensorflow-cpu==2.21.0" in listed.read()


def gate(logged_model: str, name: str, score: float, *, digest="split-a", rescore=None, **settings):
    arguments = {
        "name": name,
        "alias": "champion",
        "metric": "test_accuracy",
        "direction": "maximize",
        "requirements": [],
        "min_improvement": 0.0,
        **settings,
    }
    return register_and_gate(
        logged_model,
        scores={"test_accuracy": score},
        digest=digest,
        rescore=rescore or (lambda uri: pytest.fail(f"the champion {uri} was scored again")),
        **arguments,
    )


def champion_version(client, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except mlflow.exceptions.MlflowException:
        return None


def test_each_run_registers_a_version_and_only_a_better_one_becomes_champion(tracking, logged_model, name):
    first = gate(logged_model, name, 0.80)
    assert (first.version, first.promoted, champion_version(tracking, name)) == ("1", True, "1")
    assert "first model" in first.reason

    worse = gate(logged_model, name, 0.79)
    assert (worse.version, worse.promoted, champion_version(tracking, name)) == ("2", False, "1")
    assert worse.champion_score == 0.80 and "does not beat the champion's 0.8000" in worse.reason

    barely = gate(logged_model, name, 0.805, min_improvement=0.01)
    assert not barely.promoted and champion_version(tracking, name) == "1"

    better = gate(logged_model, name, 0.85, min_improvement=0.01)
    assert better.promoted and champion_version(tracking, name) == "4"
    assert "beats the champion's 0.8000 by 0.0500" in better.reason


def test_a_model_failing_a_requirement_is_registered_but_never_champion(tracking, logged_model, name):
    failing = gate(logged_model, name, 0.85, requirements=["test_accuracy >= 0.9"])
    assert failing.version == "1" and not failing.promoted and champion_version(tracking, name) is None
    assert "test_accuracy >= 0.9 (measured 0.8500)" in failing.reason


def test_a_champion_scored_on_another_test_split_is_scored_again_on_this_one(tracking, logged_model, name):
    gate(logged_model, name, 0.95, digest="small-split")  # e.g. a smoke run's 200 test images
    scored = []

    def rescore(uri):
        scored.append(uri)
        return 0.90

    decision = gate(logged_model, name, 0.92, digest="full-split", rescore=rescore)
    assert scored == [f"models:/{name}/1"]
    assert decision.promoted and decision.champion_score == 0.90


def test_a_champion_that_cannot_be_scored_stays_champion(tracking, logged_model, name):
    gate(logged_model, name, 0.80, digest="old")

    def rescore(uri):
        raise OSError("artifact store unreachable")

    decision = gate(logged_model, name, 0.99, digest="new", rescore=rescore)
    assert not decision.promoted and champion_version(tracking, name) == "1"
    assert "could not be scored" in decision.reason and "artifact store unreachable" in decision.reason


def test_the_alias_moves_only_when_the_run_succeeds(tracking, logged_model, name):
    deferred = []
    decision = gate(logged_model, name, 0.80, when_run_succeeds=deferred.append)
    assert decision.promoted and champion_version(tracking, name) is None  # the run is still going
    for action in deferred:
        action()
    assert champion_version(tracking, name) == "1"


def test_a_run_without_a_finite_score_is_registered_and_never_champion(tracking, logged_model, name):
    decision = gate(logged_model, name, float("nan"))
    assert decision.version == "1" and not decision.promoted and champion_version(tracking, name) is None


def test_lower_is_better_for_an_error_metric():
    assert decide(0.4, 0.5, direction="minimize", min_improvement=0.0, unmet=[], metric="test_mae")[0]
    assert not decide(0.6, 0.5, direction="minimize", min_improvement=0.0, unmet=[], metric="test_mae")[0]
    assert not decide(0.5, 0.5, direction="maximize", min_improvement=0.0, unmet=[], metric="test_accuracy")[
        0
    ]


def test_requirements_name_what_they_measured():
    assert unmet_requirements(["test_mae < 1", "test_accuracy >= 0.5"], {"test_mae": 2.0}) == [
        "test_mae < 1 (measured 2.0000)",
        "test_accuracy >= 0.5 (not reported by this run)",
    ]


def test_the_digest_changes_with_any_example_and_with_how_it_is_scored():
    images = np.zeros((3, 2, 2), np.uint8)
    labels = np.array([0, 1, 2])
    changed = images.copy()
    changed[2, 1, 1] = 1
    digest = evaluation_digest(images, labels, how="test_loss mean_squared_error")
    assert digest == evaluation_digest(images.copy(), labels.copy(), how="test_loss mean_squared_error")
    assert digest != evaluation_digest(changed, labels, how="test_loss mean_squared_error")
    assert digest != evaluation_digest(images, labels[::-1], how="test_loss mean_squared_error")
    assert digest != evaluation_digest(images, labels, how="test_loss binary_crossentropy")
