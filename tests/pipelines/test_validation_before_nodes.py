"""Bad parameter values stop `kedro run` before any node runs and before any MLflow run exists."""

from __future__ import annotations

import shutil

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from dlpipe.config.schema import ConfigError
from tests.conftest import PROJECT_ROOT

BAD = {
    "negative learning rate": (
        {"training": {"optimizer": {"learning_rate": -0.1}}},
        "cnn.training.optimizer.learning_rate",
    ),
    "unknown activation": ({"model": {"dense": {"activation": "relux"}}}, "cnn.model.dense.activation"),
    "misspelled key": ({"training": {"epohcs": 3}}, "cnn.training.epohcs"),
    "dropout 1.5": ({"model": {"dense": {"dropout": 1.5}}}, "cnn.model.dense.dropout"),
    "unknown optimizer": ({"training": {"optimizer": {"name": "adamm"}}}, "cnn.training.optimizer.name"),
    "registry requirement on an unreported metric": (
        {"registry": {"require": ["test_acuracy >= 0.9"]}},
        "cnn.registry.require.0",
    ),
    "search space low > high": (
        {"tuning": {"search_space": [{"path": "model.dense.units", "type": "int", "low": 9, "high": 3}]}},
        "cnn.tuning.search_space.0",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation_project")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # Kedro wants the source folder; the package itself is installed
    return root


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_value_stops_the_run_before_any_node(case, project, monkeypatch, caplog):
    monkeypatch.chdir(project)
    bootstrap_project(project)
    override, key_path = BAD[case]
    with (
        pytest.raises(ConfigError) as raised,
        KedroSession.create(project_path=project, env="smoke", runtime_params={"cnn": override}) as session,
    ):
        session.run(pipeline_names=["cnn"])
    assert key_path in str(raised.value)
    assert "Running node" not in caplog.text
    database = project / "mlflow.db"
    if database.exists():
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{database}")
        assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
