"""Kedro project settings for dlpipe."""

from kedro.config import OmegaConfigLoader

from dlpipe.hooks import ParameterValidationHooks, RunLifecycleHooks, TrackingPreflightHooks
from dlpipe.param_logging import FamilyIndependentMlflowHook

# Parameters are checked against their schemas as soon as the context exists, then a remote
# tracking server is probed: a typo, a bad value or an unreachable server stops the run before any
# data is loaded and before kedro-mlflow opens a run. (Among hooks of equal priority the one
# registered last runs first: validation comes before the probe.)
# kedro-mlflow's hook runs as dlpipe's subclass, which logs parameters under family-independent
# keys (see dlpipe.param_logging). It comes last so that it still runs first among hooks of equal
# priority (it opens and closes the MLflow run), as kedro-mlflow's own plugin hook did.
HOOKS = (
    TrackingPreflightHooks(),
    ParameterValidationHooks(),
    RunLifecycleHooks(),
    FamilyIndependentMlflowHook(),
)
# Kedro matches the distribution's name as its metadata spells it (kedro_mlflow, in this version).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment such as `smoke` overrides single keys (epochs, limits) and inherits the rest.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
