"""The data stage."""

from dlpipe.pipelines.data import pipeline  # noqa: F401
