"""Kedro project settings for dlpipe."""

from kedro.config import OmegaConfigLoader

from dlpipe.hooks import ParameterValidationHooks

# Parameters are checked against their schemas as soon as the context exists: a typo or a bad value
# stops the run before any data is loaded and before kedro-mlflow opens a run.
HOOKS = (ParameterValidationHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment such as `smoke` overrides single keys (epochs, limits) and inherits the rest.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
