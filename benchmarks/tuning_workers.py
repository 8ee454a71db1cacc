"""Benchmark 13: trials finished per hour by one process and by two (the run that opens the tuning
session and one worker) on one journal study, on the same machine.

Each arm tunes a fresh scratch copy of the project (`kedro run --pipelines=cnn
--to-nodes=cnn.tune_hyperparameters`, the worker with `--params=cnn.tuning.worker=true`) for the
same number of trials of the default cnn search, with the pruner off so every trial trains its
epochs. Trials per hour are the session's counted trials over the time from its first trial's
start to its last trial's end, read from the study.

    .venv/bin/python benchmarks/tuning_workers.py [--trials 8] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from common import report
from dlpipe.tuning.workers import counts, owner_pid
from fixed_cost import scratch_project

JOURNAL = "data/06_models/optuna/cnn.journal"
TUNE_ONLY = ["run", "--pipelines=cnn", "--to-nodes=cnn.tune_hyperparameters"]


def arm(processes: int, trials: int, smoke: bool) -> dict:
    """Tune one study with ``processes`` processes; trials per hour and trials per process."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as scratch:
        project = scratch_project(Path(scratch))
        tuning = {"storage": f"journal:///{JOURNAL}", "n_trials": trials, "pruner": {"name": "none"}}
        if smoke:
            tuning.update(epochs=1, train_subset=500, validation_subset=200)
        overrides = {"cnn": {"tuning": tuning, "budget": {"seconds": None}}}
        (project / "conf" / "local" / "parameters_cnn.yml").write_text(yaml.safe_dump(overrides))
        command = [sys.executable, "-m", "kedro", *TUNE_ONLY]
        started = [
            subprocess.Popen(
                [*command, "--params=cnn.tuning.worker=true"],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            for _ in range(processes - 1)
        ]
        main = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        for worker in started:
            if main.returncode != 0:
                worker.kill()  # it would wait for a session that never opens
            worker.wait(timeout=600)
        if main.returncode != 0 or any(worker.returncode for worker in started):
            sys.exit(main.stdout[-3000:] + main.stderr[-3000:])
        storage = JournalStorage(JournalFileBackend(str(project / JOURNAL)))
        finished = [t for t in optuna.load_study(study_name="cnn", storage=storage).trials if counts(t)]
    span = max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)
    by_process: dict[int, int] = {}
    for trial in finished:
        by_process[owner_pid(trial)] = by_process.get(owner_pid(trial), 0) + 1
    return {
        "trials": len(finished),
        "span_s": span.total_seconds(),
        "trials_per_hour": len(finished) / span.total_seconds() * 3600,
        "trials_by_process": sorted(by_process.values(), reverse=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    trials = 2 if args.smoke else args.trials
    one, two = arm(1, trials, args.smoke), arm(2, trials, args.smoke)
    print(f"device: CPU, {os.cpu_count()} cores")
    for name, figures in (("one process", one), ("two processes", two)):
        print(
            f"{name}: {figures['trials']} trials in {figures['span_s']:.0f} s, "
            f"{figures['trials_per_hour']:.0f} trials/hour, by process {figures['trials_by_process']}"
        )
    report(
        {
            "one_process_trials_per_hour": one["trials_per_hour"],
            "two_processes_trials_per_hour": two["trials_per_hour"],
            "two_over_one": two["trials_per_hour"] / one["trials_per_hour"],
            "two_processes_trials_by_process": two["trials_by_process"],
        }
    )


if __name__ == "__main__":
    main()
