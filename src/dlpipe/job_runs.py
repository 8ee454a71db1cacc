"""Processes of one job share one MLflow run.

A job is several Kedro runs that make one result: the workers of a multi-worker training job
(``dlpipe.launch``), or the tasks of one Airflow DAG run, each a Kedro run of one node
(``conf/airflow/dag_template.j2``). Each process has ``DLPIPE_JOB`` set to the job's name. The first to
open an MLflow run tags it with that name (``dlpipe.job``); the others, and a job started again
after a failure, continue that run, so its epochs and metrics are logged once. In a multi-worker
job only the chief tracks.
"""

from __future__ import annotations

import logging
import os

import mlflow

from dlpipe.training.cluster import ClusterRole
from dlpipe.worker_runs import training_job_role

logger = logging.getLogger(__name__)

# The job's name, the same in every process of the job and kept when it is started again.
JOB_ENV = "DLPIPE_JOB"
# The MLflow tag that finds the job's run.
JOB_TAG = "dlpipe.job"


def job_name() -> str:
    """This process's job, from ``DLPIPE_JOB``; empty outside one. Quotes are dropped: the name is
    matched in an MLflow search filter."""
    return os.environ.get(JOB_ENV, "").replace("'", "").replace('"', "").strip()


def prepare_tracking(mlflow_hook, run_params: dict, pipeline, catalog) -> ClusterRole | None:
    """Before kedro-mlflow's hook (``mlflow_hook``) opens this run's MLflow run: turn tracking
    off for a worker of a multi-worker job that is not the chief, and point any other process of
    a job at the job's run when one exists. Returns this process's role in a multi-worker job,
    None outside one."""
    job = job_name()
    if not job and "TF_CONFIG" not in os.environ:
        return None  # a run of its own
    role = training_job_role(pipeline, catalog)
    tracking = mlflow_hook.mlflow_config.tracking
    if role is not None and not role.is_chief:
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        tracking.disable_tracking.pipelines = [*tracking.disable_tracking.pipelines, *names]
        logger.info("%s of a %d-worker job: the chief logs to MLflow", role.name, role.num_workers)
        return role
    if job and tracking.run.id is None:
        runs = mlflow.search_runs(
            [tracking.experiment._experiment.experiment_id],  # noqa: SLF001 - kedro-mlflow keeps it there
            filter_string=f"tags.`{JOB_TAG}` = '{job}'",
            output_format="list",
            max_results=1,
        )
        if runs:
            tracking.run.id = runs[0].info.run_id
            logger.info("Job %s continues its MLflow run %s", job, tracking.run.id)
    return role


def tag_job_run(role: ClusterRole | None) -> None:
    """Once this process's MLflow run is open: the job's name, and a multi-worker job's number
    of workers."""
    if mlflow.active_run() is None:
        return
    job = job_name()
    if job:
        mlflow.set_tag(JOB_TAG, job)
    if role is not None:
        mlflow.log_param("distributed.num_workers", role.num_workers)
