"""The end-of-run summary says what the run logged and where to look."""

from __future__ import annotations

import mlflow

from dlpipe.run_presentation import PIPELINE_TAG
from dlpipe.run_summary import summary_lines


def _run(tmp_path, metrics, tags):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("summary", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment, run_name="cnn 3f9a2c1e test_accuracy=0.9274", tags=tags)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    return client.get_run(run.info.run_id)


def test_a_family_run_names_its_scores_best_trial_model_figures_and_page(tmp_path):
    (tmp_path / "reporting" / "cnn").mkdir(parents=True)
    run = _run(
        tmp_path,
        {
            "test_accuracy": 0.9274,
            "test_loss": 0.21,
            "tuning.best_trial": 3,
            "tuning.best_val_accuracy": 0.912,
        },
        {
            PIPELINE_TAG: "cnn",
            "registry.model": "dlpipe-cnn",
            "registry.version": "5",
            "registry.decision": "promoted",
        },
    )
    text = "\n".join(
        summary_lines(run, ui="http://127.0.0.1:5000", reporting_dir=str(tmp_path / "reporting"))
    )
    assert "Run 'cnn 3f9a2c1e test_accuracy=0.9274'" in text
    assert "test_accuracy=0.9274, test_loss=0.21" in text
    assert "best trial:     #3, val_accuracy=0.912" in text
    assert "dlpipe-cnn version 5, promoted" in text
    assert f"{tmp_path / 'reporting'}/cnn/" in text
    assert f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}" in text
    assert "make mlflow-ui" in text


def test_an_experiments_run_names_each_verdict(tmp_path):
    run = _run(
        tmp_path,
        {"experiment_a.verdict_held": 1.0, "experiment_b.verdict_held": 0.0},
        {PIPELINE_TAG: "experiments"},
    )
    text = "\n".join(summary_lines(run, reporting_dir="data/08_reporting"))
    assert "experiment_a: claim held (data/08_reporting/experiment_a/verdict.json)" in text
    assert "experiment_b: claim did not hold" in text
    assert "test metrics" not in text and "best trial" not in text


def test_a_run_of_several_pipelines_does_not_pass_one_blocks_scores_off_as_the_runs(tmp_path):
    run = _run(
        tmp_path,
        {"test_accuracy": 0.9, "tuning.best_trial": 1, "tuning.best_val_loss": 0.3},
        {PIPELINE_TAG: "cnn,mlp", "registry.version": "2"},
    )
    text = "\n".join(summary_lines(run, reporting_dir=str(tmp_path)))
    assert "pipelines:      cnn, mlp" in text
    assert "test metrics" not in text and "best trial" not in text and "model:" not in text
    assert f"/runs/{run.info.run_id}" in text
