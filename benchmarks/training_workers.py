"""Benchmark 14: training throughput of a two-worker job (`python -m dlpipe.launch --workers 2`)
against one process, both on this machine, same configuration and global batch.

Each arm trains the default cnn without tuning or budget for the same epochs in a fresh scratch
copy of the project. Throughput is training examples × epochs over the time Keras' `fit` took
(dlpipe logs it: "fit: N epoch(s) on M examples in S s"; the chief's log for the job), so start-up
and evaluation are left out. Two workers on one machine share its cores: the ratio says what the
collective all-reduce costs here, not what two machines would gain.

    .venv/bin/python benchmarks/training_workers.py [--epochs 2] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import report
from fixed_cost import scratch_project

FIT = re.compile(r"fit: (\d+) epoch\(s\) on (\d+) examples in ([\d.]+) s")


def _examples_per_second(log: str) -> float:
    epochs, examples, seconds = FIT.findall(log)[-1]
    return int(epochs) * int(examples) / float(seconds)


def arm(workers: int, epochs: int, smoke: bool) -> float:
    """Training examples per second of one fresh run with ``workers`` processes."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        cnn = {
            "tuning": {"enabled": False},
            "budget": {"seconds": None},
            "training": {"epochs": epochs, "early_stopping": {"patience": epochs + 1}},
        }
        if smoke:
            cnn["dataset"] = {"train_limit": 2000, "test_limit": 300}
        (project / "conf" / "local" / "parameters_cnn.yml").write_text(yaml.safe_dump({"cnn": cnn}))
        if workers == 1:
            command = [sys.executable, "-m", "kedro", "run", "--pipelines=cnn", "--to-nodes=cnn.train_model"]
        else:
            launch = [sys.executable, "-m", "dlpipe.launch", "--pipeline", "cnn", "--restarts", "0"]
            command = [*launch, "--workers", str(workers), "--job", "benchmark"]
        # A time limit: workers that wait on each other forever must not hang the benchmark.
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            sys.exit(done.stdout[-3000:] + done.stderr[-3000:])
        if workers == 1:
            return _examples_per_second(done.stdout + done.stderr)
        chief = project / "data/09_logs/launch/benchmark/attempt-0/worker-0.log"
        return _examples_per_second(chief.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.smoke else args.repeats
    epochs = 1 if args.smoke else args.epochs
    one, two = [], []
    for _ in range(repeats):  # interleaved, so drift in the machine's load hits both arms
        one.append(arm(1, epochs, args.smoke))
        two.append(arm(2, epochs, args.smoke))
    print(f"device: CPU, {os.cpu_count()} cores; {epochs} epoch(s), {repeats} repeat(s)")
    print(f"one process: {[round(v) for v in one]} examples/s; two workers: {[round(v) for v in two]}")
    report(
        {
            "one_process_examples_per_s": statistics.median(one),
            "two_workers_examples_per_s": statistics.median(two),
            "two_over_one": statistics.median(two) / statistics.median(one),
        }
    )


if __name__ == "__main__":
    main()
