"""The training stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.training.nodes import train_model


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                train_model,
                inputs=[
                    "dataset_splits",
                    "data_spec",
                    "augmentation_spec",
                    "best_params",
                    "params:config",
                ],
                outputs=["trained_model", "training_history"],
                name="train_model",
            )
        ]
    )
