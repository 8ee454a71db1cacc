"""Schemas of the parameter blocks of dlpipe's own pipelines, beside the model families' blocks."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dlpipe.config.common import PositiveInt, Strict, config_error


class PredictConfig(Strict):
    """Batch prediction (``kedro run --pipelines=predict``): ``model`` is an MLflow model URI
    (``models:/dlpipe-<pipeline>@champion``, ``models:/dlpipe-<pipeline>/3``, ``runs:/<id>/model``) or a saved
    ``.keras`` model (a file or a Kedro versioned folder, whose latest version is used)."""

    model: str
    # Where the catalog's `predict.inputs` reads: a .npy array or a folder of images. Only
    # --params=predict.inputs=<path> sets it (the catalog reads runtime parameters, and holds the
    # default folder); accepted here so that the run's parameters validate.
    inputs: str | None = None
    batch_size: PositiveInt = 256
    # Only for a .keras model, which does not record them: its task, and the data description
    # (data_spec.json) of the run that trained it, by default the one its pipeline wrote.
    task: str | None = None
    data_spec: str | None = None


OWN_PIPELINE_BLOCKS: dict[str, type[Strict]] = {"predict": PredictConfig}


def parse_own_block(block: str, params: Any) -> Strict:
    """Parse the block of one of dlpipe's own pipelines; ConfigError names each bad key."""
    try:
        return OWN_PIPELINE_BLOCKS[block].model_validate(params)
    except ValidationError as err:
        raise config_error(block, err) from None
