"""The evaluation stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.evaluation.nodes import evaluate_model, plot_training_history


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                evaluate_model,
                inputs=["trained_model", "test_split", "data_spec", "training_history", "params:config"],
                outputs=["test_metrics", "test_scores", "evaluation_report", "evaluation_figures"],
                name="evaluate_model",
            ),
            node(
                plot_training_history,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_history",
            ),
        ]
    )
