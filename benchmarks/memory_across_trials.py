"""Benchmark 4: resident memory after each of 20 tuning trials in one run.

Runs dlpipe's tuning stage (the same run_study the pipeline uses) with 20 short trials of the
default `cnn` search space and records the process RSS after each trial.
Figure: RSS(trial 20) / RSS(trial 2).

    .venv/bin/python benchmarks/memory_across_trials.py [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile

from common import load_data, project_params, report, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.train = 3, 128

    from dlpipe.config.schema import parse_family
    from dlpipe.tuning.study import run_study

    params = project_params("cnn")
    splits, info = load_data(params, train_limit=args.train)
    rss: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        params["tuning"].update(
            storage_path=f"{scratch}/study.db",
            n_trials=args.trials,
            epochs=1,
            train_subset=None,
            validation_subset=None,
            pruner={"name": "none"},  # every trial builds and trains a full model
        )
        params["training"]["verbose"] = 0
        config = parse_family("cnn", params)

        def record(study, trial):
            rss.append(rss_mb())
            print(f"trial {trial.number + 1}: RSS {rss[-1]:.0f} MiB", flush=True)

        run_study(config, splits, info, trial_callbacks=[record])
    second = rss[1] if len(rss) > 1 else rss[0]
    report(
        {
            "rss_trial_2_mib": second,
            f"rss_trial_{len(rss)}_mib": rss[-1],
            "rss_ratio_last_over_2": rss[-1] / second,
        }
    )


if __name__ == "__main__":
    main()
