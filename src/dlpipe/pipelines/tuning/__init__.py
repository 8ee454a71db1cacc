"""The tuning stage."""

from dlpipe.pipelines.tuning import pipeline  # noqa: F401
