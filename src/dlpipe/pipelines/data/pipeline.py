"""The data stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.data.nodes import load_dataset


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                load_dataset,
                inputs=["params:config", "parameters"],
                outputs=["dataset_splits", "data_spec", "test_split"],
                name="load_dataset",
            )
        ]
    )
