"""Kedro hooks of dlpipe: fail fast on bad input, and leave nothing half-done behind a fault."""

from __future__ import annotations

import logging
import os
import socket

from kedro.framework.hooks import hook_impl

from dlpipe import run_scope
from dlpipe.config.schema import validate_parameters
from dlpipe.http_probe import NoAnswer, http_status
from dlpipe.interrupts import RunTerminated, install_sigterm_handler, termination_requested
from dlpipe.processes import process_alive, process_start
from dlpipe.tracking_store import create_store_from_template
from dlpipe.training.cluster import MULTI_WORKER, worker_folder
from dlpipe.tuning.storage import share_storage_credentials
from dlpipe.worker_runs import check_training_workers, check_worker_runs, training_job_role

logger = logging.getLogger(__name__)

PID_TAG = "dlpipe.pid"
HOST_TAG = "dlpipe.host"
# When that process started: a pid is reused by later processes, the pair is not.
PROCESS_START_TAG = "dlpipe.process_start"
# Seconds to wait for a remote tracking server's /health before refusing to start.
PROBE_TIMEOUT_S = float(os.environ.get("DLPIPE_TRACKING_PROBE_TIMEOUT_S", "5"))


class TrackingUnavailableError(RuntimeError):
    """The configured MLflow tracking server does not answer."""


class ParameterValidationHooks:
    """Validates every parameter group against its schema when the Kedro context is created.

    This is the earliest hook of a run, and it runs before kedro-mlflow's: a bad value fails it
    before the catalog is used, before any node runs and before a tracking store or run is
    created, so nothing is trained and no run is left behind.
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        params = context.params
        validate_parameters(params)
        share_storage_credentials(params, lambda: _credentials(context))
        logger.info("Parameters validated for families: %s", ", ".join(sorted(params)))

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        check_worker_runs(pipeline, catalog)
        check_training_workers(pipeline, catalog)


def _credentials(context) -> dict:
    from kedro.config import MissingConfigException

    try:
        return context.config_loader["credentials"]
    except MissingConfigException:
        return {}


class TrackingPreflightHooks:
    """Checks that a remote MLflow tracking server answers before anything else contacts it, and
    creates a new local SQLite store from the empty one (``dlpipe.tracking_store``).

    MLflow's client would otherwise retry for minutes before failing. Local stores (``sqlite:``,
    files) need no check.
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        try:
            server = context.config_loader["mlflow"].get("server", {})
        except Exception:  # noqa: BLE001 - no mlflow.yml: kedro-mlflow's defaults, a local store
            return
        uri = server.get("mlflow_tracking_uri") or ""
        if uri.startswith(("http://", "https://")):
            check_tracking_server(uri, timeout_s=PROBE_TIMEOUT_S)
        else:
            create_store_from_template(uri)


def check_tracking_server(uri: str, *, timeout_s: float) -> None:
    """Raise ``TrackingUnavailableError`` unless ``uri``/health answers within ``timeout_s``."""
    url = uri.rstrip("/") + "/health"
    try:
        status = http_status(url, timeout_s)
    except NoAnswer as err:
        raise TrackingUnavailableError(
            f"server.mlflow_tracking_uri: the MLflow tracking server {uri} does not answer ({err}; "
            f"checked {url} with a {timeout_s:g} s timeout). Start it, fix the URI in "
            "conf/<env>/mlflow.yml, or use a local store such as sqlite:///mlflow.db. Nothing has run yet."
        ) from err
    if status >= 500:
        raise TrackingUnavailableError(
            f"server.mlflow_tracking_uri: the MLflow tracking server {uri} answers {url} with HTTP "
            f"{status}. Nothing has run yet."
        )


def _backup_dirs(pipeline, catalog) -> list[str]:
    """``training.backup_dir`` of every family with a node in ``pipeline`` (this worker's own in a
    multi-worker job)."""
    families = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
    found = []
    role = training_job_role(pipeline, catalog)
    for family in sorted(families):
        try:
            training = catalog.load(f"params:{family}")["training"]
            in_job = training.get("strategy") == MULTI_WORKER  # most blocks leave the default
            found.append(worker_folder(training["backup_dir"], role if in_job else None))
        except Exception:  # noqa: BLE001, S112 - a family without training has no backup
            continue
    return found


