"""Project pipelines: one per parameter block whose model family is registered.

A block ``cnn:`` (or ``cnn_wide:``) with ``model.family: cnn`` becomes the pipeline ``cnn`` (or
``cnn_wide``), the shared stages under that name. Which blocks exist is read from the project's
configuration (``conf/base`` merged with ``conf/local``), the same files ``kedro run`` reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.pipeline import Pipeline

from dlpipe.families import registered_families
from dlpipe.pipelines.family import create_family_pipeline

logger = logging.getLogger(__name__)


def _project_config(conf_source: Path) -> tuple[dict, dict]:
    """The parameters and globals of the project at ``conf_source`` (empty where unreadable)."""
    from kedro.config import OmegaConfigLoader

    try:
        loader = OmegaConfigLoader(
            conf_source=str(conf_source),
            base_env="base",
            default_run_env="local",
            merge_strategy={"parameters": "soft"},
        )
        return dict(loader["parameters"]), dict(loader["globals"])
    except Exception as err:  # noqa: BLE001 - no project config here: one pipeline per family
        logger.debug("No project configuration at %s (%s)", conf_source, err)
        return {}, {}


def pipeline_blocks(params: dict) -> list[str]:
    """The parameter blocks that name a registered family in ``model.family``."""
    families = registered_families()
    return [
        name
        for name, block in params.items()
        if isinstance(block, dict) and (block.get("model") or {}).get("family") in families
    ]


def register_pipelines() -> dict[str, Pipeline]:
    """One pipeline per family block of the parameters; ``__default__`` is the block named by
    ``default_pipeline`` in ``conf/base/globals.yml``."""
    from kedro.framework.project import settings

    params, global_values = _project_config(Path.cwd() / settings.CONF_SOURCE)
    blocks = pipeline_blocks(params) or sorted(registered_families())
    pipelines = {block: create_family_pipeline(block) for block in blocks}
    default = global_values.get("default_pipeline")
    if default in pipelines:
        pipelines["__default__"] = pipelines[default]
    return pipelines
