"""`kedro run --env=smoke` end to end, in a scratch copy of the project, checked in MLflow and Optuna."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from dlpipe.run_presentation import EXPERIMENT_KIND_TAG, TRAINING_RUNS_KIND
from tests.pipelines.scratch import kedro, mlflow_client, runs_of, scratch_project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project's config in a scratch folder; the prepared TFDS data is shared."""
    return scratch_project(tmp_path_factory.mktemp("project"))


def study_trials(project: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of block ``name``'s study of a smoke run (smoke keeps its own models_dir)."""
    storage = f"sqlite:///{project / 'data' / '06_models' / 'smoke' / 'optuna' / f'{name}.db'}"
    return optuna.load_study(study_name=name, storage=storage).trials


def _run_ids(project: Path) -> set[str]:
    if not (project / "mlflow.db").exists():
        return set()
    client = mlflow_client(project)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=1000) if experiments else []
    return {run.info.run_id for run in runs}


def test_bad_parameter_fails_before_any_node_and_leaves_no_run(project):
    # The project is shared by this module's tests: compare with the runs it held before.
    runs_before = _run_ids(project)
    result = kedro(
        project,
        "run",
        "--pipelines=cnn",
        "--env=smoke",
        "--params",
        "cnn.training.optimizer.learning_rate=-0.5",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cnn.training.optimizer.learning_rate" in output and "-0.5" in output
    assert "Running node" not in output
    assert _run_ids(project) == runs_before


def test_cnn_smoke_run_is_tracked_and_a_rerun_continues_the_study(project):
    result = kedro(project, "run", "--pipelines=cnn", "--env=smoke")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    client = mlflow_client(project)
    parents, runs = runs_of(client, "cnn")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert any("test_accuracy" in key for key in parent.data.metrics)
    # Every parameter of the run's block is logged, under keys every family shares.
    assert parent.data.params["training.optimizer.name"] == "adam"
    assert parent.data.params["pipeline"] == "cnn" and parent.data.params["model.family"] == "cnn"
    assert not any(key.startswith(("cnn.", "mlp.")) for key in parent.data.params)
    history = client.get_metric_history(parent.info.run_id, "val_accuracy")
    assert len(history) == 2  # the final training's per-epoch metrics
    # The summary printed at the end names the run's page, scores, best trial and model version.
    summary = result.stdout[result.stdout.index(f"Run '{parent.info.run_name}'") :]
    assert f"/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}" in summary
    assert f"test_accuracy={parent.data.metrics['test_accuracy']:.4g}" in summary
    assert f"best trial:     #{int(parent.data.metrics['tuning.best_trial'])}" in summary
    assert f"dlpipe-cnn version {parent.data.tags['registry.version']}" in summary

    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) >= 2
    for trial in trials:
        state = trial.data.tags["optuna.state"]
        # A pruned trial ended as planned: FINISHED and named so, not shown as crashed.
        expected = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}
        assert trial.info.status == expected[state]
        assert trial.info.run_name.endswith(" pruned") == (state == "PRUNED")
        assert trial.data.params  # the sampled parameters
        assert client.get_metric_history(trial.info.run_id, "val_accuracy")

    # What the MLflow UI shows of the run: a name with its score, readable tags, the data it read.
    assert re.fullmatch(rf"cnn {parent.info.run_id[:8]} test_accuracy=\d\.\d{{4}}", parent.info.run_name)
    assert float(parent.info.run_name.split("=")[1]) == round(parent.data.metrics["test_accuracy"], 4)
    assert parent.data.tags["runner"] == "SequentialRunner"
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == TRAINING_RUNS_KIND
    inputs = {i.tags[0].value: i.dataset for i in parent.inputs.dataset_inputs}
    assert sorted(inputs) == ["test", "training", "validation"]
    assert inputs["training"].name == "fashion_mnist_local train"
    assert '"features_shape": [400, 28, 28, 1]' in inputs["training"].profile  # the smoke run's 400
    assert inputs["test"].source_type == "local" and inputs["test"].digest
    tuning_figures = {a.path for a in client.list_artifacts(parent.info.run_id, "tuning")}
    assert {f"tuning/{name}.png" for name in ("parallel_coordinate", "slice", "contour")} <= tuning_figures

    models = client.search_logged_models(experiment_ids=[parent.info.experiment_id])
    (model,) = [model for model in models if model.source_run_id == parent.info.run_id]
    # The logged model carries its own test scores, not some epoch's training metrics.
    carried = {metric.key: metric.value for metric in model.metrics}
    assert carried == {key: value for key, value in parent.data.metrics.items() if key.startswith("test_")}
    assert carried["test_accuracy"] > 0.1
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")}
    assert {
        "evaluation/confusion_matrix.png",
        "evaluation/training_curves.png",
        "evaluation/evaluation_report.json",
    } <= artifacts
    assert client.list_artifacts(parent.info.run_id, "augmentation")
    summary = client.download_artifacts(parent.info.run_id, "training/model_summary.txt")
    assert "Per-layer output shapes" in Path(summary).read_text()
    assert int(parent.data.params["iterations_per_epoch"]) == 7  # 400 examples / batch 64
    assert (project / "data" / "06_models" / "cnn" / "model.keras").is_dir()  # versioned

    # The first model registered becomes the champion; the rerun's is registered and compared.
    assert parent.data.tags["registry.decision"] == "promoted"
    assert client.get_model_version_by_alias("dlpipe-cnn", "champion").run_id == parent.info.run_id

    assert len(study_trials(project, "cnn")) == 2
    again = kedro(project, "run", "--pipelines=cnn", "--env=smoke")
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert len(study_trials(project, "cnn")) == 4
    rerun = max(runs_of(client, "cnn")[0], key=lambda run: run.info.start_time)
    assert rerun.info.run_name != parent.info.run_name  # runs a person can tell apart
    rerun_inputs = {i.tags[0].value: i.dataset.digest for i in rerun.inputs.dataset_inputs}
    assert rerun_inputs == {i.tags[0].value: i.dataset.digest for i in parent.inputs.dataset_inputs}
    assert rerun.data.tags["registry.version"] == "2"
    assert "champion's" in rerun.data.tags["registry.reason"]  # compared with version 1
    assert "Model registry: dlpipe-cnn version 2" in again.stdout + again.stderr


