"""Benchmark 12: what each change of the default `cnn` run bought, one `kedro run` per step.

Starts from the previous default (one block of two valid-padded convs, float32, 12 epochs, 6
trials, no budget) and adds one change at a time: bfloat16 where the CPU computes it natively
(`training.mixed_precision: auto`), then two blocks of two same-padded convs with lighter dropout,
then the run budget (the current default, as `kedro run --pipelines=cnn` runs it). Each step runs
in a fresh scratch project, like benchmark 6; the table gives its wall time and test accuracy.

    .venv/bin/python benchmarks/cnn_ablation.py [--smoke]
"""

from __future__ import annotations

import argparse

from common import report
from end_to_end import one_run

PREVIOUS_DEFAULT = (
    "cnn.model.conv.convs_per_block=1,cnn.model.conv.padding=valid,cnn.model.conv.pool_every=2,"
    "cnn.model.dense.dropout=0.4,cnn.training.epochs=12,cnn.training.early_stopping.patience=4,"
    "cnn.budget.seconds=null,cnn.tuning.n_trials=6"
)
BLOCKS_OF_TWO_WITHOUT_BUDGET = "cnn.training.epochs=12,cnn.budget.seconds=null,cnn.tuning.n_trials=6"
STEPS = {
    "previous_default": f"{PREVIOUS_DEFAULT},cnn.training.mixed_precision=none",
    "plus_bfloat16": f"{PREVIOUS_DEFAULT},cnn.training.mixed_precision=auto",
    "plus_blocks_of_two": BLOCKS_OF_TWO_WITHOUT_BUDGET,
    "plus_budget": None,  # the current default
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the smoke environment, to check it runs")
    args = parser.parse_args()
    env_name = "smoke" if args.smoke else "base"
    # Smoke keeps its own few epochs and trials: only the model and precision changes apply.
    keep = ("cnn.model.", "cnn.training.mixed_precision")
    figures = {}
    print("| step | wall s | test accuracy | trials | epochs |\n|---|---|---|---|---|")
    for step, params in STEPS.items():
        if args.smoke and params:
            params = ",".join(item for item in params.split(",") if item.startswith(keep)) or None
        run = one_run(env_name, params)
        print(
            f"| {step} | {run['wall_s']:.0f} | {run['test_accuracy']:.4f} | {run['trials']} | "
            f"{run['epochs_trained']} |",
            flush=True,
        )
        figures[f"{step}_wall_s"] = run["wall_s"]
        figures[f"{step}_test_accuracy"] = run["test_accuracy"]
    report(figures)


if __name__ == "__main__":
    main()
