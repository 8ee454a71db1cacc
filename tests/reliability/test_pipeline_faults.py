"""Faults around the pipeline: missing or damaged data, bad config, the tracking server, a failing
middle node."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from dlpipe.config.data import DatasetConfig
from dlpipe.config.schema import ConfigError
from dlpipe.data.loading import DatasetUnavailableError, load_splits
from dlpipe.hooks import TrackingUnavailableError
from tests.conftest import DATA_DIR
from tests.reliability.conftest import (
    backup_epochs,
    free_port,
    kill_group,
    make_project,
    mlflow_runs,
    run_kedro,
    start_kedro,
    wait_for,
)

# --------------------------------------------------------------------------- 9: the dataset


@pytest.mark.fault(9, "dataset missing, prepared shard truncated: errors name the dataset and the file")
def test_missing_dataset_fails_the_run_naming_dataset_and_places(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DLPIPE_FASHION_MNIST_DIR", raising=False)
    nowhere = tmp_path / "no-such-folder"
    project = make_project(
        tmp_path / "project",
        {"dataset": {"data_dir": str(tmp_path / "empty-tfds"), "source_dirs": [str(nowhere)]}},
    )
    monkeypatch.chdir(project)
    bootstrap_project(project)
    with (
        pytest.raises(DatasetUnavailableError) as raised,
        KedroSession.create(project_path=project) as session,
    ):
        session.run(pipeline_names=["cnn"])
    message = str(raised.value)
    assert "fashion_mnist_local" in message and str(nowhere) in message
    assert "Running node: train_model" not in caplog.text
    runs = mlflow_runs(project)
    assert [r.info.status for r in runs] == ["FAILED"]  # recorded, not left RUNNING


@pytest.mark.fault(9, "dataset missing, prepared shard truncated: errors name the dataset and the file")
def test_truncated_prepared_shard_is_reported_naming_the_file(tmp_path):
    copy = tmp_path / "tfds"
    shutil.copytree(DATA_DIR / "fashion_mnist_local", copy / "fashion_mnist_local")
    shard = next((copy / "fashion_mnist_local").glob("*/fashion_mnist_local-train.tfrecord-*"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    config = DatasetConfig(name="fashion_mnist_local", data_dir=str(copy))
    with pytest.raises(DatasetUnavailableError) as raised:
        load_splits(config, seed=0)
    message = str(raised.value)
    assert "fashion_mnist_local" in message and "split 'train'" in message
    assert shard.name in message
    assert "Delete" in message  # and how to recover


# --------------------------------------------------------------------------- 10: bad config

BAD_INPUTS = {
    "negative learning rate": (
        {"training": {"optimizer": {"learning_rate": -0.01}}},
        "cnn.training.optimizer.learning_rate",
        "-0.01",
    ),
    "unknown activation": (
        {"model": {"dense": {"activation": "relux"}}},
        "cnn.model.dense.activation",
        "relux",
    ),
    "misspelled key": ({"training": {"epocs": 3}}, "cnn.training.epocs", "epocs"),
    "search space low > high": (
        {"tuning": {"search_space": [{"path": "model.dense.units", "type": "int", "low": 256, "high": 64}]}},
        "cnn.tuning.search_space.0",
        "256",
    ),
    "epochs as text": ({"training": {"epochs": "ten"}}, "cnn.training.epochs", "ten"),
    "unknown optimizer": (
        {"training": {"optimizer": {"name": "adamm"}}},
        "cnn.training.optimizer.name",
        "adamm",
    ),
    "dropout above 1": ({"model": {"dense": {"dropout": 1.5}}}, "cnn.model.dense.dropout", "1.5"),
    "search path that does not exist": (
        {"tuning": {"search_space": [{"path": "model.dense.unitz", "type": "int", "low": 1, "high": 2}]}},
        "cnn.tuning.search_space.0.path",
        "model.dense.unitz",
    ),
}


@pytest.fixture(scope="module")
def validation_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("bad_inputs") / "project")


@pytest.mark.bad_input
@pytest.mark.fault(10, "bad config values: rejected before any node runs, no MLflow run left")
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_config_value_is_rejected_before_any_node(case, validation_project, monkeypatch, caplog):
    project = validation_project
    override, key, value = BAD_INPUTS[case]
    monkeypatch.chdir(project)
    bootstrap_project(project)
    # As `kedro run --pipelines=cnn --params=...` would pass it.
    with (
        pytest.raises(ConfigError) as raised,
        KedroSession.create(project_path=project, runtime_params={"cnn": override}) as session,
    ):
        session.run(pipeline_names=["cnn"])
    message = str(raised.value)
    assert key in message and value in message, message
    assert "Running node" not in caplog.text
    assert not (project / "data" / "02_intermediate").exists()  # no node wrote anything
    # Validation runs before kedro-mlflow is set up: no tracking store, so no run, exists.
    assert not (project / "mlflow.db").exists()


# --------------------------------------------------------------------------- 11: tracking down at start


class _SilentServer:
    """Accepts TCP connections and never answers: a tracking server that hangs."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        for connection in self.held:
            connection.close()
        self.socket.close()