def test_predict_pipeline_answers_with_the_champion(project):
    """After the cnn smoke runs: batch prediction of raw test images with the registered champion."""
    import pickle

    import numpy as np
    import pandas as pd

    client = mlflow_client(project)
    champion = client.get_model_version_by_alias("dlpipe-cnn", "champion")
    with open(next(project.glob("data/03_primary/**/cnn/test_split.pkl")), "rb") as file:
        split = pickle.load(file)
    np.save(project / "images.npy", split["x_test"][:20])
    result = kedro(project, "run", "--pipelines=predict", f"--params=predict.inputs={project / 'images.npy'}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    table = pd.read_csv(project / "data" / "07_model_output" / "predict" / "predictions.csv")
    assert list(table["input"]) == list(range(20))
    columns = table.filter(like="probability_")
    probabilities = columns.to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(table["class"], probabilities.argmax(axis=1))
    assert [f"probability_{label}" for label in table["label"]] == list(columns.columns[table["class"]])
    run = max(runs_of(client, "predict")[0], key=lambda run: run.info.start_time)
    assert run.data.tags["predict.registered_model"] == "dlpipe-cnn"
    assert run.data.tags["predict.model_version"] == str(champion.version)


def test_mlp_smoke_run_completes_and_a_model_below_the_bar_never_becomes_champion(project):
    result = kedro(
        project,
        "run",
        "--pipeline=mlp",  # the older flag still works
        "--env=smoke",
        "--params=mlp.registry.require=['test_accuracy >= 0.999']",
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    client = mlflow_client(project)
    parents, _ = runs_of(client, "mlp")
    assert len(parents) == 1
    assert any("test_accuracy" in key for key in parents[0].data.metrics)
    assert len(study_trials(project, "mlp")) == 2
    tags = parents[0].data.tags
    assert tags["registry.version"] == "1" and tags["registry.decision"] == "not promoted (no champion yet)"
    assert "test_accuracy >= 0.999" in tags["registry.reason"]
    assert not client.get_registered_model("dlpipe-mlp").aliases  # registered, never champion


# Each task's own metrics and figures (and a family's own figure), as logged to the pipeline's
# parent run.
TASK_OUTPUTS = {
    "rnn_forecast": ({"test_mae", "test_rmse", "test_naive_mae", "test_mae_over_naive"}, "predictions.png"),
    "autoencoder": (
        {"test_mse", "test_bce", "test_probe_accuracy", "test_pixel_probe_accuracy"},
        "reconstructions.png",
    ),
    "vae": (
        {"test_negative_elbo", "test_kl_loss", "test_frechet_distance", "test_confident_share"},
        "samples.png",
    ),
    "transformer": ({"test_accuracy", "test_ngram_baseline_accuracy"}, "attention_maps.png"),
    "seq2seq_attention": (
        {"test_word_error_rate", "test_token_error_rate", "test_word_error_rate_longest", "test_loss"},
        "attention_maps.png",
    ),
}


@pytest.mark.parametrize("pipeline", sorted(TASK_OUTPUTS))
def test_each_task_run_is_tracked_with_its_own_metrics_and_figures(project, pipeline):
    result = kedro(project, "run", f"--pipelines={pipeline}", "--env=smoke")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    client = mlflow_client(project)
    parents, runs = runs_of(client, pipeline)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    metrics, figure = TASK_OUTPUTS[pipeline]
    assert metrics <= set(parent.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "evaluation")}
    assert f"evaluation/{figure}" in artifacts
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == len(study_trials(project, pipeline)) == 2


def test_viz_build_renders_every_pipeline(project):
    from tests.conftest import load_project_params

    result = kedro(project, "viz", "build", "--include-previews")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    pipelines = project / "build" / "api" / "pipelines"
    for block in load_project_params("base"):
        assert (pipelines / block).is_file(), block
        assert f"{block}.train_model" in (pipelines / block).read_text()
    assert "predict_batch" in (pipelines / "predict").read_text()
    experiments = [b for b in load_project_params("base", families_only=False) if b.startswith("experiment_")]
    assert experiments
    for block in experiments:
        assert f"{block}.judge_claim" in (pipelines / block).read_text(), block
        assert f"{block}.train_arms" in (pipelines / "experiments").read_text(), block


def test_transfer_smoke_run_trains_its_missing_source_first_and_logs_the_learning_curve(project):
    source = "data/06_models/smoke/cnn_for_transfer/model.keras"  # no model there yet
    result = kedro(
        project, "run", "--pipelines=transfer", "--env=smoke", f"--params=transfer.model.base.model={source}"
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert len(list((project / source).glob("*/model.keras"))) == 1  # the cnn block, trained first
    client = mlflow_client(project)
    parents, _ = runs_of(client, "transfer")
    metrics = parents[-1].data.metrics
    assert {"source.test_accuracy", "test_accuracy"} <= set(metrics)
    for arm in ("frozen", "fine_tune", "scratch"):
        assert 0.0 <= metrics[f"learning_curve.{arm}.n100.test_accuracy"] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(parents[-1].info.run_id, "learning_curve")}
    assert {"learning_curve/learning_curve.csv", "learning_curve/learning_curve.png"} <= artifacts
