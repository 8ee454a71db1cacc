import os
import sqlite3
import subprocess
import sys

import mlflow
import pytest

from dlpipe.tracking_store import create_store_from_template, sqlite_store_path, template_path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _schema(database) -> dict:
    """Every table's columns (name, type, not null, default, key) and indexes, and the schema
    revision: what MLflow reads, not the text of the statements that made them (SQLite keeps a
    column added by ALTER TABLE at the end of that text)."""
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        schema = {
            table: (
                sorted(tuple(column[1:]) for column in connection.execute(f"PRAGMA table_info('{table}')")),
                sorted(tuple(index[1:3]) for index in connection.execute(f"PRAGMA index_list('{table}')")),
            )
            for table in tables
        }
        schema["revision"] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        return schema


def _in_a_fresh_process(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_a_copied_store_has_the_schema_mlflow_builds_and_its_own_default_experiment(tmp_path):
    copied, built = tmp_path / "copied" / "mlflow.db", tmp_path / "built.db"

    # Both built in fresh processes, as `make install` and a first `kedro run` would.
    _in_a_fresh_process(
        f"from dlpipe.tracking_store import create_store_from_template as c; assert c('sqlite:///{copied}')"
    )
    _in_a_fresh_process(
        f"import mlflow; mlflow.MlflowClient(tracking_uri='sqlite:///{built}').search_experiments()"
    )
    assert template_path().exists()
    assert template_path().parent == tmp_path / "cache" / "dlpipe"
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
