"""An experiment block's pipeline (``experiment_<name>``): its arms' fits, then the verdict."""

import functools

from kedro.pipeline import Pipeline, node

from dlpipe.pipelines.experiment.nodes import judge_claim, train_arms


def create_pipeline(block: str) -> Pipeline:
    """The two nodes of experiment ``block``, its datasets prefixed with the block's name."""
    stages = Pipeline(
        [
            node(
                _with_block(train_arms, block),
                inputs=["params:config", "parameters"],
                outputs="experiment_fits",
                name="train_arms",
            ),
            node(
                _with_block(judge_claim, block),
                inputs=["experiment_fits", "params:config"],
                outputs=["experiment_verdict", "experiment_figure", "experiment_table"],
                name="judge_claim",
            ),
        ]
    )
    return Pipeline(stages, namespace=block, parameters={"params:config": f"params:{block}"})


def _with_block(function, block: str):
    """``function`` with its ``block`` argument bound, keeping its name and docstring for kedro-viz."""
    bound = functools.partial(function, block=block)
    functools.update_wrapper(bound, function)
    return bound
