"""Benchmark 10: the vision transformer against the convolutional network at equal training time.

Trains the `transformer_vit` block and the `cnn` block (each with its own committed model and
optimizer, no tuning) on the same Fashion-MNIST training split, each for the same wall-time
budget: training stops at the first batch past ``--budget-s`` seconds (or after ``--max-epochs``
epochs). Both train at a constant learning rate: a schedule sized in epochs would not fit a
budget in seconds. Scores both on the whole test split. Figures: each one's test accuracy, epochs done
and seconds trained, and whether the transformer matches the CNN.

    .venv/bin/python benchmarks/vit_vs_cnn.py [--budget-s S] [--max-epochs N] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import project_params, report, scratch_overrides

BLOCKS = ("cnn", "transformer_vit")


def time_budget(seconds: float):
    """A Keras callback that stops training at the end of the first batch after ``seconds`` of
    training and keeps the seconds trained in ``elapsed``."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.started >= seconds:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.elapsed = time.perf_counter() - self.started

    return TimeBudget()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=300.0)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    limits = {}
    if args.smoke:
        args.budget_s, args.max_epochs = 5.0, 1
        limits = {"dataset.train_limit": 400, "dataset.test_limit": 200}

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.tasks import get_task
    from dlpipe.training.fit import fit_model

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for block in BLOCKS:
            overrides = {
                **scratch_overrides(f"{scratch}/{block}"),
                "training.lr_schedule": {"name": "constant"},
                **limits,
            }
            config = parse_family(block, with_overrides(project_params(block), overrides))
            splits, spec = load_splits(config.dataset, config.seed)
            budget = time_budget(args.budget_s)
            model, history = fit_model(config, splits, spec, epochs=args.max_epochs, callbacks=[budget])
            metrics = (
                get_task(config.task)
                .evaluate(
                    model, splits["x_test"], splits["y_test"], spec, config.training.loss, batch_size=512
                )
                .metrics
            )
            figures[f"{block}_test_accuracy"] = metrics["test_accuracy"]
            figures[f"{block}_epochs"] = len(history["loss"])
            figures[f"{block}_trained_s"] = budget.elapsed
            figures[f"{block}_parameters"] = model.count_params()
            print(
                f"{block:16s} test accuracy {metrics['test_accuracy']:.4f} after {len(history['loss'])} "
                f"epoch(s), {budget.elapsed:.0f} s",
                flush=True,
            )
    figures["vit_matches_cnn"] = figures["transformer_vit_test_accuracy"] >= figures["cnn_test_accuracy"]
    report(figures)


if __name__ == "__main__":
    main()
