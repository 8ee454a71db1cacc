"""`kedro run --pipelines=experiments --env=smoke`: every experiment end to end, checked in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlpipe.config.experiment import ExperimentBlock
from dlpipe.experiments.fits import ARM_TAG, EXPERIMENT_TAG
from tests.conftest import load_project_params
from tests.pipelines.scratch import kedro, mlflow_client, runs_of, scratch_project


@pytest.fixture(scope="module")
def experiments_run(tmp_path_factory):
    project = scratch_project(tmp_path_factory.mktemp("experiments"))
    result = kedro(project, "run", "--pipelines=experiments", "--env=smoke")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return project


def _experiments() -> dict[str, object]:
    params = load_project_params("smoke", families_only=False)
    return {
        block: ExperimentBlock.model_validate(values).experiment
        for block, values in params.items()
        if block.startswith("experiment_")
    }


def test_every_experiment_is_one_nested_run_per_arm_and_seed_under_one_parent(experiments_run):
    client = mlflow_client(experiments_run)
    parents, runs = runs_of(client, "experiments")
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    for block, experiment in _experiments().items():
        mine = [r for r in children if r.data.tags.get(EXPERIMENT_TAG) == block]
        expected = {(arm, str(seed)) for arm in experiment.arms for seed in experiment.seeds}
        assert {(r.data.tags[ARM_TAG], r.data.params["seed"]) for r in mine} == expected, block
        for run in mine:
            assert run.info.status == "FINISHED"
            # Side by side in MLflow's compare view: every arm reports the same measures (a
            # diverged one's infinite loss is left out: MLflow would show the largest float).
            measured = set(run.data.metrics)
            assert {"epochs", "parameters", "diverged", "seconds", "train_val_gap"} <= measured, block
            if run.data.metrics["diverged"] == 0.0:
                assert {"final_loss", "test_loss"} <= measured, block
        verdict = json.loads((experiments_run / "data" / "08_reporting" / block / "verdict.json").read_text())
        assert parent.data.metrics[f"{block}.verdict_held"] == float(verdict["held"])
        artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, block)}
        assert {f"{block}/verdict.json", f"{block}/comparison.png", f"{block}/fits.csv"} <= artifacts
    assert "claim" not in parent.info.run_name  # one experiment's outcome is not the run's
    layers = client.download_artifacts(mine[0].info.run_id, "layers.txt", str(experiments_run))
    assert "Per-layer output shapes" in Path(layers).read_text()


def test_each_verdict_names_its_claim_and_the_numbers_of_every_arm(experiments_run):
    for block, experiment in _experiments().items():
        verdict = json.loads((experiments_run / "data" / "08_reporting" / block / "verdict.json").read_text())
        assert verdict["claim"] == experiment.claim
        assert set(verdict["arms"]) == set(experiment.arms)
        assert len(verdict["conditions"]) == len(experiment.verdict)
        for condition in verdict["conditions"]:
            assert isinstance(condition["held"], bool) and condition["statement"]
        start = "The claim held" if verdict["held"] else "The claim did not hold"
        assert verdict["conclusion"].startswith(start)
