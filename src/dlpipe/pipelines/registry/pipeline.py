"""The registry stage pipeline."""

import functools

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.registry.nodes import log_model, register_model


def create_pipeline(block: str) -> Pipeline:
    """Log block ``block``'s trained model, then register it as ``dlpipe-<block>`` (by default)."""
    register = functools.update_wrapper(functools.partial(register_model, pipeline=block), register_model)
    return Pipeline(
        [
            node(
                log_model,
                inputs=[
                    "trained_model",
                    "test_split",
                    "data_spec",
                    "training_history",
                    "test_scores",
                    "params:config",
                ],
                outputs="logged_model",
                name="log_model",
            ),
            node(
                register,
                inputs=["logged_model", "test_scores", "test_split", "data_spec", "params:config"],
                outputs="registry_decision",
                name="register_model",
            ),
        ]
    )
