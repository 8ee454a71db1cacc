"""The experiment pipeline: train an experiment's arms, then judge its claim."""

from dlpipe.pipelines.experiment import pipeline  # noqa: F401
