"""Benchmark 9: the encoder-decoder without attention, with additive and with dot-product
attention, at equal epochs.

Trains the `seq2seq` block (grapheme to phoneme on the CMU Pronouncing Dictionary) once per
attention type with everything else equal: the block's cell, sizes, optimizer, the first
``--train`` training words, ``--epochs`` epochs, no early stopping. Decodes the whole test split
greedily. Figures: word and phoneme error rates per attention type, overall and on the longest
tenth of the test words, and whether each attention beats none on those longest words.

    .venv/bin/python benchmarks/seq2seq_attention.py [--epochs N] [--train N] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile

from common import Stopwatch, project_params, report, scratch_overrides

ATTENTION = ("none", "additive", "dot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train", type=int, default=30_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    test_limit = None
    if args.smoke:
        args.epochs, args.train, test_limit = 1, 300, 200

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.tasks import get_task
    from dlpipe.training.fit import fit_model

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        base = with_overrides(
            project_params("seq2seq"),
            {
                **scratch_overrides(scratch),
                "dataset.train_limit": args.train,
                "dataset.test_limit": test_limit,
            },
        )
        config = parse_family("seq2seq", base)
        splits, spec = load_splits(config.dataset, config.seed)
        for attention in ATTENTION:
            config = parse_family("seq2seq", with_overrides(base, {"model.attention": attention}))
            with Stopwatch() as watch:
                model, _ = fit_model(config, splits, spec, epochs=args.epochs, callbacks=[])
            metrics = (
                get_task(config.task)
                .evaluate(
                    model, splits["x_test"], splits["y_test"], spec, config.training.loss, batch_size=512
                )
                .metrics
            )
            for name in ("word_error_rate", "token_error_rate", "word_error_rate_longest"):
                figures[f"{attention}_{name}"] = metrics[f"test_{name}"]
            figures[f"{attention}_fit_s"] = watch.seconds
            print(
                f"{attention:9s} WER {metrics['test_word_error_rate']:.4f} PER "
                f"{metrics['test_token_error_rate']:.4f} WER on the longest words "
                f"{metrics['test_word_error_rate_longest']:.4f} ({watch.seconds:.0f} s)",
                flush=True,
            )
    for attention in ATTENTION[1:]:
        figures[f"{attention}_beats_none_on_longest"] = (
            figures[f"{attention}_word_error_rate_longest"] < figures["none_word_error_rate_longest"]
        )
    report(
        {
            **figures,
            "epochs": args.epochs,
            "train_words": len(splits["x_train"]),
            "test_words": len(splits["x_test"]),
        }
    )


if __name__ == "__main__":
    main()
