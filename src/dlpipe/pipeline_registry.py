"""Project pipelines: one per parameter block whose model family is registered, one per experiment
block, ``experiments`` (all of them) and ``predict``.

A block ``cnn:`` (or ``cnn_wide:``) with ``model.family: cnn`` becomes the pipeline ``cnn`` (or
``cnn_wide``), the shared stages under that name; a block ``experiment_<name>:`` becomes the
pipeline ``experiment_<name>``. Which blocks exist is read from the project's
configuration (``conf/base`` merged with ``conf/local``), the same files ``kedro run`` reads.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kedro.pipeline import Pipeline

from dlpipe.config.experiment import is_experiment_block
from dlpipe.families import registered_families
from dlpipe.pipelines import experiment, predict
from dlpipe.pipelines.family import create_family_pipeline


def _project_config(conf_source: Path) -> tuple[dict, dict]:
    """The parameter blocks and globals of ``conf/base`` and ``conf/local``, read as plain YAML.

    Only block names and ``model.family`` are needed, so interpolations stay unresolved. Not an
    ``OmegaConfigLoader``: creating one registers its ``globals`` resolver process-wide, and the
    run's own loader (``--env=smoke``) would then resolve ``${globals:...}`` with these values.
    """
    params: dict = {}
    global_values: dict = {}
    for env in ("base", "local"):
        folder = conf_source / env
        for file in sorted([*folder.glob("parameters*.yml"), *folder.glob("parameters*/**/*.yml")]):
            params = _merged(params, yaml.safe_load(file.read_text()) or {})
        if (folder / "globals.yml").is_file():
            global_values.update(yaml.safe_load((folder / "globals.yml").read_text()) or {})
    return params, global_values


def _merged(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, dict by dict, as Kedro's soft merge of parameters."""
    result = dict(base)
    for key, value in override.items():
        both_dicts = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = _merged(result[key], value) if both_dicts else value
    return result


def pipeline_blocks(params: dict) -> list[str]:
    """The parameter blocks that name a registered family in ``model.family``."""
    families = registered_families()
    return [
        name
        for name, block in params.items()
        if isinstance(block, dict)
        and isinstance(block.get("model"), dict)
        and block["model"].get("family") in families
    ]


def experiment_blocks(params: dict) -> list[str]:
    """The parameter blocks that declare an experiment (``experiment_<name>``)."""
    return [name for name, block in params.items() if is_experiment_block(name) and isinstance(block, dict)]


def learning_curve_enabled(block: dict | None) -> bool:
    """Whether a block's parameters (as ``conf/base`` and ``conf/local`` set them) turn its
    learning-curve stage on; another environment may turn a present stage off, not add one."""
    section = (block or {}).get("learning_curve") or {}
    return bool(section.get("enabled"))


def register_pipelines() -> dict[str, Pipeline]:
    """One pipeline per family block and per experiment block of the parameters, ``experiments``
    (every experiment), and ``predict`` (batch prediction with a trained model); ``__default__``
    is the block named by ``default_pipeline`` in ``conf/base/globals.yml``."""
    from kedro.framework.project import settings

    params, global_values = _project_config(Path.cwd() / settings.CONF_SOURCE)
    blocks = pipeline_blocks(params) or sorted(registered_families())
    pipelines = {
        block: create_family_pipeline(block, with_learning_curve=learning_curve_enabled(params.get(block)))
        for block in blocks
    }
    experiments = {block: experiment.pipeline.create_pipeline(block) for block in experiment_blocks(params)}
    pipelines.update(experiments)
    if experiments:
        pipelines["experiments"] = sum(experiments.values(), Pipeline([]))
    pipelines["predict"] = predict.pipeline.create_pipeline()
    default = global_values.get("default_pipeline")
    if default in pipelines:
        pipelines["__default__"] = pipelines[default]
    return pipelines
