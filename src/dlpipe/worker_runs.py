"""Runs that are one worker among several: what each may run, checked before any node runs.

A tuning worker runs trials of a shared study; a training worker is one process of a
``multi_worker_mirrored`` job. Both keep their outputs in memory when another process owns them.
"""

from __future__ import annotations

from kedro.io import MemoryDataset

from dlpipe.config.common import ConfigError
from dlpipe.training.cluster import MULTI_WORKER, cluster_role


def _family_params(pipeline, catalog):
    """``(block, parameters)`` of every parameter block with a node in ``pipeline``."""
    for family in sorted({node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}):
        params = catalog.load(f"params:{family}") if catalog.exists(f"params:{family}") else {}
        if isinstance(params, dict):
            yield family, params


def _keep_outputs_in_memory(pipeline, catalog, family: str) -> None:
    family_nodes = [n for n in pipeline.nodes if (n.namespace or "").split(".")[0] == family]
    for name in {output for n in family_nodes for output in n.outputs}:
        catalog[name] = MemoryDataset()


def _nodes_after(pipeline, name: str, names: set[str]) -> list[str]:
    """The nodes of ``pipeline`` that run after node ``name``; none when it is not in the run."""
    if name not in names:
        return []
    return [n.name for n in pipeline.from_nodes(name).nodes if n.name != name]


def check_worker_runs(pipeline, catalog) -> None:
    """A tuning worker (``tuning.worker: true``) runs up to its family's tuning node and no further:
    the final model is the opening run's. Raises ``ConfigError`` before any node runs otherwise.
    A worker's outputs are kept in memory (``catalog`` is changed in place)."""
    names = {node.name for node in pipeline.nodes}
    for family, params in _family_params(pipeline, catalog):
        if not params.get("tuning", {}).get("worker"):
            continue
        tune = f"{family}.tune_hyperparameters"
        after = _nodes_after(pipeline, tune, names)
        if tune in names and not after:
            # A worker's outputs stay in memory: the data it prepared and the study's best so far
            # are the opening run's to write, and a worker writing them too could change what
            # that run reads.
            _keep_outputs_in_memory(pipeline, catalog, family)
            continue
        raise ConfigError(
            f"{family}.tuning.worker: true makes this run a tuning worker, which runs up to "
            f"{tune} only (this run {'also runs ' + ', '.join(after) if after else f'has no {tune}'}). "
            f"Run it as `kedro run --pipelines={family} --to-nodes={tune} "
            f"--params={family}.tuning.worker=true`. Nothing has run yet."
        )


def training_job_role(pipeline, catalog):
    """This process's ``ClusterRole`` when a block of ``pipeline`` trains with
    ``multi_worker_mirrored``; None otherwise (``TF_CONFIG`` alone does not make a job)."""
    for _, params in _family_params(pipeline, catalog):
        if params.get("training", {}).get("strategy") == MULTI_WORKER:
            return cluster_role()
    return None


def check_training_workers(pipeline, catalog) -> None:
    """Checks a run of a block whose ``training.strategy`` is ``multi_worker_mirrored`` before
    any node runs, and then creates its strategy (TensorFlow allows that only before its first
    operation; see ``strategy.multi_worker_strategy``).

    Every worker runs the same steps in lockstep, so what would make them diverge is refused:
    tuning (each worker's study would propose other trials), a time budget (each worker's clock
    would stop it at another step) and a learning curve. A worker other than the chief runs up to
    ``<block>.train_model`` and keeps its outputs in memory: the chief evaluates and saves.

    Raises:
        ConfigError: naming the key and the value, or the command to run instead.
    """
    names = {node.name for node in pipeline.nodes}
    for family, params in _family_params(pipeline, catalog):
        train = f"{family}.train_model"
        fits = {f"{family}.{stage}" for stage in _STAGES_THAT_FIT} & names
        if params.get("training", {}).get("strategy") != MULTI_WORKER or not fits:
            continue  # a run that fits nothing (evaluation again, --from-nodes) needs no cluster
        role = cluster_role()
        key = f"{family}.training.strategy: {MULTI_WORKER!r}"
        if role is None:
            raise ConfigError(
                f"{key} trains on the workers TF_CONFIG lists, and TF_CONFIG is not set. Start the job "
                f'with `python -m dlpipe.launch --workers 2 --pipeline {family}` (README, "Scaling out"). '
                "Nothing has run yet."
            )
        for section, name, default, allowed, reason in _LOCKSTEP_RULES:
            value = params.get(section, {}).get(name, default)
            if value != allowed:
                raise ConfigError(
                    f"{family}.{section}.{name}: {value!r} with {key}: every worker must take the same "
                    f"steps, and {reason}; expected {allowed!r}. Nothing has run yet."
                )
        _check_family_trains_in_lockstep(family, params, key)
        if not role.is_chief:
            after = _nodes_after(pipeline, train, names)
            if after:
                raise ConfigError(
                    f"TF_CONFIG: this process is {role.name}, not the chief, of a {role.num_workers}-worker "
                    f"job, and runs up to {train} only (this run also runs {', '.join(after)}). Add "
                    f"`--to-nodes={train}`; `python -m dlpipe.launch` does. Nothing has run yet."
                )
            _keep_outputs_in_memory(pipeline, catalog, family)
        from dlpipe.training.strategy import multi_worker_strategy

        multi_worker_strategy()


def _check_family_trains_in_lockstep(block: str, params: dict, key: str) -> None:
    """A family that decides in its own callbacks when to stop (on a metric each worker computes
    alone), or trains in phases (each worker choosing its phase from its own backups), is refused:
    its workers could stop at different steps and wait on each other forever."""
    from dlpipe.families import get_family, registered_families

    def own_steps(family) -> list[str]:
        return [what for what, used in (("callbacks", family.callbacks), ("phases", family.phases)) if used]

    name = params.get("model", {}).get("family")
    own = own_steps(get_family(name))
    if own:
        fit_alone = sorted(other for other, family in registered_families().items() if not own_steps(family))
        raise ConfigError(
            f"{block}.model.family: {name!r} with {key}: the family trains with its own "
            f"{' and '.join(own)}, which each worker would run on its own, so the workers could stop "
            f"at different steps; expected a family that Keras' fit alone trains: {', '.join(fit_alone)}. "
            "Nothing has run yet."
        )


# The nodes that fit models with the block's training.strategy.
_STAGES_THAT_FIT = ("tune_hyperparameters", "train_model", "compute_learning_curve")

# (section, key, default, the one value allowed, why another makes the workers diverge)
_LOCKSTEP_RULES = (
    (
        "tuning",
        "enabled",
        True,
        False,
        "each worker's trials would differ (tune first, tuning workers can share a study, and pass "
        "the tuned values as parameters)",
    ),
    ("budget", "seconds", None, None, "each worker's clock would stop training at another step"),
    ("learning_curve", "enabled", False, False, "the chief alone would train the curve's models"),
)
