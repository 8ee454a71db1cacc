"""Which parameter keys a run logs to MLflow (dlpipe.param_logging)."""

import pytest

from dlpipe.param_logging import family_independent_inputs


def test_a_single_block_run_logs_its_keys_without_the_block_name_and_not_every_block():
    block = {"model": {"family": "cnn"}, "seed": 42}
    inputs = {"params:cnn": block, "parameters": {"cnn": block, "mlp": {"seed": 1}}, "dataset_splits": {}}
    logged = family_independent_inputs(inputs, {"cnn"})
    assert logged == {"params:pipeline": "cnn", "params:model": {"family": "cnn"}, "params:seed": 42}


def test_a_run_of_several_blocks_keeps_their_names_apart():
    inputs = {"params:cnn": {"seed": 42}}
    assert family_independent_inputs(inputs, {"cnn", "mlp"}) == inputs


def test_each_parameter_input_is_logged_once_per_run(monkeypatch):
    from types import SimpleNamespace

    from kedro_mlflow.framework.hooks import MlflowHook

    from dlpipe.param_logging import FamilyIndependentMlflowHook

    logged = []
    monkeypatch.setattr(MlflowHook, "before_pipeline_run", lambda self, **kwargs: None)
    monkeypatch.setattr(MlflowHook, "before_node_run", lambda self, **kwargs: logged.append(kwargs["inputs"]))
    hook = FamilyIndependentMlflowHook()
    pipeline = SimpleNamespace(nodes=[SimpleNamespace(namespace="cnn.training")])
    node_inputs = {"params:cnn": {"seed": 1}, "cnn.dataset_splits": object()}
    for _ in range(2):  # two runs in one process
        hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=None)
        for _ in range(3):  # three nodes reading the same block
            hook.before_node_run(node=None, catalog=None, inputs=node_inputs, is_async=False)
    first = {"params:pipeline": "cnn", "params:seed": 1}
    assert logged == [first, {}, {}, first, {}, {}]


def test_a_nodes_parameters_are_logged_in_one_batch_and_long_values_as_kedro_mlflow_says(monkeypatch):
    import mlflow
    from kedro_mlflow.framework.hooks import MlflowHook
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    from dlpipe.param_logging import FamilyIndependentMlflowHook

    long_value = "x" * (MAX_PARAM_VAL_LENGTH + 1)

    def kedro_mlflow_logging(self, **kwargs):
        for name, value in kwargs["inputs"].items():
            self._log_param(name, value)

    batches, one_by_one = [], []
    monkeypatch.setattr(MlflowHook, "before_node_run", kedro_mlflow_logging)
    monkeypatch.setattr(MlflowHook, "_log_param", lambda self, name, value: one_by_one.append(name))
    monkeypatch.setattr(mlflow, "log_params", batches.append)
    hook = FamilyIndependentMlflowHook()
    inputs = {"params:model.units": 64, "params:seed": 1, "params:notes": long_value}
    hook.before_node_run(node=None, catalog=None, inputs=inputs, is_async=False)

    assert batches == [{"params:model.units": 64, "params:seed": 1}]
    assert one_by_one == ["params:notes"]
    hook._log_param("later", 2)  # outside a node's logging: kedro-mlflow's own path
    assert one_by_one == ["params:notes", "later"]


def test_a_process_that_loses_the_race_to_create_the_experiment_goes_on(monkeypatch):
    import mlflow
    from kedro_mlflow.framework.hooks import MlflowHook

    from dlpipe.param_logging import FamilyIndependentMlflowHook

    attempts = []

    def create_experiment_once(self, context):
        attempts.append(context)
        if len(attempts) == 1:  # another process created it between the lookup and the creation
            raise mlflow.exceptions.MlflowException("Experiment(name=dlpipe) already exists.")

    monkeypatch.setattr(MlflowHook, "after_context_created", create_experiment_once)
    FamilyIndependentMlflowHook().after_context_created("context")
    assert attempts == ["context", "context"]

    monkeypatch.setattr(MlflowHook, "after_context_created", lambda self, context: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # any other failure is not hidden
        FamilyIndependentMlflowHook().after_context_created("context")