class RunLifecycleHooks:
    """Makes a killed or terminated run visible in MLflow instead of leaving it RUNNING, and lets a
    failed run be finished by running the same command again.

    - SIGTERM raises ``RunTerminated`` (see ``dlpipe.interrupts``); the run is then closed as
      KILLED rather than FAILED.
    - Each run is tagged with its process id and host; a later run on the same host closes, as
      KILLED, the runs (and their nested trial runs) whose process died without closing them
      (SIGKILL, power loss).
    - Tuning sessions are closed, and a finished training's backup deleted, only when the whole
      run succeeds (see ``dlpipe.run_scope``).
    """

    def __init__(self):
        self.run_id: str | None = None

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow

        from dlpipe.run_presentation import present_pipeline_run

        install_sigterm_handler()
        run_scope.begin()
        self.run_id = None  # one hook object serves every run of the process
        active = mlflow.active_run()
        if active is None:
            return
        self.run_id = active.info.run_id
        try:
            tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
            started = process_start(os.getpid())
            if started is not None:
                tags[PROCESS_START_TAG] = started
            mlflow.set_tags(tags)
            present_pipeline_run(run_params, self.run_id, active.info.experiment_id)
            close_abandoned_runs(active.info.experiment_id, current_run_id=self.run_id)
        except RunTerminated:
            raise
        except Exception as err:  # noqa: BLE001 - bookkeeping of old runs must not stop this one
            logger.warning("Could not check for runs left open by killed processes: %s", err)

    @hook_impl
    def after_node_run(self, node) -> None:
        # A SIGTERM swallowed by some library's error handling still stops the run here.
        if termination_requested():
            raise RunTerminated(f"Stopping after node {node.name}: {termination_requested()}")

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        from dlpipe.training.callbacks import discard_finished_training

        run_scope.end(succeeded=True)
        # The run saved its outputs: a finished training kept from an earlier failed run of these
        # families (resumed here with --from-nodes past training) is no longer needed either.
        for backup_dir in _backup_dirs(pipeline, catalog):
            discard_finished_training(backup_dir)
        if self.run_id is not None:
            from dlpipe.run_summary import print_run_summary

            try:
                print_run_summary(self.run_id)
            except Exception as err:  # noqa: BLE001 - a summary must not fail a finished run
                logger.warning("Could not print the run's summary: %s", err)

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        # The tuning sessions stay open: re-running the command resumes, it does not re-tune; and
        # a finished training stays, so the rerun reuses the trained model.
        run_scope.end(succeeded=False)
        # Runs after kedro-mlflow closed the run as FAILED; a SIGTERM is recorded as KILLED.
        if self.run_id is None or not (isinstance(error, RunTerminated) or termination_requested()):
            return
        import mlflow

        try:
            mlflow.MlflowClient().set_terminated(self.run_id, "KILLED")
            logger.warning("MLflow run %s recorded as KILLED (%s)", self.run_id, termination_requested())
        except Exception as err:  # noqa: BLE001
            logger.warning("Could not mark MLflow run %s as KILLED: %s", self.run_id, err)


def close_abandoned_runs(experiment_id: str, *, current_run_id: str | None = None) -> list[str]:
    """Close as KILLED the RUNNING runs of this host whose process is gone, and their nested runs.

    Returns the ids of the runs it closed.
    """
    import mlflow

    client = mlflow.MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    host = socket.gethostname()
    abandoned = {
        run.info.run_id
        for run in running
        if run.info.run_id != current_run_id
        and run.data.tags.get(HOST_TAG) == host
        and run.data.tags.get(PID_TAG, "").isdigit()
        and not process_alive(int(run.data.tags[PID_TAG]), run.data.tags.get(PROCESS_START_TAG))
    }
    children = {run.info.run_id for run in running if run.data.tags.get("mlflow.parentRunId") in abandoned}
    for run_id in sorted(abandoned | children):
        client.set_tag(run_id, "dlpipe.closed_by", "a later run: its process had died")
        if run_id in children:
            client.set_tag(run_id, "optuna.state", "FAIL")
        client.set_terminated(run_id, "KILLED")
        logger.warning("MLflow run %s was left RUNNING by a process that died: recorded as KILLED", run_id)
    return sorted(abandoned | children)
