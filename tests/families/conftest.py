"""Fixtures for the family tests: a project block shrunk to tiny real data."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.conftest import DATA_DIR

MODELS_DIR = "data/06_models/"  # conf/base/globals.yml's models_dir


def _under(tmp_path: Path, value: Any) -> Any:
    """``value`` with every path into the project's models folder moved under ``tmp_path``."""
    if isinstance(value, dict):
        return {key: _under(tmp_path, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_under(tmp_path, item) for item in value]
    if isinstance(value, str) and value.startswith(MODELS_DIR):
        return str(tmp_path / "models" / value.removeprefix(MODELS_DIR))
    return value


def shrunk_block(params: dict[str, Any], tmp_path: Path, *, epochs: int | None = 1) -> dict[str, Any]:
    """A copy of a project block that trains ``epochs`` epochs (``None``: its own) on a few dozen
    real examples, with every output path under ``tmp_path`` (and every saved model it reads
    looked for there)."""
    block = _under(tmp_path, copy.deepcopy(params))
    dataset = block.setdefault("dataset", {})
    dataset["data_dir"] = str(DATA_DIR)
    if "windows" not in dataset:  # a series keeps its length: its windows are already few
        dataset.update(train_limit=64, test_limit=32)
    training = block.setdefault("training", {})
    if epochs is not None:
        training["epochs"] = epochs
    training.update(
        verbose=0,
        # float32 on every machine (`auto` is bfloat16 on some CPUs): the same numbers everywhere.
        mixed_precision="none",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        backup_dir=str(tmp_path / "backup"),
    )
    if training.get("gradient_descent") != "stochastic":
        training["batch_size"] = 16
    block["tuning"] = {**block["tuning"], "storage_path": str(tmp_path / "study.db")}
    return block


def assert_rejected_naming_the_key(
    block: str, params: dict[str, Any], overrides: dict[str, Any], key: str, shown: str
):
    """Parsing block ``block`` with ``overrides`` applied fails with a message holding ``key`` and
    ``shown`` (the value, or what is expected)."""
    import pytest

    from dlpipe.config.schema import ConfigError, parse_family, with_overrides

    with pytest.raises(ConfigError) as caught:
        parse_family(block, with_overrides(params, overrides))
    message = str(caught.value)
    assert key in message and shown in message, message
