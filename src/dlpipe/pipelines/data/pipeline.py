"""The data stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.data.nodes import load_dataset


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                load_dataset,
                inputs=["params:dataset", "params:seed"],
                outputs=["dataset_splits", "dataset_info", "test_split"],
                name="load_dataset",
            )
        ]
    )
