"""The MLflow runs of a study's trials, after an interruption: closed, and kept under one run."""

from __future__ import annotations

import logging

import mlflow

from dlpipe.interrupts import RunTerminated

logger = logging.getLogger(__name__)

SESSION_TAG = "dlpipe.tuning_session"  # the tuning session a trial run belongs to


def fail_stale_trial_runs(parent_run_id: str, study_name: str) -> None:
    """Close MLflow trial runs that an interrupted tuning run left RUNNING (status FAILED)."""
    client = mlflow.MlflowClient()
    try:
        experiment_id = client.get_run(parent_run_id).info.experiment_id
        stale = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`optuna.study_name` = '{study_name}' and attributes.status = 'RUNNING'",
        )
        for run in stale:
            client.set_tag(run.info.run_id, "optuna.state", "FAIL")
            client.set_terminated(run.info.run_id, "FAILED")
            logger.warning("Trial run %s was left running by an interrupted run: FAILED", run.info.run_name)
    except RunTerminated:
        raise
    except Exception as err:  # noqa: BLE001 - cleaning up old runs must not stop tuning
        logger.warning("Could not close stale MLflow trial runs: %s", err)


def adopt_session_trial_runs(parent_run_id: str, session: str) -> None:
    """Move under ``parent_run_id`` the trial runs of tuning session ``session`` that interrupted
    (FAILED or KILLED) runs made, so the run that completes the session holds all its trials.

    The runs they leave are tagged ``dlpipe.continued_by``, the adopting run ``dlpipe.continues``.
    """
    client = mlflow.MlflowClient()
    try:
        experiment_id = client.get_run(parent_run_id).info.experiment_id
        in_session = f"tags.`{SESSION_TAG}` = '{session}'"
        session_runs = client.search_runs([experiment_id], filter_string=in_session)
        earlier: dict[str, list[str]] = {}
        for run in session_runs:
            parent = run.data.tags.get("mlflow.parentRunId")
            if parent not in (None, parent_run_id):
                earlier.setdefault(parent, []).append(run.info.run_id)
        adopted = []
        for parent, runs in earlier.items():
            if client.get_run(parent).info.status not in ("FAILED", "KILLED"):
                continue  # a live or finished run keeps its trials
            for run_id in runs:
                client.set_tag(run_id, "mlflow.parentRunId", parent_run_id)
            client.set_tag(parent, "dlpipe.continued_by", parent_run_id)
            adopted.append(parent)
            logger.info("%d trial run(s) of interrupted run %s moved under this run", len(runs), parent)
        if adopted:
            client.set_tag(parent_run_id, "dlpipe.continues", ",".join(sorted(adopted)))
    except RunTerminated:
        raise
    except Exception as err:  # noqa: BLE001 - tidying the run tree must not stop tuning
        logger.warning("Could not move the trial runs of interrupted runs under this run: %s", err)
