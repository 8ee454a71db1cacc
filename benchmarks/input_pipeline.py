"""Benchmark 2: input-pipeline headroom: tf.data with augmentation alone against training's appetite.

Input rate: samples/s of dlpipe's training pipeline (cast, cache, shuffle, batch, augment,
prefetch; the model rescales the raw pixels itself) iterated with no model, after a first pass
fills the cache. Consumption rate: samples/s of the default `cnn` training step fed from memory.
Headroom = input rate / consumption rate, for the default augmentation and for all nine ops
together.

    .venv/bin/python benchmarks/input_pipeline.py [--smoke]
"""

from __future__ import annotations

import argparse
import statistics

from common import Stopwatch, load_data, project_params, report, summary

ALL_OPS = [
    {"op": "rotation", "factor": 0.05},
    {"op": "zoom", "factor": 0.1},
    {"op": "flip", "mode": "horizontal"},
    {"op": "crop", "padding": 2},
    {"op": "shear", "factor": 0.1},
    {"op": "translation", "factor": 0.08},
    {"op": "noise", "stddev": 0.03},
    {"op": "brightness", "factor": 0.1},
    {"op": "contrast", "factor": 0.1},
]


def input_rate(splits, info, params, ops, repeats: int) -> list[float]:
    from dlpipe.augmentation import build_augmenter
    from dlpipe.config.schema import parse_family
    from dlpipe.data.input_pipeline import make_dataset
    from dlpipe.training.fit import encoded_targets

    config = parse_family("cnn", params)
    dataset = make_dataset(
        splits["x_train"],
        encoded_targets(config, splits["y_train"], info),
        batch_size=config.training.batch_size,
        training=True,
        seed=config.seed,
        augmenter=build_augmenter(ops, info, config.seed),
    )
    for _ in dataset:  # fills the cache, as the first epoch of training does
        pass
    rates = []
    for _ in range(repeats):
        with Stopwatch() as watch:
            for _ in dataset:
                pass
        rates.append(len(splits["x_train"]) / watch.seconds)
    return rates


def consumption_rate(splits, info, params, repeats: int) -> list[float]:
    """Training steps on batches already in memory: what the model can eat."""
    import keras

    from dlpipe.config.schema import parse_family
    from dlpipe.families import get_family
    from dlpipe.training.fit import encoded_targets
    from dlpipe.training.optimizers import build_optimizer

    config = parse_family("cnn", params)
    model = get_family("cnn").build(info, config)
    model.compile(optimizer=build_optimizer(config.training.optimizer), loss=config.training.loss)
    batch = config.training.batch_size
    images = splits["x_train"][:batch].astype("float32")  # raw pixels: the model rescales them
    labels = encoded_targets(config, splits["y_train"][:batch], info)
    model.train_on_batch(images, labels)  # traces the step
    steps = max(1, len(splits["x_train"]) // batch)
    rates = []
    for _ in range(repeats):
        with Stopwatch() as watch:
            for _ in range(steps):
                model.train_on_batch(images, labels)
        rates.append(steps * batch / watch.seconds)
    keras.backend.clear_session()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.train, args.repeats = 512, 1

    params = project_params("cnn")
    splits, info = load_data(params, train_limit=args.train)
    default_ops = params["augmentation"]["ops"]
    default_input = input_rate(splits, info, params, default_ops, args.repeats)
    all_input = input_rate(splits, info, params, ALL_OPS, args.repeats)
    consumption = consumption_rate(splits, info, params, args.repeats)
    print(
        f"input samples/s, default augmentation {[op['op'] for op in default_ops]}: {summary(default_input)}"
    )
    print(f"input samples/s, all nine ops: {summary(all_input)}")
    print(f"training step samples/s: {summary(consumption)}")
    report(
        {
            "input_default_samples_per_s": statistics.median(default_input),
            "input_all_ops_samples_per_s": statistics.median(all_input),
            "training_step_samples_per_s": statistics.median(consumption),
            "headroom_default": statistics.median(default_input) / statistics.median(consumption),
            "headroom_all_ops": statistics.median(all_input) / statistics.median(consumption),
        }
    )


if __name__ == "__main__":
    main()