@pytest.mark.fault(11, "MLflow tracking server unreachable at start: clear error within seconds")
@pytest.mark.parametrize("server", ["refused", "silent"])
def test_unreachable_tracking_server_fails_within_seconds_before_any_node(
    server, tmp_path, monkeypatch, caplog
):
    silent = _SilentServer() if server == "silent" else None
    # Bound and not listening for the whole test: connections are refused, and no other process
    # can take the port in between.
    refusing = None if silent else socket.socket()
    if refusing is not None:
        refusing.bind(("127.0.0.1", 0))
    port = silent.port if silent else refusing.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    project = make_project(tmp_path / "project", mlflow_uri=uri)
    monkeypatch.chdir(project)
    bootstrap_project(project)
    started = time.monotonic()
    try:
        with (
            pytest.raises(TrackingUnavailableError) as raised,
            KedroSession.create(project_path=project) as session,
        ):
            session.run(pipeline_names=["cnn"])
    finally:
        if silent:
            silent.close()
        if refusing is not None:
            refusing.close()
    waited = time.monotonic() - started
    message = str(raised.value)
    assert uri in message and "server.mlflow_tracking_uri" in message
    assert "Nothing has run yet" in message
    assert "Running node" not in caplog.text
    assert waited < 30, f"the check took {waited:.1f} s; the probe's timeout is 5 s"


# --------------------------------------------------------------------------- 12: tracking lost mid-run


def _start_mlflow_server(root: Path, port: int) -> subprocess.Popen:
    root.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'tracking.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        stdout=(root / "server.log").open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # Without the job runner: seven more processes the tracking here does not use.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )

    def healthy() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                return b"200" in connection.recv(64)
        except OSError:
            return False

    wait_for(healthy, timeout=120, process=server, what="the MLflow server to answer")
    return server


@pytest.mark.fault(
    12, "MLflow server lost mid-run: training and checkpoints go on, no hang, run closed later"
)
def test_tracking_server_lost_mid_run_does_not_stop_training(tmp_path):
    import mlflow

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server_root = tmp_path / "server"
    epochs = 6
    project = make_project(tmp_path / "project", {"training": {"epochs": epochs}}, mlflow_uri=uri)
    server = _start_mlflow_server(server_root, port)
    run = None
    try:
        run = start_kedro(project, "run", "--pipelines=cnn", log=tmp_path / "run.log")
        wait_for(
            # Epoch 2's backup: epoch 1's metrics are logged by then (logging follows the backup).
            lambda: max(backup_epochs(project / "data/06_models/cnn/backup"), default=0) >= 2,
            timeout=300,
            process=run,
            what="the second epoch",
        )
        kill_group(server)  # the server dies while epoch 3 trains
        run.wait(timeout=420)  # bounded: a hang fails here
    finally:
        if run is not None and run.poll() is None:
            kill_group(run)
        if server.poll() is None:
            kill_group(server)
    log = (tmp_path / "run.log").read_text()
    assert "failed at epoch" in log and "training goes on" in log
    assert f"fit: {epochs} epoch(s)" in log  # every epoch trained although logging failed
    checkpoint = project / "data/06_models/cnn/checkpoints/best.keras"
    keras.models.load_model(checkpoint)  # the checkpoint is complete
    versions = list((project / "data/06_models/cnn/model.keras").glob("*/model.keras"))
    assert versions and all(v.stat().st_size > 0 for v in versions)

    # The server comes back: the run it could not close is closed (KILLED) by the next run.
    server = _start_mlflow_server(server_root, port)
    try:
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name("dlpipe")
        (lost,) = client.search_runs([experiment.experiment_id])
        assert lost.info.status == "RUNNING"
        assert client.get_metric_history(lost.info.run_id, "val_accuracy")  # logged before the loss
        again = run_kedro(project, "run", "--pipelines=cnn", "--nodes=cnn.load_dataset")
        assert again.returncode == 0, again.stdout[-3000:]
        runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
        assert runs[lost.info.run_id].info.status == "KILLED"
        assert [r for r in runs.values() if r.info.status == "RUNNING"] == []
    finally:
        kill_group(server)


