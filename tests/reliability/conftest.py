"""The reliability suite: faults injected into real runs on small real data.

Its scoreboard (``faults survived: N/M``) is the plugin ``tests/reliability/scoreboard.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import DATA_DIR, PROJECT_ROOT

KEDRO = [sys.executable, "-m", "kedro"]

# --------------------------------------------------------------------------- scratch projects

# Small enough for seconds per epoch on 2 cores, large enough that an epoch can be interrupted.
TINY = {
    "dataset": {"train_limit": 2000, "test_limit": 300},
    "training": {
        "epochs": 4,
        "batch_size": 64,
        "verbose": 2,
        "lr_schedule": {"name": "constant"},
        "early_stopping": {"patience": 20},
    },
    "tuning": {"enabled": False},
}


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(merged.get(key), dict) else value
    return merged


def make_project(root: Path, cnn: dict | None = None, mlflow_uri: str | None = None) -> Path:
    """A scratch copy of the project (config only; the package is installed) sharing the dataset.

    ``cnn`` overrides the cnn parameters (on top of ``TINY``) through ``conf/local``, the default
    run environment, so the rerun command is the plain ``kedro run --pipelines=cnn``.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copy(PROJECT_ROOT / ".telemetry", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    local = root / "conf" / "local"
    local.mkdir()
    (root / "src").mkdir()  # Kedro wants the source folder; the package itself is installed
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "tfds").symlink_to(DATA_DIR, target_is_directory=True)
    params = deep_merge(TINY, cnn or {})
    (local / "parameters_cnn.yml").write_text(yaml.safe_dump({"cnn": params}))
    if mlflow_uri is not None:
        (local / "mlflow.yml").write_text(yaml.safe_dump({"server": {"mlflow_tracking_uri": mlflow_uri}}))
    return root


def kedro_env() -> dict[str, str]:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_kedro(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``project``; output is stdout and stderr together."""
    return subprocess.run(
        [*KEDRO, *args],
        cwd=project,
        env=kedro_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def start_kedro(project: Path, *args: str, log: Path) -> subprocess.Popen:
    """Start ``kedro <args>`` in the background, in a process group of its own."""
    handle = log.open("w")
    return subprocess.Popen(
        [*KEDRO, *args],
        cwd=project,
        env=kedro_env(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, *, timeout: float, process: subprocess.Popen | None = None, what: str) -> None:
    """Poll ``condition`` until true; fail if ``process`` exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=60)


def mlflow_runs(project: Path) -> list:
    """Every MLflow run of the scratch project's tracking store."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=1000) if experiments else []


def metric_steps(project: Path, run_id: str, key: str) -> list[int]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def backup_epochs(backup_dir: Path) -> list[int]:
    """The epochs of the complete backups in ``backup_dir``."""
    if not backup_dir.is_dir():
        return []
    return sorted(int(p.name[6:]) for p in backup_dir.glob("epoch-*") if p.name[6:].isdigit())
