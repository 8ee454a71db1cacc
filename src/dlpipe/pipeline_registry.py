"""Project pipelines: one per model family, each a composition of the shared stages."""

from kedro.pipeline import Pipeline

from dlpipe.config.schema import FAMILIES
from dlpipe.pipelines.family import create_family_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register ``cnn``, ``mlp`` (and ``__default__`` = ``cnn``)."""
    pipelines = {family: create_family_pipeline(family) for family in FAMILIES}
    pipelines["__default__"] = pipelines["cnn"]
    return pipelines
