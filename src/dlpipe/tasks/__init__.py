"""Tasks: what a family's model learns to do, and how it is fed, monitored and evaluated.

Each module of this package defines task classes; ``get_task(name)`` returns an instance.
"""

from __future__ import annotations

from dlpipe.tasks.base import Evaluation, Task
from dlpipe.tasks.classification import Classification
from dlpipe.tasks.generation import Generation
from dlpipe.tasks.reconstruction import Reconstruction
from dlpipe.tasks.regression import Regression
from dlpipe.tasks.seq2seq import SequenceToSequence

TASKS: dict[str, Task] = {
    task.name: task
    for task in (Classification(), Regression(), Reconstruction(), Generation(), SequenceToSequence())
}


def get_task(name: str) -> Task:
    """The task registered as ``name``; KeyError lists the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}") from None


__all__ = ["Evaluation", "Task", "get_task", "TASKS"]
