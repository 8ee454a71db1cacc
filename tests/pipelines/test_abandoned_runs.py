"""Runs left RUNNING by a dead process are closed by the next run; runs of live processes are not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import mlflow
import pytest

from dlpipe.hooks import HOST_TAG, PID_TAG, PROCESS_START_TAG, close_abandoned_runs, process_start


@pytest.fixture
def client(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.set_experiment("abandoned")
    yield mlflow.MlflowClient(), experiment.experiment_id
    mlflow.set_tracking_uri(None)


def _running_run(client, experiment_id: str, pid: int, start: str | None) -> str:
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname()}
    if start is not None:
        tags[PROCESS_START_TAG] = start
    return client.create_run(experiment_id, tags=tags).info.run_id


def test_only_runs_of_dead_or_replaced_processes_are_closed(client):
    client, experiment_id = client
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(finished.stdout)
    me, my_start = os.getpid(), process_start(os.getpid())
    assert my_start is not None
    dead = _running_run(client, experiment_id, dead_pid, None)
    live = _running_run(client, experiment_id, me, my_start)
    # Same pid, another start time: the run's process died and its pid went to a new process.
    reused = _running_run(client, experiment_id, me, str(int(my_start) - 1))
    closed = close_abandoned_runs(experiment_id)
    assert sorted(closed) == sorted([dead, reused])
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(reused).info.status == "KILLED"
    assert client.get_run(live).info.status == "RUNNING"
