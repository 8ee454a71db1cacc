"""Faults during tuning: a NaN trial, a killed study, a locked or corrupted study file, and
determinism of the same seed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from dlpipe.config.schema import parse_family
from dlpipe.tuning.study import FAIL_REASON_ATTR, STALE_ATTR, StudyStorageError, open_study, run_study
from tests.reliability.conftest import (
    kill_group,
    make_project,
    mlflow_runs,
    run_kedro,
    start_kedro,
    wait_for,
)


def _initial_scale_space(cnn_params, choices):
    cnn_params["tuning"].update(
        search_space=[{"path": "model.initializer.stddev", "type": "categorical", "choices": choices}],
        pruner={"name": "none"},
        n_trials=3,
    )
    cnn_params["model"]["initializer"] = {"name": "random_normal"}
    # Linear activations let an overflow through; a ReLU would map its NaNs to zero.
    cnn_params["model"]["conv"]["activation"] = "linear"
    cnn_params["model"]["dense"]["activation"] = "linear"
    return parse_family("cnn", cnn_params)


@pytest.mark.fault(5, "NaN inside a tuning trial: that trial FAIL, the study goes on, best unaffected")
def test_nan_trial_fails_alone_and_the_best_trial_is_unaffected(cnn_params, fashion_splits, tmp_path):
    splits, info = fashion_splits
    config = _initial_scale_space(cnn_params, [0.05, 1e30, 0.02])
    # The trials are fixed in advance: a sound one, one whose activations overflow, a sound one.
    queued = open_study(config)
    for stddev in (0.05, 1e30, 0.02):
        queued.enqueue_trial({"model.initializer.stddev": stddev})

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.set_experiment("reliability")
        with mlflow.start_run(experiment_id=experiment.experiment_id) as parent:
            study = run_study(config, splits, info)
        trials = study.trials
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
        reason = trials[1].user_attrs[FAIL_REASON_ATTR]
        assert "Training loss is nan" in reason and "epoch 1, batch" in reason
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        # Two sound trials may tie on a small validation set; the best is then either of them.
        assert study.best_value == max(t.value for t in complete)
        assert study.best_trial.number in {t.number for t in complete if t.value == study.best_value}
        assert study.best_trial.params["model.initializer.stddev"] != 1e30

        client = mlflow.MlflowClient()
        children = client.search_runs(
            [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
        )
        status = {int(r.data.tags["optuna.trial_number"]): r.info.status for r in children}
        assert status == {0: "FINISHED", 1: "FAILED", 2: "FINISHED"}
        failed = next(r for r in children if r.data.tags["optuna.trial_number"] == "1")
        assert failed.data.tags["dlpipe.fail_reason"] == reason
    finally:
        mlflow.set_tracking_uri(None)


def _query(database: Path, sql: str, *args, writable: bool = False) -> list[tuple]:
    """Rows of ``sql``; none while the study's tables do not exist yet.

    Read-only while the tuning process runs, so polling never takes a write lock. After a kill,
    ``writable`` lets SQLite roll back a write the kill interrupted, as the next run would.
    """
    if not database.exists():
        return []
    mode = "rw" if writable else "ro"
    try:
        with sqlite3.connect(f"file:{database}?mode={mode}", uri=True, timeout=5) as connection:
            return list(connection.execute(sql, args))
    except sqlite3.Error:
        return []


def _trial_states(database: Path, writable: bool = False) -> dict[int, str]:
    return dict(_query(database, "SELECT number, state FROM trials", writable=writable))


def _epochs_reported(database: Path, number: int) -> int:
    rows = _query(
        database,
        "SELECT COUNT(*) FROM trial_intermediate_values v JOIN trials t ON v.trial_id = t.trial_id "
        "WHERE t.number = ?",
        number,
    )
    return rows[0][0] if rows else 0


@pytest.mark.fault(6, "tuning killed mid-trial: rerun fails the stale trial, stops at the configured total")
def test_tuning_killed_mid_trial_then_rerun_finishes_at_the_configured_total(tmp_path):
    n_trials = 3
    project = make_project(
        tmp_path / "project",
        {
            "training": {"epochs": 1},
            "tuning": {
                "enabled": True,
                "n_trials": n_trials,
                "epochs": 3,
                "train_subset": 1000,
                "validation_subset": 200,
            },
        },
    )
    database = project / "data/06_models/optuna/cnn.db"
    first = start_kedro(project, "run", "--pipelines=cnn", log=tmp_path / "first.log")
    try:
        # Killed after its first of three epochs: mid-training, with two epochs to spare for the
        # kill to land, and before the pruner (2 startup trials) could judge it.
        wait_for(
            lambda: _epochs_reported(database, 1) >= 1,
            timeout=300,
            process=first,
            what="trial 1 to finish its first epoch",
        )
        kill_group(first, signal.SIGKILL)
    finally:
        if first.poll() is None:
            kill_group(first)
    assert _trial_states(database, writable=True) == {0: "COMPLETE", 1: "RUNNING"}

    second = run_kedro(project, "run", "--pipelines=cnn")
    assert second.returncode == 0, second.stdout[-4000:]
    assert "Trial 1 was left running by an interrupted run: marked FAIL" in second.stdout
    assert f"Continuing an interrupted tuning run: 1 of {n_trials} trials done" in second.stdout
    study = optuna.load_study(study_name="cnn", storage=f"sqlite:///{database}")
    states = [t.state for t in study.trials]
    # Trial 0 kept, trial 1 failed as stale, trials 2-3 finish the configured 3: one trial redone.
    # The median pruner (2 startup trials) may prune trial 3 against trials 0 and 2; a pruned trial
    # is finished and counts towards `n_trials`, so either state ends the run at the same total.
    assert states[:2] == [TrialState.COMPLETE, TrialState.FAIL]
    assert len(states) == 4
    assert all(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states[2:]), states
    assert study.trials[1].user_attrs.get(STALE_ATTR) is True
    runs = mlflow_runs(project)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    killed_parent = min(
        (r for r in runs if "mlflow.parentRunId" not in r.data.tags), key=lambda r: r.info.start_time
    )
    assert killed_parent.info.status == "KILLED"
    stale_trial_run = next(r for r in runs if r.info.run_name == "cnn-trial-1")
    assert stale_trial_run.info.status in ("KILLED", "FAILED")
    assert stale_trial_run.data.tags["optuna.state"] == "FAIL"
    # One run tree: the rerun that completed the tuning session holds all its trials, the killed
    # run's too, and the killed run says which run continued it.
    rerun = max((r for r in runs if "mlflow.parentRunId" not in r.data.tags), key=lambda r: r.info.start_time)
    trial_runs = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in trial_runs) == [0, 1, 2, 3]
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {rerun.info.run_id}
    assert killed_parent.data.tags["dlpipe.continued_by"] == rerun.info.run_id


# --------------------------------------------------------------------------- the study file


def _study_with_history(cnn_params) -> tuple[Path, object]:
    config = parse_family("cnn", cnn_params)
    study = open_study(config)
    for value in (0.5, 0.7):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, value)
    return Path(config.tuning.storage_path), config


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.execute("COMMIT")
    """
)


