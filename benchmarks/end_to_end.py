"""Benchmark 6: the default `kedro run --pipelines=cnn`, end to end: wall time and test accuracy.

Runs in a scratch copy of the project (fresh MLflow store and Optuna study, the prepared TFDS data
shared), so it measures a first run of the default configuration.

    .venv/bin/python benchmarks/end_to_end.py [--env smoke]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Stopwatch, report
from fixed_cost import scratch_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="Kedro environment (smoke for a quick check)")
    parser.add_argument("--smoke", action="store_true", help="same as --env smoke")
    args = parser.parse_args()
    env_name = "smoke" if args.smoke else args.env
    import mlflow

    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        command = [sys.executable, "-m", "kedro", "run", "--pipelines=cnn"]
        if env_name != "base":
            command.append(f"--env={env_name}")
        with Stopwatch() as watch:
            result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("dlpipe")
        run = next(
            r
            for r in client.search_runs([experiment.experiment_id])
            if "mlflow.parentRunId" not in r.data.tags
        )
        accuracy = run.data.metrics["test_accuracy"]
    report({"env": env_name, "wall_s": watch.seconds, "test_accuracy": accuracy})


if __name__ == "__main__":
    main()
