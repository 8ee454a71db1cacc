"""Kedro project settings for dlpipe."""

from kedro.config import OmegaConfigLoader

from dlpipe.hooks import ParameterValidationHooks, RunLifecycleHooks, TrackingPreflightHooks

# Parameters are checked against their schemas as soon as the context exists, then a remote
# tracking server is probed: a typo, a bad value or an unreachable server stops the run before any
# data is loaded and before kedro-mlflow opens a run. (Among hooks of equal priority the one
# registered last runs first: validation comes before the probe.)
HOOKS = (TrackingPreflightHooks(), ParameterValidationHooks(), RunLifecycleHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment such as `smoke` overrides single keys (epochs, limits) and inherits the rest.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
