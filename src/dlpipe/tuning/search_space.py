"""Samplers, pruners and the search space, from config."""

from __future__ import annotations

from typing import Any

import optuna

from dlpipe.config.tuning import PrunerConfig, SamplerConfig, SearchParameter


def create_sampler(config: SamplerConfig, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
    """Return the configured sampler.

    ``seed_offset`` (the number of trials already in the study) keeps a continued study from
    replaying the random draws of its first run.
    """
    seed = None if config.seed is None else config.seed + seed_offset
    if config.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=config.n_startup_trials)
    if config.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=config.n_startup_trials)
    if config.name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    raise ValueError(f"tuning.sampler.name: unknown sampler {config.name!r}")


def create_pruner(config: PrunerConfig, max_epochs: int) -> optuna.pruners.BasePruner:
    """Return the configured pruner; it sees one validation value per epoch."""
    if config.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=config.n_startup_trials, n_warmup_steps=config.n_warmup_steps
        )
    if config.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=config.min_resource,
            max_resource=max_epochs,
            reduction_factor=config.reduction_factor,
        )
    if config.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=config.min_resource, reduction_factor=config.reduction_factor
        )
    if config.name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"tuning.pruner.name: unknown pruner {config.name!r}")


def suggest(trial: optuna.Trial, search_space: list[SearchParameter]) -> dict[str, Any]:
    """Sample one value per search-space entry; returns ``{dotted path: value}``."""
    values: dict[str, Any] = {}
    for entry in search_space:
        if entry.type == "int":
            values[entry.path] = trial.suggest_int(
                entry.path,
                int(entry.low),
                int(entry.high),
                step=int(entry.step or 1),
                log=entry.log,
            )
        elif entry.type == "float":
            values[entry.path] = trial.suggest_float(
                entry.path, entry.low, entry.high, step=entry.step, log=entry.log
            )
        else:
            values[entry.path] = trial.suggest_categorical(entry.path, entry.choices)
    return values


def configured_values(search_space: list[SearchParameter], config: dict[str, Any]) -> dict[str, Any]:
    """The configured value of each searched parameter (``{dotted path: value}``), for those the
    search space can sample: inside its range and on its step, or among its choices."""
    from dlpipe.config.schema import get_path

    values: dict[str, Any] = {}
    for entry in search_space:
        try:
            value = get_path(config, entry.path)
        except KeyError:
            continue
        if value is not None and _holds(entry, value):
            values[entry.path] = value
    return values


def _holds(entry: SearchParameter, value: Any) -> bool:
    if entry.type == "categorical":
        return value in (entry.choices or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not entry.low <= value <= entry.high:
        return False
    if entry.type == "int" and (int(value) != value or (value - entry.low) % (entry.step or 1)):
        return False
    if entry.type == "float" and entry.step:
        steps = (value - entry.low) / entry.step
        return abs(steps - round(steps)) < 1e-9
    return True
