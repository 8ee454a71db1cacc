"""This process's place in a multi-worker training job, read from ``TF_CONFIG``.

``TF_CONFIG`` is TensorFlow's own description of a cluster: ``{"cluster": {"worker": [host:port,
...]}, "task": {"type": "worker", "index": i}}``. The chief is the ``chief`` task when the
cluster names one, otherwise worker 0; it alone logs to MLflow and writes the checkpoint and the
model (see ``dlpipe.launch``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dlpipe.config.common import ConfigError

MULTI_WORKER = "multi_worker_mirrored"


@dataclass(frozen=True)
class ClusterRole:
    """Where this process stands in its cluster: its task, the number of tasks, and whether it
    is the chief."""

    task_type: str
    index: int
    num_workers: int
    is_chief: bool

    @property
    def name(self) -> str:
        """``worker-1``, ``chief-0``: unique within the cluster, safe in a file name."""
        return f"{self.task_type}-{self.index}"


def cluster_role(environ: Mapping[str, str] = os.environ) -> ClusterRole | None:
    """This process's role from ``TF_CONFIG``; None when it is not set.

    Raises:
        ConfigError: ``TF_CONFIG`` is not JSON, or lacks the cluster or the task, or names a task
            that is not in the cluster.
    """
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    expected = (
        'expected JSON such as {"cluster": {"worker": ["host:port", ...]}, '
        '"task": {"type": "worker", "index": 0}} (`python -m dlpipe.launch` writes it)'
    )
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        tasks = {kind: list(addresses) for kind, addresses in cluster.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"TF_CONFIG: cannot read {text[:200]!r} ({err}); {expected}") from None
    if not 0 <= index < len(tasks.get(task_type, [])):
        raise ConfigError(f"TF_CONFIG: task {task_type!r} {index} is not in the cluster {tasks}; {expected}")
    num_workers = sum(len(tasks.get(kind, [])) for kind in ("chief", "worker"))
    is_chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in tasks)
    return ClusterRole(task_type, index, num_workers, is_chief)


def worker_folder(folder: str | Path, role: ClusterRole | None) -> str:
    """``folder`` for one process, ``folder/<role name>`` for a worker of a cluster: every worker
    keeps its own backups (a folder they share fails on the HDF5 file lock)."""
    return str(folder) if role is None else str(Path(folder) / role.name)


def weights_digest(weights) -> str:
    """A short digest of a model's weights (``model.get_weights()``): the workers of a job log it
    at the end of training, and equal digests show they ended in step."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]
