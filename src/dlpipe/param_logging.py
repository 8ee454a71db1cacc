"""Parameters in MLflow under keys that mean the same thing in every family's runs."""

from __future__ import annotations

from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks import MlflowHook
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from dlpipe.job_runs import prepare_tracking, tag_job_run

PIPELINE_PARAM = "pipeline"


def family_independent_inputs(inputs: dict[str, Any], namespaces: set[str]) -> dict[str, Any]:
    """The parameter inputs of a node as they should be logged.

    A node of pipeline ``cnn`` reads its block as ``params:cnn``: its keys are logged without the
    block's name (``model.conv.filters``, not ``cnn.model.conv.filters``), next to
    ``pipeline: cnn``, so that runs of different families line up in MLflow's compare view. That
    holds when the run has one block (``namespaces``); with several, the names keep them apart.
    ``parameters`` (every block of the project, which a data node reads) is not logged: a run
    logs its own blocks only.
    """
    logged: dict[str, Any] = {}
    for name, value in inputs.items():
        if not name.startswith("params:"):
            continue  # datasets, and `parameters`: every block's
        block = name.removeprefix("params:")
        if len(namespaces) == 1 and block in namespaces and isinstance(value, dict):
            logged[f"params:{PIPELINE_PARAM}"] = block
            logged.update({f"params:{key}": item for key, item in value.items()})
        else:
            logged[name] = value
    return logged


class FamilyIndependentMlflowHook(MlflowHook):
    """kedro-mlflow's hook, logging parameters by ``family_independent_inputs``, each parameter
    input once per run (every node of a block reads the same ``params:<block>``, and kedro-mlflow
    would log its hundred keys again before every node), and a node's parameters in one batch
    instead of one database write each; settings.py registers it in place of kedro-mlflow's own.
    Two processes that create the run's experiment at once both go on. In a multi-worker training
    job only the chief logs, to its job's one run (``dlpipe.job_runs``)."""

    def __init__(self):
        super().__init__()
        self._namespaces: set[str] = set()
        self._logged: set[str] = set()
        self._batch: dict[str, Any] | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            super().after_context_created(context)
        except mlflow.exceptions.MlflowException as err:
            # Processes that start together on a new store (a tuning worker and the run it joins)
            # may both create the experiment; the one that loses the race finds it made.
            if "already exists" not in str(err):
                raise
            super().after_context_created(context)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._namespaces = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        self._logged = set()
        role = prepare_tracking(self, run_params, pipeline, catalog)
        super().before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        tag_job_run(role)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        logged = family_independent_inputs(inputs, self._namespaces)
        fresh = {name: value for name, value in logged.items() if name not in self._logged}
        self._logged.update(fresh)
        self._batch = {}
        try:
            super().before_node_run(node=node, catalog=catalog, inputs=fresh, is_async=is_async)
            if self._batch:
                mlflow.log_params(self._batch)
        finally:
            self._batch = None

    def _log_param(self, name: str, value: Any) -> None:
        # kedro-mlflow's choice for values too long for a parameter (a tag, by mlflow.yml) stays.
        if self._batch is None or len(str(value)) > MAX_PARAM_VAL_LENGTH:
            super()._log_param(name, value)
        else:
            self._batch[name] = value
