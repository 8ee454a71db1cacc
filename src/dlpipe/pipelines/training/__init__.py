"""The training stage."""

from dlpipe.pipelines.training import pipeline  # noqa: F401
