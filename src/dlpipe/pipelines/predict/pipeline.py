"""The batch prediction pipeline: ``kedro run --pipelines=predict``."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.predict.nodes import predict_batch


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                predict_batch,
                inputs=["predict.inputs", "params:predict"],
                outputs="predict.predictions",
                name="predict_batch",
            )
        ]
    )
