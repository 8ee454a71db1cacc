"""Benchmark: mixed precision and XLA against float32, the default `cnn` model, same data and epochs.

Each setting (`training.mixed_precision`, `training.jit_compile`) trains the default `cnn` block
through dlpipe's `fit_model`. The settings take turns in rounds, so a slow spell of the machine
hits them alike. The figures are the median training samples per second after the first epoch
(which includes tracing and XLA compilation), its ratio against float32 measured in the same
round, and the test accuracy reached. Without a GPU, `mixed_float16` is emulated and hundreds of
times slower: it trains on a few batches, once, for its speed only. The first line names the
device, so the same command gives the GPU figures on a GPU machine.

    .venv/bin/python benchmarks/mixed_precision.py            # 3 rounds, 10k examples, 3 epochs
    .venv/bin/python benchmarks/mixed_precision.py --smoke    # tiny, to check it still runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from common import load_data, project_params, report, scratch_overrides, summary

SETTINGS = {
    "float32": {},
    "mixed_bfloat16": {"training.mixed_precision": "mixed_bfloat16"},
    "mixed_float16": {"training.mixed_precision": "mixed_float16"},
    "xla": {"training.jit_compile": True},
    "xla_mixed_bfloat16": {"training.jit_compile": True, "training.mixed_precision": "mixed_bfloat16"},
}


class EpochTimes:
    """Seconds of every epoch (a Keras callback, built lazily so that importing stays cheap)."""

    def __new__(cls):
        import keras

        class _Times(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return _Times()


def one_run(params, splits, spec, overrides, epochs: int, scratch: str) -> tuple[float, float]:
    """Samples per second over the epochs after the first, and the test accuracy."""
    import keras

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.evaluation.learning_curve import test_score
    from dlpipe.training.fit import fit_model

    config = parse_family("cnn", with_overrides(params, {**scratch_overrides(scratch), **overrides}))
    keras.backend.clear_session()
    times = EpochTimes()
    model, _ = fit_model(config, splits, spec, epochs=epochs, callbacks=[times])
    steady = times.seconds[1:] or times.seconds
    samples_per_s = len(splits["x_train"]) * len(steady) / sum(steady)
    return samples_per_s, test_score(model, config, splits, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.train, args.epochs = 1, 256, 2
    import keras

    gpus = keras.distribution.list_devices("gpu")
    device = f"{len(gpus)} GPU(s): {', '.join(gpus)}" if gpus else "CPU only"
    print(f"device: {device}", flush=True)
    params = project_params("cnn")
    params["augmentation"]["ops"] = []  # the model's arithmetic, not the augmentation, is measured
    splits, spec = load_data(params, train_limit=args.train, test_limit=2000 if not args.smoke else 200)
    speed: dict[str, list[float]] = {name: [] for name in SETTINGS}
    accuracy: dict[str, list[float]] = {name: [] for name in SETTINGS}
    ratios: dict[str, list[float]] = {name: [] for name in SETTINGS}
    # A CPU emulates float16 hundreds of times slower: that setting gets a few batches, once.
    emulated = {} if gpus else {"mixed_float16": 32 if args.smoke else 128}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):
            for name, overrides in SETTINGS.items():
                if name in emulated and round_number > 0:
                    continue
                data = {**splits, "x_train": splits["x_train"][: emulated.get(name)]}
                data["y_train"] = splits["y_train"][: emulated.get(name)]
                epochs = 2 if name in emulated else args.epochs  # the second epoch is the one timed
                samples, score = one_run(params, data, spec, overrides, epochs, f"{scratch}/{name}")
                speed[name].append(samples)
                accuracy[name].append(score)
                ratios[name].append(samples / speed["float32"][-1])
                print(f"round {round_number + 1} {name}: {samples:.0f} samples/s, test accuracy {score:.4f}")
    for name, count in emulated.items():
        print(f"{name}: emulated on this CPU, measured once on {count} training examples")
    print()
    for name in SETTINGS:
        print(f"{name:>20}: {summary(speed[name])} samples/s, ratio to float32 {summary(ratios[name])}")
    figures: dict[str, object] = {"device": "gpu" if gpus else "cpu"}
    for name in SETTINGS:
        figures[f"{name}_samples_per_s"] = statistics.median(speed[name])
        figures[f"{name}_ratio_to_float32"] = statistics.median(ratios[name])
        figures[f"{name}_test_accuracy"] = statistics.median(accuracy[name])
    report(figures)


if __name__ == "__main__":
    main()