def _lock(database: Path, seconds: float) -> subprocess.Popen:
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(database), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout.readline().strip() == "locked"
    return locker


@pytest.mark.fault(7, "study database locked by another process: bounded wait, clear error, no damage")
def test_locked_study_fails_after_a_bounded_wait_naming_the_file(cnn_params):
    database, config = _study_with_history(cnn_params)
    cnn_params["tuning"]["lock_timeout_s"] = 1.5
    config = parse_family("cnn", cnn_params)
    locker = _lock(database, seconds=60)
    try:
        started = time.monotonic()
        with pytest.raises(StudyStorageError, match="is locked by another process") as raised:
            open_study(config)
        waited = time.monotonic() - started
    finally:
        locker.kill()
        locker.wait()
    assert str(database) in str(raised.value)
    assert "tuning.lock_timeout_s" in str(raised.value)
    assert waited < 30, f"the wait was not bounded by tuning.lock_timeout_s: {waited:.1f} s"
    assert [t.value for t in open_study(config).trials] == [0.5, 0.7]  # no damage


@pytest.mark.fault(7, "study database locked by another process: bounded wait, clear error, no damage")
def test_study_locked_briefly_is_waited_for_and_continues(cnn_params):
    database, _ = _study_with_history(cnn_params)
    cnn_params["tuning"]["lock_timeout_s"] = 30
    config = parse_family("cnn", cnn_params)
    locker = _lock(database, seconds=2)
    try:
        study = open_study(config)
    finally:
        locker.wait(timeout=60)
    assert [t.value for t in study.trials] == [0.5, 0.7]
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _damage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = b"\x13" * 100
    path.write_bytes(bytes(data))