# --------------------------------------------------------------------------- 14: a middle node fails


@pytest.mark.fault(14, "a middle node fails: Kedro's resume command completes without retraining")
def test_failed_evaluation_resumes_with_the_printed_command_without_retraining(tmp_path):
    project = make_project(tmp_path / "project", {"training": {"epochs": 2}})
    # A folder where the evaluation writes its report: its save fails after training.
    blocker = project / "data/08_reporting/cnn/evaluation_report.json"
    blocker.mkdir(parents=True)
    first = run_kedro(project, "run", "--pipelines=cnn")
    assert first.returncode != 0
    assert "evaluation_report" in first.stdout
    found = re.search(r"--from-nodes[ =]\"?([\w.,]+)\"?", first.stdout)
    assert found, first.stdout[-3000:]
    resume_nodes = found.group(1)
    assert "train_model" not in resume_nodes and "tune_hyperparameters" not in resume_nodes
    models = list((project / "data/06_models/cnn/model.keras").glob("*/model.keras"))
    assert len(models) == 1
    finished_training = project / "data/06_models/cnn/backup/finished"
    assert finished_training.is_dir()  # kept until a run succeeds

    blocker.rmdir()
    second = run_kedro(project, *shlex.split(f'run --pipelines=cnn --from-nodes "{resume_nodes}"'))
    assert second.returncode == 0, second.stdout[-3000:]
    assert "Running node: train_model" not in second.stdout
    assert "fit:" not in second.stdout
    assert list((project / "data/06_models/cnn/model.keras").glob("*/model.keras")) == models
    assert blocker.is_file()
    assert not finished_training.exists()  # the resumed run succeeded: the next one trains anew
    runs = sorted(mlflow_runs(project), key=lambda r: r.info.start_time)
    assert [r.info.status for r in runs] == ["FAILED", "FINISHED"]
    assert "test_accuracy" in runs[-1].data.metrics


@pytest.mark.fault(16, "the trained model cannot be saved: the rerun reuses it instead of training again")
def test_model_save_failure_keeps_the_training_for_the_rerun(tmp_path):
    project = make_project(tmp_path / "project", {"training": {"epochs": 2}})
    # A file where the versioned model folder goes: saving the trained model fails.
    blocker = project / "data/06_models/cnn/model.keras"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    first = run_kedro(project, "run", "--pipelines=cnn")
    assert first.returncode != 0
    assert "fit: 2 epoch(s)" in first.stdout
    assert "model.keras" in first.stdout  # the error names what could not be saved
    finished = project / "data/06_models/cnn/backup/finished"
    assert (finished / "state.json").is_file(), first.stdout[-3000:]
    trained_history = json.loads((finished / "state.json").read_text())["history"]
    assert len(trained_history["loss"]) == 2

    blocker.unlink()
    second = run_kedro(project, "run", "--pipelines=cnn")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "Training had finished (2 epochs) but its outputs were not saved" in second.stdout
    assert "fit: 0 epoch(s)" in second.stdout
    saved = json.loads((project / "data/08_reporting/cnn/training_history.json").read_text())
    assert saved["loss"] == trained_history["loss"]
    assert len(list(blocker.glob("*/model.keras"))) == 1
    assert not finished.exists()  # the run succeeded: the next one trains anew
    runs = sorted(mlflow_runs(project), key=lambda r: r.info.start_time)
    assert [r.info.status for r in runs if "mlflow.parentRunId" not in r.data.tags] == ["FAILED", "FINISHED"]
