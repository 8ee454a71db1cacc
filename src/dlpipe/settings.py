"""Kedro project settings for dlpipe."""

import atexit
import gc

from dlpipe.config_loader import MemoizedConfigLoader
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
# At exit, after the exit handlers registered later (TensorFlow's, MLflow's; they run last-in
# first-out), the garbage collector stops tracking what exists: the interpreter's final collections
# over TensorFlow's heap of traced graphs took 2.4 s of a 20 s smoke run on 2 cores, for objects
# freed at exit anyway. Outputs are saved and MLflow's runs closed before; only objects in
# reference cycles skip their finalizers, which Python does not promise to run at exit either.
atexit.register(gc.freeze)

# Kedro matches the distribution's name as its metadata spells it (kedro_mlflow, in this version).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

CONFIG_LOADER_CLASS = MemoizedConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment such as `smoke` overrides single keys (epochs, limits) and inherits the rest.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
