"""Benchmark 5: the fixed cost of a run: `kedro run --env=smoke` minus training, against importing TF.

Runs `kedro run --pipelines=cnn --env=smoke` in a scratch copy of the project (fresh MLflow store
and study) and subtracts the time spent in `fit` (dlpipe logs each fit's duration), then compares
with `python -c "import tensorflow"` and with importing the whole stack. The same command run a
second time in that copy (the store and study exist; the study gets its 2 more trials) gives the
cost of a repeated run, reported apart: the first run's figure is the one the goal is about.

    .venv/bin/python benchmarks/fixed_cost.py [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PROJECT_ROOT, Stopwatch, prepare_dataset, report, summary

# The libraries every run of the pipeline needs before its first node, whatever dlpipe does:
# their import time is the floor of the fixed cost.
STACK_IMPORTS = (
    "import tensorflow, keras, tensorflow_datasets, optuna, optuna_integration, mlflow, kedro_mlflow; "
    "import kedro.framework.session, kedro.framework.cli"
)

FIT_LINE = re.compile(r"fit: \d+ epoch\(s\) on \d+ examples in ([0-9.]+) s")


def scratch_project(root: Path) -> Path:
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / "tfds").symlink_to(prepare_dataset(), target_is_directory=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.repeats = 1
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}

    def timed_run(project: Path) -> tuple[float, float]:
        """Wall seconds of one smoke run in ``project`` and the seconds it spent in ``fit``."""
        with Stopwatch() as watch:
            result = subprocess.run(
                [sys.executable, "-m", "kedro", "run", "--pipelines=cnn", "--env=smoke"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
        return watch.seconds, sum(float(m) for m in FIT_LINE.findall(result.stdout + result.stderr))

    imports, stacks, walls, fits, fixed, repeats_fixed = [], [], [], [], [], []
    for _ in range(args.repeats):
        with Stopwatch() as watch:
            subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, env=env)
        imports.append(watch.seconds)
        with Stopwatch() as watch:
            subprocess.run([sys.executable, "-c", STACK_IMPORTS], check=True, env=env)
        stacks.append(watch.seconds)
        with tempfile.TemporaryDirectory() as scratch:
            project = scratch_project(Path(scratch))
            wall, fit_seconds = timed_run(project)
            repeat_wall, repeat_fit = timed_run(project)
        walls.append(wall)
        fits.append(fit_seconds)
        fixed.append(wall - fit_seconds)
        repeats_fixed.append(repeat_wall - repeat_fit)
        print(
            f"run: wall {walls[-1]:.1f} s, in fit {fit_seconds:.1f} s, import tensorflow "
            f"{imports[-1]:.1f} s, import the stack {stacks[-1]:.1f} s; repeated run: wall "
            f"{repeat_wall:.1f} s, in fit {repeat_fit:.1f} s",
            flush=True,
        )
    print(f"kedro run wall s: {summary(walls)}")
    print(f"time in fit s: {summary(fits)}")
    print(f"fixed cost s: {summary(fixed)}")
    print(f"import tensorflow s: {summary(imports)}")
    print(f"import the stack s: {summary(stacks)}")
    print(f"fixed cost of the repeated run s: {summary(repeats_fixed)}")
    report(
        {
            "smoke_run_wall_s": statistics.median(walls),
            "time_in_fit_s": statistics.median(fits),
            "fixed_cost_s": statistics.median(fixed),
            "import_tensorflow_s": statistics.median(imports),
            "added_over_import_s": statistics.median(fixed) - statistics.median(imports),
            "import_stack_s": statistics.median(stacks),
            "added_over_stack_s": statistics.median(fixed) - statistics.median(stacks),
            "repeat_fixed_cost_s": statistics.median(repeats_fixed),
            "repeat_added_over_stack_s": statistics.median(repeats_fixed) - statistics.median(stacks),
        }
    )


if __name__ == "__main__":
    main()
