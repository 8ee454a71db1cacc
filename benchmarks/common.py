"""Shared helpers of the benchmarks: the real config and data, timing, memory, reporting."""

from __future__ import annotations

import copy
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
TFDS_DIR = PROJECT_ROOT / "data" / "01_raw" / "tfds"


def project_params(family: str = "cnn", env: str = "base") -> dict[str, Any]:
    """The family's parameters as `kedro run --env=<env>` sees them (a deep copy), in float32 and
    without the run budget: the benchmarks compare like with like (a block's ``auto`` precision is
    bfloat16 on some CPUs) and set their own limits."""
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        merge_strategy={"parameters": "soft"},
    )
    params = copy.deepcopy(loader["parameters"][family])
    params.setdefault("training", {})["mixed_precision"] = "none"
    params.pop("budget", None)
    return params


def scratch_overrides(scratch: str) -> dict[str, Any]:
    """``with_overrides`` keys that send a block's outputs (checkpoints, backups, study) under
    ``scratch``, read the project's prepared data and keep training quiet."""
    return {
        "dataset.data_dir": str(TFDS_DIR),
        "training.verbose": 0,
        "training.checkpoint_dir": f"{scratch}/checkpoints",
        "training.backup_dir": f"{scratch}/backup",
        "tuning.storage_path": f"{scratch}/study.db",
    }


def block_judge_model(params: dict[str, Any]) -> str | None:
    """The block's ``evaluation.judge_model``, a project-relative path made absolute (a benchmark
    may run from any folder); absolute paths and MLflow model URIs as they are."""
    from dlpipe.models.transfer_base import MLFLOW_URI_SCHEMES

    judge_model = params.get("evaluation", {}).get("judge_model")
    if judge_model is None or judge_model.startswith(MLFLOW_URI_SCHEMES) or Path(judge_model).is_absolute():
        return judge_model
    return str(PROJECT_ROOT / judge_model)


def judge_line(metrics: dict[str, float]) -> str:
    """The judge's three figures of one set of drawn images (``judge_samples``'s metrics), on one line."""
    return (
        f"Fréchet/floor {metrics['test_frechet_distance_over_floor']:.1f}, confident "
        f"{metrics['test_confident_share']:.3f}, smallest class {metrics['test_smallest_class_share']:.3f}"
    )


def load_data(params: dict[str, Any], train_limit: int | None, test_limit: int | None = 1000):
    """Real Fashion-MNIST splits through dlpipe's data stage, limited to ``train_limit`` examples."""
    from dlpipe.config.data import DatasetConfig
    from dlpipe.data.loading import load_splits

    dataset = {**params["dataset"], "data_dir": str(TFDS_DIR)}
    dataset.update(train_limit=train_limit, test_limit=test_limit)
    return load_splits(DatasetConfig.model_validate(dataset), seed=params["seed"])


def prepare_dataset() -> Path:
    """Build the offline Fashion-MNIST TFDS dataset in the project's data folder if needed."""
    from dlpipe.config.data import DatasetConfig
    from dlpipe.data.loading import get_builder

    get_builder(DatasetConfig(name="fashion_mnist_local", data_dir=str(TFDS_DIR)))
    return TFDS_DIR


def rss_mb() -> float:
    """Resident memory of this process, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds``."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


def summary(values: list[float]) -> str:
    """``median (min–max, n=N)`` of repeated measurements."""
    return f"{statistics.median(values):.4g} (min {min(values):.4g}, max {max(values):.4g}, n={len(values)})"


def report(figures: dict[str, Any]) -> None:
    """Print the figures as the final ``name: value`` lines of the benchmark's output."""
    print()
    for name, value in figures.items():
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
