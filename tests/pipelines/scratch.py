"""Scratch copies of the project for end-to-end runs, and what their MLflow store holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow

from dlpipe.run_presentation import PIPELINE_TAG
from tests.conftest import DATA_DIR, PROJECT_ROOT

KEDRO = [sys.executable, "-m", "kedro"]


def scratch_project(root: Path) -> Path:
    """A copy of the project's config in ``root``; the prepared TFDS data is shared."""
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copy(PROJECT_ROOT / ".telemetry", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # Kedro wants the source folder; the package itself is installed
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "tfds").symlink_to(DATA_DIR, target_is_directory=True)
    wheels = PROJECT_ROOT / "data" / "01_raw" / "wheels"  # the series' source, when not yet prepared
    if wheels.is_dir():
        (root / "data" / "01_raw" / "wheels").symlink_to(wheels, target_is_directory=True)
    return root


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``project``, with its own SQLite MLflow store."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([*KEDRO, *args], cwd=project, env=env, capture_output=True, text=True, timeout=900)


def mlflow_client(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def runs_of(client: mlflow.MlflowClient, pipeline: str):
    """The top-level runs of ``pipeline``, and every run of the ``dlpipe`` experiment."""
    experiment = client.get_experiment_by_name("dlpipe")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    tops = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    parents = [run for run in tops if run.data.tags.get(PIPELINE_TAG) == pipeline]
    return parents, runs
