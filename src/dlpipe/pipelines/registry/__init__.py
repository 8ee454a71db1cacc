"""The registry stage: log the trained model to MLflow, register it, gate the champion alias."""

from dlpipe.pipelines.registry import pipeline  # noqa: F401
