import sqlite3

import mlflow
import pytest

from dlpipe.tracking_store import create_store_from_template, sqlite_store_path, template_path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _schema(database) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return sorted(connection.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def test_a_copied_store_has_the_schema_mlflow_builds_and_its_own_default_experiment(tmp_path):
    copied, built = tmp_path / "copied" / "mlflow.db", tmp_path / "built.db"

    assert create_store_from_template(f"sqlite:///{copied}")
    assert template_path().exists()
    assert template_path().parent == tmp_path / "cache" / "dlpipe"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{built}").search_experiments()
    assert _schema(copied) == _schema(built)

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{copied}")
    default = client.get_experiment("0")
    # MLflow adds the default experiment when it opens the store: its artifacts are this store's,
    # not somewhere next to the template.
    assert "cache" not in default.artifact_location
    run = client.create_run(client.create_experiment("dlpipe"))
    client.log_metric(run.info.run_id, "accuracy", 0.9)
    assert client.get_run(run.info.run_id).data.metrics == {"accuracy": 0.9}


def test_an_existing_store_is_left_alone(tmp_path):
    store = tmp_path / "mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    client.create_experiment("kept")

    assert not create_store_from_template(f"sqlite:///{store}")
    assert client.get_experiment_by_name("kept") is not None


def test_only_sqlite_files_are_created(tmp_path):
    assert sqlite_store_path("sqlite://") is None
    assert sqlite_store_path("sqlite:///:memory:") is None
    assert sqlite_store_path("http://127.0.0.1:5000") is None
    assert sqlite_store_path(f"sqlite:///{tmp_path / 'a.db'}") == tmp_path / "a.db"
    assert not create_store_from_template("http://127.0.0.1:5000")
    assert not (tmp_path / "cache").exists()


def test_a_relative_store_is_created_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert create_store_from_template("sqlite:///mlruns.db")
    assert (tmp_path / "mlruns.db").stat().st_size > 0
