"""The project's experiment blocks as a test can run them: real (smoke) parameters, outputs in a
temporary folder."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import DATA_DIR, load_project_params


@pytest.fixture(scope="module")
def all_smoke_params() -> dict[str, Any]:
    """Every block of the project in smoke mode: the experiments and the family blocks they override."""
    return load_project_params("smoke", families_only=False)


def experiment_params(params: dict[str, Any], block: str, store_dir, **changes: Any) -> dict[str, Any]:
    """Experiment ``block`` of ``params``, its fits stored in ``store_dir`` and its data read from
    the tests' TFDS folder; ``changes`` replace keys of its ``experiment`` section."""
    values = copy.deepcopy(params[block])
    section = values["experiment"]
    section["store_dir"] = str(store_dir)
    section["overrides"] = {**section.get("overrides", {}), "dataset.data_dir": str(DATA_DIR)}
    section.update(changes)
    return values
