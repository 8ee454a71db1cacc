"""Several processes tuning one study: a worker joins the session a `kedro run` opened, the
study's trial count holds across them, and a killed worker's trial is run again."""

from __future__ import annotations

import signal

import optuna
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from dlpipe.tuning.workers import RETRY_OF_ATTR, STALE_ATTR, SURPLUS_ATTR, counts, owner_pid
from tests.reliability.conftest import kill_group, make_project, mlflow_runs, start_kedro, wait_for

JOURNAL = "data/06_models/optuna/cnn.journal"


def _trials(project) -> list:
    if not (project / JOURNAL).exists():
        return []
    storage = JournalStorage(JournalFileBackend(str(project / JOURNAL)))
    try:
        return optuna.load_study(study_name="cnn", storage=storage).get_trials(deepcopy=False)
    except KeyError:  # no study yet
        return []


def _worker_mid_trial(project, pid: int) -> bool:
    return any(
        t.state == TrialState.RUNNING and owner_pid(t) == pid and t.intermediate_values
        for t in _trials(project)
    )


@pytest.mark.fault(20, "tuning worker killed mid-trial: its trial runs again, the study's total holds")
def test_a_worker_shares_the_session_and_its_killed_trial_is_run_again(tmp_path):
    n_trials = 5
    project = make_project(
        tmp_path / "project",
        {
            "training": {"epochs": 1},
            "tuning": {
                "enabled": True,
                "storage": f"journal:///{JOURNAL}",
                "n_trials": n_trials,
                "epochs": 3,
                "train_subset": 1000,
                "validation_subset": 200,
                "pruner": {"name": "none"},
            },
        },
    )
    worker_args = (
        "run",
        "--pipelines=cnn",
        "--to-nodes=cnn.tune_hyperparameters",
        "--params=cnn.tuning.worker=true",
    )
    # The worker starts first and waits for the session the main run opens.
    worker = start_kedro(project, *worker_args, log=tmp_path / "worker.log")
    main = start_kedro(project, "run", "--pipelines=cnn", log=tmp_path / "main.log")
    try:
        wait_for(
            lambda: _worker_mid_trial(project, worker.pid),
            timeout=400,
            process=worker,
            what="the worker to be inside a trial, one epoch done",
        )
        kill_group(worker, signal.SIGKILL)
        assert main.wait(timeout=600) == 0, (tmp_path / "main.log").read_text()[-4000:]
    finally:
        for process in (worker, main):
            if process.poll() is None:
                kill_group(process)

    trials = _trials(project)
    killed = [t for t in trials if owner_pid(t) == worker.pid and t.user_attrs.get(STALE_ATTR)]
    assert len(killed) == 1 and killed[0].state == TrialState.FAIL
    retried = [t for t in trials if t.user_attrs.get(RETRY_OF_ATTR) == killed[0].number]
    assert len(retried) == 1 and retried[0].params == killed[0].params
    assert owner_pid(retried[0]) == main.pid  # the surviving process ran it
    counted = [t for t in trials if counts(t)]
    assert len(counted) == n_trials and all(t.state.is_finished() for t in counted)
    # Each process samples for itself: no two counted trials with the same parameters.
    assert len({tuple(sorted(t.params.items())) for t in counted}) == n_trials
    assert len({t.number for t in trials}) == len(trials)
    main_log = (tmp_path / "main.log").read_text()
    assert f"Trial {killed[0].number} was left running by an interrupted run: marked FAIL" in main_log

    # One run tree: every trial's MLflow run, the worker's too, is under the run that opened the session.
    runs = mlflow_runs(project)
    opener = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags and r.info.status == "FINISHED")
    trial_runs = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {opener.info.run_id}
    worker_trial_numbers = {t.number for t in trials if owner_pid(t) == worker.pid}
    assert worker_trial_numbers <= {int(r.data.tags["optuna.trial_number"]) for r in trial_runs}


@pytest.mark.bad_input
def test_a_worker_that_would_train_is_stopped_before_any_node(tmp_path, monkeypatch, caplog):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from dlpipe.config.common import ConfigError

    tuning = {"enabled": True, "worker": True, "storage": f"journal:///{JOURNAL}"}
    project = make_project(tmp_path / "project", {"tuning": tuning})
    monkeypatch.chdir(project)
    bootstrap_project(project)
    with (
        pytest.raises(ConfigError) as raised,
        KedroSession.create(project_path=project) as session,
    ):
        session.run(pipeline_names=["cnn"])
    message = str(raised.value)
    assert "cnn.tuning.worker" in message and "also runs" in message and "cnn.train_model" in message
    assert "--to-nodes=cnn.tune_hyperparameters" in message
    assert "Running node" not in caplog.text
    assert [r.info.status for r in mlflow_runs(project)] == []


def test_two_processes_share_one_postgresql_study(tmp_path):
    from dlpipe.devtools.postgres import ThrowawayPostgres

    n_trials = 4
    # Password authentication: the run must take the password from the project's credentials.
    with ThrowawayPostgres(password="tuning-secret") as server:
        tuning = {
            "enabled": True,
            "storage": server.url,
            "storage_credentials": "optuna_study",
            "n_trials": n_trials,
            "epochs": 2,
            "train_subset": 1000,
            "validation_subset": 200,
            "pruner": {"name": "none"},
        }
        project = make_project(tmp_path / "project", {"training": {"epochs": 1}, "tuning": tuning})
        credentials = {"optuna_study": {"username": "dlpipe", "password": "tuning-secret"}}
        (project / "conf" / "local" / "credentials.yml").write_text(yaml.safe_dump(credentials))
        worker_args = ("--to-nodes=cnn.tune_hyperparameters", "--params=cnn.tuning.worker=true")
        worker = start_kedro(project, "run", "--pipelines=cnn", *worker_args, log=tmp_path / "worker.log")
        main = start_kedro(project, "run", "--pipelines=cnn", log=tmp_path / "main.log")
        try:
            assert main.wait(timeout=600) == 0, (tmp_path / "main.log").read_text()[-4000:]
            assert worker.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()[-4000:]
        finally:
            for process in (worker, main):
                if process.poll() is None:
                    kill_group(process)
        authenticated = server.url.replace("dlpipe@", "dlpipe:tuning-secret@")
        trials = optuna.load_study(study_name="cnn", storage=authenticated).trials

    counted = [t for t in trials if counts(t)]
    assert len(counted) == n_trials and all(t.state.is_finished() for t in counted)
    assert len({t.number for t in trials}) == len(trials)
    assert {owner_pid(t) for t in counted} == {main.pid, worker.pid}  # both processes ran trials
    assert len({tuple(sorted(t.params.items())) for t in counted}) == n_trials
    runs = mlflow_runs(project)
    trial_runs = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert len(trial_runs) == len([t for t in trials if not t.user_attrs.get(SURPLUS_ATTR)])
    parents = {r.data.tags["mlflow.parentRunId"] for r in trial_runs}
    assert len(parents) == 1  # one run tree: the workers' trial runs too
    opener = next(r for r in runs if r.info.run_id in parents)
    assert opener.info.status == "FINISHED" and "mlflow.parentRunId" not in opener.data.tags
