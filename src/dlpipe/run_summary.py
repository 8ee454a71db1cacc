"""The summary every ``kedro run`` prints at its end: what it measured and where to look.

Read back from the run's MLflow record, so it says what was logged, not what was meant to be:
the test metrics, the best tuning trial, the registered model version and the registry's
decision, each experiment's verdict, where the figures are, the run's page in the MLflow UI and
the command that opens the UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlpipe.run_presentation import PIPELINE_TAG

UI = "http://127.0.0.1:5000"
REPORTING_DIR = "data/08_reporting"


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    """The page of run ``run_id`` in the MLflow UI at ``ui``."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def summary_lines(run: Any, *, ui: str = UI, reporting_dir: str = REPORTING_DIR) -> list[str]:
    """The summary of an MLflow ``run`` (``mlflow.entities.Run``) of ``kedro run``, one line each."""
    metrics, tags = run.data.metrics, run.data.tags
    pipelines = [p for p in tags.get(PIPELINE_TAG, "").split(",") if p]
    lines = [f"Run '{run.info.run_name}'"]
    if len(pipelines) > 1:
        # Several blocks logged their scores, trials and model to this one run: one line each
        # would not say whose they are.
        lines.append(f"  pipelines:      {', '.join(pipelines)} (their scores are in the run's metrics)")
        metrics = {key: value for key, value in metrics.items() if key.endswith(".verdict_held")}
        tags = {}
    tested = {key: value for key, value in sorted(metrics.items()) if key.startswith("test_")}
    if tested:
        lines.append("  test metrics:   " + ", ".join(f"{key}={value:.4g}" for key, value in tested.items()))
    best = {k: v for k, v in metrics.items() if k.startswith("tuning.best_") and k != "tuning.best_trial"}
    if "tuning.best_trial" in metrics and len(best) == 1:
        ((name, value),) = best.items()
        number = int(metrics["tuning.best_trial"])
        lines.append(f"  best trial:     #{number}, {name.removeprefix('tuning.best_')}={value:.4g}")
    if "registry.version" in tags:
        lines.append(
            f"  model:          {tags.get('registry.model', '?')} version {tags['registry.version']}, "
            f"{tags.get('registry.decision', 'no decision recorded')}"
        )
    for key, value in sorted(metrics.items()):
        if key.endswith(".verdict_held"):
            experiment = key.removesuffix(".verdict_held")
            outcome = "claim held" if value == 1.0 else "claim did not hold"
            lines.append(f"  {experiment}: {outcome} ({reporting_dir}/{experiment}/verdict.json)")
    folders = [f"{reporting_dir}/{p}/" for p in pipelines if Path(reporting_dir, p).is_dir()]
    lines.append(f"  figures:        {', '.join(folders) or reporting_dir + '/'}")
    lines.append(f"  in MLflow:      {run_url(ui, run.info.experiment_id, run.info.run_id)}")
    lines.append("  open the UI:    make mlflow-ui")
    return lines


def print_run_summary(run_id: str) -> None:
    """Print the summary of MLflow run ``run_id`` (the tracking URI is the active one)."""
    import mlflow

    print("\n".join(summary_lines(mlflow.MlflowClient().get_run(run_id))), flush=True)
