"""The learning-curve stage."""

from dlpipe.pipelines.learning_curve import pipeline  # noqa: F401
