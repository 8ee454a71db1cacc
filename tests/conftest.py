"""Shared fixtures: the real project config (shrunk) and a small slice of the real dataset."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from kedro.config import OmegaConfigLoader  # noqa: E402

# The reliability scoreboard is a top-level plugin so that it sees every report under `pytest -n`.
pytest_plugins = ["tests.reliability.scoreboard"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The tests read the same prepared TFDS data as `kedro run` (built once from the IDX files).
DATA_DIR = Path(os.environ.get("DLPIPE_TEST_TFDS_DIR", PROJECT_ROOT / "data" / "01_raw" / "tfds"))


def load_project_params(env: str = "smoke", *, families_only: bool = True) -> dict[str, Any]:
    """The project's parameters as `kedro run --env=<env>` sees them: its model-family blocks, or
    every block (``predict`` too)."""
    from dlpipe.pipeline_registry import pipeline_blocks

    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        merge_strategy={"parameters": "soft"},
    )
    params = loader["parameters"]
    if families_only:
        return {block: params[block] for block in pipeline_blocks(params)}
    return params


def image_spec(
    shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10, dtype: str = "uint8", **fields: Any
):
    """The DataSpec of raw images of ``shape`` in ``num_classes`` classes (Fashion-MNIST's by default)."""
    from dlpipe.data.spec import DataSpec

    return DataSpec(
        name="images",
        modality="image",
        input_shape=list(shape),
        input_dtype=dtype,
        target="class",
        class_names=[f"class {index}" for index in range(num_classes)],
        num_train=100,
        num_val=10,
        num_test=10,
        **fields,
    )


def tabular_spec(features: int = 30, num_classes: int = 2, **fields: Any):
    """The DataSpec of ``features`` float features per example in ``num_classes`` classes."""
    from dlpipe.data.spec import DataSpec

    return DataSpec(
        name="tabular",
        modality="tabular",
        input_shape=[features],
        input_dtype="float32",
        target="class",
        class_names=[f"class {index}" for index in range(num_classes)],
        num_train=100,
        num_val=10,
        num_test=10,
        input_mean=[0.0] * features,
        input_variance=[1.0] * features,
        **fields,
    )


def block_config(block: str, model: dict[str, Any], **sections: Any):
    """A validated parameter block holding ``model`` (all other keys at their defaults)."""
    from dlpipe.config.schema import parse_family

    params = {"model": model, "tuning": {"study_name": block, "storage_path": f"{block}.db"}, **sections}
    return parse_family(block, params)


def project_dataset_names() -> set[str]:
    """The TFDS names every pipeline of the project reads, by default and in smoke mode."""
    names = set()
    for env in ("base", "smoke"):
        for params in load_project_params(env).values():
            names.add(params["dataset"]["name"])
    return names


@pytest.fixture(scope="session", autouse=True)
def prepared_dataset() -> Path:
    """Build every offline TFDS dataset the pipelines read, once, before any test needs one.

    Tests in scratch project copies link to this folder. Test workers (`pytest -n`) share it: the
    first one builds under a file lock, the others wait and then find everything built, so no two
    processes ever prepare the same dataset at once.
    """
    import fcntl

    from dlpipe.config.data import DatasetConfig
    from dlpipe.data.loading import get_builder

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in sorted(project_dataset_names()):
            get_builder(DatasetConfig(name=name, data_dir=str(DATA_DIR)))
    return DATA_DIR


@pytest.fixture(autouse=True)
def fresh_mlflow_state():
    """After each test, MLflow forgets the active experiment. It caches its id (and exports it as
    MLFLOW_EXPERIMENT_ID) across tracking stores, so a later test's run in a new store would look
    for an experiment that is not there. (The tracking URI is left alone: module fixtures set it.)"""
    yield
    if "mlflow" in sys.modules:
        from mlflow.tracking import fluent

        fluent._active_experiment_id = None  # no public way to forget it
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.fixture(scope="session")
def smoke_params() -> dict[str, Any]:
    return load_project_params("smoke")


@pytest.fixture
def cnn_params(smoke_params, tmp_path) -> dict[str, Any]:
    """The real smoke-mode cnn parameters, with every output path under tmp_path."""
    return _isolated(smoke_params["cnn"], tmp_path)


@pytest.fixture
def mlp_params(smoke_params, tmp_path) -> dict[str, Any]:
    return _isolated(smoke_params["mlp"], tmp_path)


def _isolated(params: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    import copy

    params = copy.deepcopy(params)
    params["dataset"]["data_dir"] = str(DATA_DIR)
    params["training"]["checkpoint_dir"] = str(tmp_path / "checkpoints")
    params["training"]["backup_dir"] = str(tmp_path / "backup")
    params["training"]["verbose"] = 0
    # float32 on every machine (`auto` is bfloat16 on some CPUs): the same numbers everywhere.
    params["training"]["mixed_precision"] = "none"
    params["tuning"]["storage_path"] = str(tmp_path / "study.db")
    return params


@pytest.fixture(scope="session")
def fashion_splits(smoke_params):
    """A seeded 400/40/200 slice of real Fashion-MNIST and its description."""
    from dlpipe.config.data import DatasetConfig
    from dlpipe.data.loading import load_splits

    config = DatasetConfig.model_validate({**smoke_params["cnn"]["dataset"], "data_dir": str(DATA_DIR)})
    return load_splits(config, seed=42)


@pytest.fixture
def tiny_splits(fashion_splits):
    """Only a few batches of the real data, for one-step tests."""
    splits, info = fashion_splits
    small = {key: np.asarray(value[:128]) for key, value in splits.items()}
    return small, info


@pytest.fixture
def hanging_name_lookup(monkeypatch):
    """Every host-name lookup blocks until the test ends, as with an unreachable resolver."""
    release = threading.Event()

    def lookup(*args, **kwargs):
        release.wait(120)
        raise socket.gaierror("lookup released at the end of the test")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield
    release.set()


@pytest.fixture
def pipeline_run():
    """A Kedro run as dlpipe's hooks open it (a finished training is kept until it succeeds);
    closed as failed if the test does not close it."""
    from dlpipe import run_scope

    run_scope.begin()
    yield
    if run_scope.active():
        run_scope.end(succeeded=False)
