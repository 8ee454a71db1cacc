"""The learning-curve stage pipeline (in a block's pipeline when ``learning_curve.enabled``)."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.learning_curve.nodes import compute_learning_curve


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                compute_learning_curve,
                inputs=["dataset_splits", "data_spec", "augmentation_spec", "best_params", "params:config"],
                outputs=["learning_curve", "learning_curve_plot"],
                name="compute_learning_curve",
            )
        ]
    )
