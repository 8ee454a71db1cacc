"""The evaluation stage pipeline."""

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.evaluation.nodes import evaluate_model, export_model, plot_training_history


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                evaluate_model,
                inputs=["trained_model", "test_split", "data_spec", "params:config"],
                outputs=["test_metrics", "evaluation_report", "evaluation_figures"],
                name="evaluate_model",
            ),
            node(
                plot_training_history,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_history",
            ),
            node(export_model, inputs="trained_model", outputs="mlflow_model", name="export_model"),
        ]
    )
