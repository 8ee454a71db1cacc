"""Benchmark 7: simple RNN, LSTM and GRU on the same sequence classification, at equal epochs.

Trains the `rnn` block (JapaneseVowels, 9 speakers, 12 channels, 7-29 frames, masked padding)
once per cell and seed with everything else equal: same units, epochs, optimizer, data, no early
stopping. Scores each on the 370 test recordings. Figures: median test accuracy per cell, and
whether LSTM and GRU each beat the simple RNN.

    .venv/bin/python benchmarks/rnn_cells.py [--epochs N] [--seeds 1 2 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from common import project_params, report, scratch_overrides

CELLS = ("simple_rnn", "lstm", "gru")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.seeds = 1, [1]

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.tasks import get_task
    from dlpipe.training.fit import fit_model

    params = project_params("rnn")
    accuracy: dict[str, list[float]] = {cell: [] for cell in CELLS}
    with tempfile.TemporaryDirectory() as scratch:
        base = with_overrides(
            params,
            {
                **scratch_overrides(scratch),
            },
        )
        splits, spec = load_splits(parse_family("rnn", base).dataset, params["seed"])
        for seed in args.seeds:
            for cell in CELLS:
                config = parse_family("rnn", with_overrides(base, {"model.cell": cell, "seed": seed}))
                model, _ = fit_model(config, splits, spec, epochs=args.epochs, callbacks=[])
                result = get_task(config.task).evaluate(
                    model, splits["x_test"], splits["y_test"], spec, config.training.loss, batch_size=64
                )
                accuracy[cell].append(result.metrics["test_accuracy"])
                print(f"seed {seed} {cell:10s} test accuracy {accuracy[cell][-1]:.4f}", flush=True)
    medians = {cell: statistics.median(values) for cell, values in accuracy.items()}
    report(
        {
            **{f"{cell}_test_accuracy_median": medians[cell] for cell in CELLS},
            "epochs": args.epochs,
            "seeds": len(args.seeds),
            "lstm_beats_simple_rnn": medians["lstm"] > medians["simple_rnn"],
            "gru_beats_simple_rnn": medians["gru"] > medians["simple_rnn"],
        }
    )


if __name__ == "__main__":
    main()
