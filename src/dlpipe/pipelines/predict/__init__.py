"""Batch prediction: a logged or saved model's predictions for inputs read from the catalog."""

from dlpipe.pipelines.predict import pipeline  # noqa: F401
