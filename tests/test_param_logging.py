"""Which parameter keys a run logs to MLflow (dlpipe.param_logging)."""

from dlpipe.param_logging import family_independent_inputs


def test_a_single_block_run_logs_its_keys_without_the_block_name_and_not_every_block():
    block = {"model": {"family": "cnn"}, "seed": 42}
    inputs = {"params:cnn": block, "parameters": {"cnn": block, "mlp": {"seed": 1}}, "dataset_splits": {}}
    logged = family_independent_inputs(inputs, {"cnn"})
    assert logged == {"params:pipeline": "cnn", "params:model": {"family": "cnn"}, "params:seed": 42}


def test_a_run_of_several_blocks_keeps_their_names_apart():
    inputs = {"params:cnn": {"seed": 42}}
    assert family_independent_inputs(inputs, {"cnn", "mlp"}) == inputs
