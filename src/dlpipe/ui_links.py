"""Links into the MLflow UI that open where dlpipe's users work: the training runs.

MLflow 3's UI opens an experiment on its GenAI overview until the user picks "Model training"
(its choice is kept per browser); a link that names the workflow lands on the runs table at once.

``python -m dlpipe.ui_links [--store URI] [--ui URL]`` prints the training-runs link of the
``dlpipe`` experiment (``make mlflow-ui`` prints it before starting the UI).
"""

from __future__ import annotations

import argparse

EXPERIMENT = "dlpipe"
TRAINING = "workflowType=machine_learning"


def training_runs_url(ui: str, experiment_id: str) -> str:
    """The runs table of experiment ``experiment_id`` in the MLflow UI at ``ui``."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?{TRAINING}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the MLflow UI link to dlpipe's training runs.")
    parser.add_argument("--store", default="sqlite:///mlflow.db", help="the tracking store")
    parser.add_argument("--ui", default="http://127.0.0.1:5000", help="where the MLflow UI answers")
    args = parser.parse_args()
    import mlflow

    experiment = mlflow.MlflowClient(tracking_uri=args.store).get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        print(f"No '{EXPERIMENT}' experiment in {args.store} yet: run a pipeline first (make run).")
        return
    print(f"dlpipe's training runs: {training_runs_url(args.ui, experiment.experiment_id)}")


if __name__ == "__main__":
    main()
