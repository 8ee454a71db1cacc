"""A two-worker training job on loopback: the workers end with the same weights, the chief logs
one MLflow run and saves one model, and a job whose worker is killed resumes from the backups."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.reliability.conftest import (
    backup_epochs,
    kedro_env,
    make_project,
    metric_steps,
    mlflow_runs,
    wait_for,
)

EPOCHS = 5


def _worker_pids(log: str) -> dict[int, int]:
    return {int(index): int(pid) for index, pid in re.findall(r"worker (\d+): pid (\d+)", log)}


@pytest.mark.fault(21, "training worker killed mid-epoch: the relaunched job resumes, one run, same weights")
def test_a_two_worker_job_trains_in_step_and_resumes_after_a_worker_is_killed(tmp_path):
    # Enough data for an epoch of a few seconds: the kill lands inside one.
    project = make_project(
        tmp_path / "project",
        {"dataset": {"train_limit": 6000}, "training": {"epochs": EPOCHS}, "budget": {"seconds": None}},
    )
    launcher_log = tmp_path / "launch.log"
    command = [sys.executable, "-m", "dlpipe.launch", "--workers", "2", "--pipeline", "cnn"]
    with launcher_log.open("w") as handle:
        launcher = subprocess.Popen(
            [*command, "--restarts", "1", "--grace-s", "10", "--job", "job1"],
            cwd=project,
            env=kedro_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker_backups = project / "data/06_models/cnn/backup/worker-1"
    try:
        wait_for(
            lambda: 2 in backup_epochs(worker_backups),
            timeout=300,
            process=launcher,
            what="worker 1 to back up its second epoch",
        )
        os.kill(_worker_pids(launcher_log.read_text())[1], signal.SIGKILL)
        assert launcher.wait(timeout=400) == 0, launcher_log.read_text()[-3000:]
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)

    launched = launcher_log.read_text()
    assert "worker 1 exited with -9" in launched and "attempt 2" in launched
    logs = project / "data/09_logs/launch/job1/attempt-1"
    relaunched = [(logs / f"worker-{index}.log").read_text() for index in (0, 1)]
    digests, resumed = set(), set()
    for index, log in enumerate(relaunched):
        # Each worker resumed from its own backup. The survivor, stopped by the launcher, may not
        # have finished writing the epoch the killed worker had backed up: then both agree on the
        # epoch before.
        found = re.findall(rf"Resuming training from backup \S*worker-{index}/epoch-(\d+)", log)
        assert found, log[-3000:]
        resumed.update(int(epoch) for epoch in found)
        digests.update(re.findall(rf"worker-{index} of 2: training ended with weights digest (\w+)", log))
    assert len(resumed) == 1 and resumed <= {1, 2, 3}, f"the workers resumed from epochs {resumed}"
    assert len(digests) == 1, f"the workers ended with different weights: {digests}"

    runs = mlflow_runs(project)
    assert len(runs) == 1, [(r.info.run_id, r.info.status) for r in runs]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["dlpipe.job"] == "job1"
    assert run.data.params["distributed.num_workers"] == "2"
    assert run.data.params["training.strategy"] == "multi_worker_mirrored"
    assert metric_steps(project, run.info.run_id, "val_accuracy") == list(range(EPOCHS))
    assert "test_accuracy" in run.data.metrics
    versions = list((project / "data/06_models/cnn/model.keras").iterdir())
    assert len(versions) == 1
    # The workers' backups are gone once the job has saved its model.
    assert not any((project / "data/06_models/cnn/backup").glob("worker-*/epoch-*"))
