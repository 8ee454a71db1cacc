"""The HTTP server of a logged model, on loopback: the answers are the evaluation's, bad requests
get a 4xx naming what was expected, and the server keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from dlpipe.config.schema import parse_family
from dlpipe.data.loading import load_splits
from dlpipe.serving.served_model import save_served_model
from dlpipe.tasks import get_task
from dlpipe.tasks.base import predict
from dlpipe.tasks.classification import predicted_classes
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import shrunk_block

TEST_IMAGES = 1000
MAX_BODY_MB = 3


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The mlp block trained one epoch on real Fashion-MNIST, saved as dlpipe logs it, with 1,000
    raw test images."""
    folder = tmp_path_factory.mktemp("served")
    block = shrunk_block(load_project_params("base")["mlp"], folder)
    block["dataset"].update(train_limit=512, test_limit=TEST_IMAGES)
    config = parse_family("mlp", block)
    splits, spec = load_splits(config.dataset, config.seed)
    model, _ = fit_model(config, splits, spec, epochs=1, callbacks=[])
    save_served_model(
        folder / "model", model, spec, config.task, config.training.batch_size, splits["x_test"]
    )
    return folder / "model", model, splits, spec, config


@pytest.fixture(scope="module")
def server(trained):
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "dlpipe.serving.server", "--model", str(trained[0]), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--max-body-mb", str(MAX_BODY_MB)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stdout.read().decode()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the server did not answer /ping within 120 s")
    yield url
    process.terminate()
    process.wait(timeout=30)


def post(url: str, body, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_served_answers_are_the_evaluations_predictions(trained, server):
    _, model, splits, spec, config = trained
    images, labels = splits["x_test"], splits["y_test"]
    assert images.dtype == np.uint8 and len(images) == TEST_IMAGES
    served = []
    for start in range(0, TEST_IMAGES, 500):  # 500 raw images are about 2.3 MB of JSON
        status, answer = post(server, {"inputs": images[start : start + 500].tolist()})
        assert status == 200, answer
        served += answer["predictions"]
    served_classes = np.array([row["class"] for row in served])
    evaluated = predicted_classes(predict(model, images, config.training.batch_size))
    np.testing.assert_array_equal(served_classes, evaluated)
    assert [row["label"] for row in served[:3]] == [spec.class_names[c] for c in evaluated[:3]]
    evaluation = get_task("classification").evaluate(
        model, images, labels, spec, config.training.loss, batch_size=config.training.batch_size
    )
    assert float(np.mean(served_classes == labels)) == evaluation.metrics["test_accuracy"]


BAD_REQUESTS = {
    "wrong shape": (
        {"inputs": np.zeros((2, 28, 20, 1), int).tolist()},
        400,
        "expected a batch of shape (n, 28, 28, 1)",
    ),
    "pixels scaled to [0, 1]": ({"inputs": np.full((2, 28, 28, 1), 0.5).tolist()}, 400, "fractions"),
    "a string": ({"inputs": "a picture of a shoe"}, 400, "not a list of examples"),
    "an empty batch": ({"inputs": []}, 400, "empty input"),
    "no inputs key": ({"instances_": [1]}, 400, '{"inputs": [example, ...]}'),
    "not JSON": (b"<xml/>", 400, "not JSON"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    "several megabytes": (b"[" + b"255," * (MAX_BODY_MB * 400_000) + b"0]", 413, "exceeds the limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_a_bad_request_gets_a_4xx_naming_what_was_expected_and_the_server_goes_on(trained, server, case):
    body, status, message = BAD_REQUESTS[case]
    got_status, answer = post(server, body)
    assert got_status == status and message in answer["message"], answer
    status, answer = post(server, {"inputs": trained[2]["x_test"][:2].tolist()})
    assert status == 200 and len(answer["predictions"]) == 2


def test_a_body_that_is_not_json_by_its_content_type_is_refused(trained, server):
    status, answer = post(server, {"inputs": trained[2]["x_test"][:1].tolist()}, content_type="text/csv")
    assert status == 415 and "application/json" in answer["message"]
