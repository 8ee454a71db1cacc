"""Runs a generated Airflow DAG file without Airflow: ``python airflow_stub.py DAG_FILE describe``
prints its tasks and dependencies as JSON; ``... run RUN_ID`` runs its tasks in dependency order,
each a Kedro run, as Airflow's workers would (the first failure stops it, exit code 1).

It stands in for the three names dlpipe's DAG template takes from ``airflow.sdk``: ``dag``,
``task`` and ``get_current_context``.
"""

from __future__ import annotations

import graphlib
import json
import runpy
import sys
import types
from dataclasses import dataclass, field


@dataclass
class Task:
    task_id: str
    function: object
    upstream: set[str] = field(default_factory=set)

    def __rshift__(self, other: Task) -> Task:
        other.upstream.add(self.task_id)
        return other


TASKS: dict[str, Task] = {}
DAGS: list[str] = []
CONTEXT: dict = {}


def dag(dag_id: str, **_settings):
    def decorate(function):
        def build():
            DAGS.append(dag_id)
            function()

        return build

    return decorate


def task(task_id: str):
    def decorate(function):
        def instantiate():
            TASKS[task_id] = Task(task_id, function)
            return TASKS[task_id]

        return instantiate

    return decorate


def main() -> int:
    sdk = types.ModuleType("airflow.sdk")
    sdk.dag, sdk.task, sdk.get_current_context = dag, task, lambda: CONTEXT
    sys.modules["airflow"] = types.ModuleType("airflow")
    sys.modules["airflow.sdk"] = sdk
    dag_file, mode = sys.argv[1], sys.argv[2]
    runpy.run_path(dag_file)
    if mode == "describe":
        described = {"dags": DAGS, "tasks": {t.task_id: sorted(t.upstream) for t in TASKS.values()}}
        print(json.dumps(described))
        return 0
    CONTEXT["dag_run"] = types.SimpleNamespace(dag_id=DAGS[0], run_id=sys.argv[3])
    order = graphlib.TopologicalSorter({t.task_id: t.upstream for t in TASKS.values()}).static_order()
    for task_id in order:
        print(f"airflow_stub: running {task_id}", flush=True)
        try:
            TASKS[task_id].function()
        except Exception as err:  # noqa: BLE001 - reported as Airflow would, by the task's name
            print(f"airflow_stub: task {task_id} failed: {type(err).__name__}: {err}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
