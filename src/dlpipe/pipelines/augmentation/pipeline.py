"""The augmentation stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.augmentation.nodes import prepare_augmentation, render_augmentation_samples


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                prepare_augmentation,
                inputs=["params:config", "data_spec"],
                outputs="augmentation_spec",
                name="prepare_augmentation",
            ),
            node(
                render_augmentation_samples,
                inputs=[
                    "dataset_splits",
                    "data_spec",
                    "augmentation_spec",
                    "params:config",
                ],
                outputs="augmentation_samples",
                name="render_augmentation_samples",
            ),
        ]
    )
