"""A parameter block's pipeline: the shared stages under the block's namespace."""

from kedro.pipeline import Pipeline

from dlpipe.pipelines import augmentation, data, evaluation, learning_curve, registry, training, tuning


def create_family_pipeline(block: str, *, with_learning_curve: bool = False) -> Pipeline:
    """Compose data → augmentation → tuning → training → evaluation → registry for the parameter
    ``block``, and the learning curve when the block enables it.

    Datasets are prefixed with the block's name (``cnn.trained_model``) and parameters read from
    the block (``params:cnn.training``); ``params:config`` is the whole block.
    """
    stages = (
        data.pipeline.create_pipeline()
        + augmentation.pipeline.create_pipeline()
        + tuning.pipeline.create_pipeline()
        + training.pipeline.create_pipeline()
        + evaluation.pipeline.create_pipeline()
        + registry.pipeline.create_pipeline(block)
    )
    if with_learning_curve:
        stages += learning_curve.pipeline.create_pipeline()
    return Pipeline(stages, namespace=block, parameters={"params:config": f"params:{block}"})
