"""The tuning stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.tuning.nodes import plot_tuning_results, tune_hyperparameters


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                tune_hyperparameters,
                inputs=["dataset_splits", "data_spec", "augmentation_spec", "params:config"],
                outputs=["best_params", "tuning_trials"],
                name="tune_hyperparameters",
            ),
            node(
                plot_tuning_results,
                inputs=["tuning_trials", "params:config"],
                outputs=[
                    "optimization_history_plot",
                    "parameter_importance_plot",
                    "parallel_coordinate_plot",
                    "slice_plot",
                    "contour_plot",
                ],
                name="plot_tuning_results",
            ),
        ]
    )
