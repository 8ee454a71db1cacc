"""Benchmark 6: the default `kedro run --pipelines=cnn`, end to end: wall time and test accuracy.

Each repeat runs in a fresh scratch copy of the project (new MLflow store and Optuna study, the
prepared TFDS data shared), so it measures a first run of the default configuration. Besides
the wall time and test accuracy it reports what the run's budget decided: the trials run, and
the epochs planned (printed per run) and trained. ``--params`` passes Kedro's ``--params`` (an
ablation arm, say).

    .venv/bin/python benchmarks/end_to_end.py [--repeats 3] [--env smoke] [--params "cnn.k=v,..."]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Stopwatch, report, summary
from fixed_cost import scratch_project


def one_run(env_name: str, params: str | None) -> dict:
    """One `kedro run --pipelines=cnn` in a fresh scratch project: its wall time and what its
    MLflow run recorded."""
    import mlflow

    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        command = [sys.executable, "-m", "kedro", "run", "--pipelines=cnn"]
        if env_name != "base":
            command.append(f"--env={env_name}")
        if params:
            command.append(f"--params={params}")
        with Stopwatch() as watch:
            result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("dlpipe")
        runs = client.search_runs([experiment.experiment_id])
        run = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
        epochs = len(client.get_metric_history(run.info.run_id, "val_accuracy"))
    return {
        "wall_s": watch.seconds,
        "test_accuracy": run.data.metrics["test_accuracy"],
        "trials": len(trials),
        "planned_epochs": int(run.data.params.get("budget.planned_epochs", 0)) or None,
        "epochs_trained": epochs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="Kedro environment (smoke for a quick check)")
    parser.add_argument("--smoke", action="store_true", help="same as --env smoke")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--params", default=None, help="Kedro --params for every repeat")
    args = parser.parse_args()
    env_name = "smoke" if args.smoke else args.env
    runs = []
    for repeat in range(args.repeats):
        runs.append(one_run(env_name, args.params))
        print(f"run {repeat + 1}: {runs[-1]}", flush=True)
    walls = [r["wall_s"] for r in runs]
    accuracies = [r["test_accuracy"] for r in runs]
    if args.repeats > 1:
        print(f"wall s: {summary(walls)}")
        print(f"test accuracy: {summary(accuracies)}")
    report(
        {
            "env": env_name,
            "params": args.params,
            "repeats": args.repeats,
            "wall_s": statistics.median(walls),
            "test_accuracy": statistics.median(accuracies),
            "trials": statistics.median(r["trials"] for r in runs),
            "epochs_trained": statistics.median(r["epochs_trained"] for r in runs),
        }
    )


if __name__ == "__main__":
    main()
