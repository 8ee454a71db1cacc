"""Trial runs after an interruption: the run completing a tuning session adopts its trials only."""

from __future__ import annotations

import mlflow
import pytest

from dlpipe.tuning.trial_runs import SESSION_TAG, adopt_session_trial_runs


@pytest.fixture
def client(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def _parent_with_trials(client, experiment_id, status, session, trials=2):
    parent = client.create_run(experiment_id).info.run_id
    tags = {"mlflow.parentRunId": parent, SESSION_TAG: session, "optuna.study_name": "cnn"}
    children = [client.create_run(experiment_id, tags=tags).info.run_id for _ in range(trials)]
    client.set_terminated(parent, status)
    return parent, children


def test_only_the_sessions_trials_of_interrupted_runs_move_under_the_completing_run(client):
    experiment_id = client.create_experiment("trial-runs")
    killed, killed_trials = _parent_with_trials(client, experiment_id, "KILLED", "session-1")
    failed, failed_trials = _parent_with_trials(client, experiment_id, "FAILED", "session-1", trials=1)
    finished, finished_trials = _parent_with_trials(client, experiment_id, "FINISHED", "session-1")
    # Another study of the same name (a smoke run's, say) in another session.
    other, other_trials = _parent_with_trials(client, experiment_id, "KILLED", "session-2")
    completing = client.create_run(experiment_id).info.run_id

    adopt_session_trial_runs(completing, "session-1")

    def parent_of(run_id):
        return client.get_run(run_id).data.tags["mlflow.parentRunId"]

    assert {parent_of(r) for r in killed_trials + failed_trials} == {completing}
    assert {parent_of(r) for r in finished_trials} == {finished}
    assert {parent_of(r) for r in other_trials} == {other}
    assert client.get_run(killed).data.tags["dlpipe.continued_by"] == completing
    assert "dlpipe.continued_by" not in client.get_run(other).data.tags
    assert client.get_run(completing).data.tags["dlpipe.continues"] == ",".join(sorted([killed, failed]))