def _truncate_to_empty(path: Path) -> None:
    path.write_bytes(b"")


def _damage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the header's
        data[start : start + page] = b"\xff" * min(page, len(data) - start)
    path.write_bytes(bytes(data))


@pytest.mark.fault(8, "study database corrupted: clear error naming the file, never a silent fresh study")
@pytest.mark.parametrize(
    "damage, expected",
    [
        (_damage_header, "is not an SQLite database"),
        (_truncate_to_empty, "is empty"),
        (_damage_pages, "is corrupted"),
    ],
    ids=["header", "truncated", "pages"],
)
def test_corrupted_study_is_refused_naming_the_file(cnn_params, fashion_splits, damage, expected):
    database, config = _study_with_history(cnn_params)
    damage(database)
    damaged = database.read_bytes()
    splits, info = fashion_splits
    with pytest.raises(StudyStorageError, match=expected) as raised:
        run_study(config, splits, info)
    assert f"tuning.storage_path: {database}" in str(raised.value)
    assert database.read_bytes() == damaged  # untouched: no fresh study written over it


@pytest.mark.fault(8, "study database corrupted: clear error naming the file, never a silent fresh study")
def test_a_foreign_database_is_not_turned_into_a_study(cnn_params, tmp_path):
    foreign = tmp_path / "mlflow.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE runs (id TEXT)")
    cnn_params["tuning"]["storage_path"] = str(foreign)
    with pytest.raises(StudyStorageError, match="not an Optuna study storage"):
        open_study(parse_family("cnn", cnn_params))


# --------------------------------------------------------------------------- determinism

DETERMINISTIC_RUN = textwrap.dedent(
    """
    import json, sys
    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.tuning.study import run_study
    from dlpipe.training.fit import fit_model

    params = json.loads(sys.argv[1])
    config = parse_family("cnn", params)
    splits, info = load_splits(config.dataset, config.seed)
    study = run_study(config, splits, info)
    _, history = fit_model(config, splits, info, epochs=2, callbacks=[])
    print("RESULT " + json.dumps({
        "trials": [[t.params, t.value, t.intermediate_values] for t in study.trials],
        "history": history,
    }))
    """
)


@pytest.mark.fault(15, "same seed twice in deterministic mode: same trial parameters, same metrics")
def test_same_seed_in_deterministic_mode_repeats_trials_and_metrics(cnn_params, tmp_path):
    cnn_params["deterministic"] = True
    cnn_params["tuning"].update(n_trials=3, sampler={"name": "tpe", "n_startup_trials": 2})
    results = []
    for attempt in ("first", "second"):
        params = json.loads(json.dumps(cnn_params))
        params["tuning"]["storage_path"] = str(tmp_path / f"{attempt}.db")
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISTIC_RUN, json.dumps(params)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
    first, second = results
    assert len(first["trials"]) == 3
    assert [t[0] for t in first["trials"]] == [t[0] for t in second["trials"]]  # sampled parameters
    assert first == second  # and every metric, bit for bit
