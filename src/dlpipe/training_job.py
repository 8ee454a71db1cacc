"""One MLflow run per multi-worker training job: the chief logs, the other workers do not.

A job's workers are separate ``kedro run`` processes (``dlpipe.launch`` starts them). Only the
chief (``dlpipe.training.cluster``) opens an MLflow run; it tags the run with the job's name
(``DLPIPE_TRAINING_JOB``), so when the launcher starts the job again after a worker died, the new
chief resumes that run and the job stays one run, its epochs logged once.
"""

from __future__ import annotations

import logging
import os

import mlflow

from dlpipe.training.cluster import JOB_ENV, JOB_TAG, ClusterRole
from dlpipe.worker_runs import training_job_role

logger = logging.getLogger(__name__)


def prepare_tracking(mlflow_config, run_params: dict, pipeline, catalog) -> ClusterRole | None:
    """Before kedro-mlflow opens this run's MLflow run: turn tracking off for a worker that is
    not the chief, and point the chief at its job's run when the job was started before.
    Returns this process's role in a multi-worker job, None outside one."""
    role = training_job_role(pipeline, catalog)
    if role is None:
        return None
    tracking = mlflow_config.tracking
    if not role.is_chief:
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        tracking.disable_tracking.pipelines = [*tracking.disable_tracking.pipelines, *names]
        logger.info("%s of a %d-worker job: the chief logs to MLflow", role.name, role.num_workers)
        return role
    job = os.environ.get(JOB_ENV)
    if job and tracking.run.id is None:
        runs = mlflow.search_runs(
            [tracking.experiment._experiment.experiment_id],  # noqa: SLF001 - kedro-mlflow keeps it there
            filter_string=f"tags.`{JOB_TAG}` = '{job}'",
            output_format="list",
            max_results=1,
        )
        if runs:
            tracking.run.id = runs[0].info.run_id
            logger.info("Training job %s continues its MLflow run %s", job, tracking.run.id)
    return role


def tag_job_run(role: ClusterRole | None) -> None:
    """On the chief, once its MLflow run is open: the job's name and its number of workers."""
    if role is None or not role.is_chief or mlflow.active_run() is None:
        return
    job = os.environ.get(JOB_ENV)
    if job:
        mlflow.set_tag(JOB_TAG, job)
    mlflow.log_param("distributed.num_workers", role.num_workers)
