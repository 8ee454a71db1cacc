"""A model family's pipeline: the shared stages under the family's namespace."""

from kedro.pipeline import Pipeline

from dlpipe.pipelines import augmentation, data, evaluation, training, tuning


def create_family_pipeline(family: str) -> Pipeline:
    """Compose data → augmentation → tuning → training → evaluation for ``family``.

    Datasets are prefixed with the family (``cnn.trained_model``) and parameters read from the
    family's block (``params:cnn.training``); ``params:config`` is the whole block.
    """
    stages = (
        data.pipeline.create_pipeline()
        + augmentation.pipeline.create_pipeline()
        + tuning.pipeline.create_pipeline()
        + training.pipeline.create_pipeline()
        + evaluation.pipeline.create_pipeline()
    )
    return Pipeline(stages, namespace=family, parameters={"params:config": f"params:{family}"})
