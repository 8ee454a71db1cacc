"""``kedro airflow create`` with dlpipe's template: one task per node, the pipeline's
dependencies, and a DAG run whose tasks (each its own Kedro run) make one MLflow run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from dlpipe.pipelines.family import create_family_pipeline
from tests.reliability.conftest import kedro_env, make_project, mlflow_runs, run_kedro

STUB = Path(__file__).with_name("airflow_stub.py")


def _slug(name: str) -> str:
    return name.replace(".", "-").replace("_", "-")


def _stub(project: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    dag_file = project / "airflow_dags" / "dlpipe_airflow_cnn_dag.py"
    return subprocess.run(
        [sys.executable, str(STUB), str(dag_file), *args],
        cwd=project,
        env=kedro_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_generated_dag_runs_each_node_as_a_task_and_keeps_one_mlflow_run(tmp_path):
    project = make_project(tmp_path / "project", {"training": {"epochs": 2}})
    # The DAG runs in the `airflow` environment; the scratch project's small parameters go there.
    shutil.copy(project / "conf/local/parameters_cnn.yml", project / "conf/airflow/parameters_cnn.yml")
    created = run_kedro(
        project,
        "airflow",
        "create",
        "--pipelines=cnn",
        "--env=airflow",
        "-j",
        "conf/airflow/dag_template.j2",
        timeout=300,
    )
    assert created.returncode == 0, created.stdout[-3000:]

    described = _stub(project, "describe", timeout=120)
    assert described.returncode == 0, described.stderr[-3000:]
    dag = json.loads(described.stdout.strip().splitlines()[-1])
    assert dag["dags"] == ["dlpipe-cnn"]
    pipeline = create_family_pipeline("cnn")
    expected = {
        _slug(node.name): sorted(_slug(parent.name) for parent in parents)
        for node, parents in pipeline.node_dependencies.items()
    }
    assert dag["tasks"] == expected

    ran = _stub(project, "run", "manual__1", timeout=900)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    assert ran.stdout.count("airflow_stub: running") == len(pipeline.nodes)
    runs = mlflow_runs(project)
    assert [(r.info.status, r.data.tags.get("dlpipe.job")) for r in runs] == [
        ("FINISHED", "airflow:dlpipe-cnn:manual__1")
    ]
    run = runs[0]
    assert "test_accuracy" in run.data.metrics and "val_accuracy" in run.data.metrics
    # What crossed tasks was persisted by the environment's catalog.
    assert (project / "data/05_model_input/cnn/dataset_splits.pkl").is_file()
