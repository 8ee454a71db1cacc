"""The evaluation stage."""

from dlpipe.pipelines.evaluation import pipeline  # noqa: F401
