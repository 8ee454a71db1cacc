"""Benchmark 1: dlpipe's training stage against a plain Keras script, same model/data/batch/epochs.

The two alternate in one process, in ABBA order (plain then dlpipe, then dlpipe then plain).
Each side trains the default `cnn` model from scratch; the figure is training samples per second
over `fit`, and the ratio dlpipe / plain of each pair. The plain side imports nothing from dlpipe.

    .venv/bin/python benchmarks/training_overhead.py            # 3 pairs, 10k examples, 2 epochs
    .venv/bin/python benchmarks/training_overhead.py --smoke    # tiny, to check it still runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from common import Stopwatch, load_data, project_params, report, summary


def plain_keras_run(splits, epochs: int, batch_size: int, learning_rate: float, seed: int) -> float:
    """The same model and input pipeline written directly in Keras; returns samples/s over fit."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 3, padding="valid", activation="relu")(inputs)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    steps = epochs * -(-len(splits["x_train"]) // batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    def pipeline(x, y, training):
        data = tf.data.Dataset.from_tensor_slices((x, y))
        data = data.map(
            lambda image, label: (tf.cast(image, tf.float32) / 255.0, label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        data = data.cache()
        if training:
            data = data.shuffle(min(10_000, len(x)), seed=seed)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    train = pipeline(splits["x_train"], splits["y_train"], True)
    validation = pipeline(splits["x_val"], splits["y_val"], False)
    with Stopwatch() as watch:
        model.fit(train, validation_data=validation, epochs=epochs, verbose=0, shuffle=False)
    return len(splits["x_train"]) * epochs / watch.seconds


def dlpipe_run(params, splits, info, epochs: int) -> float:
    """dlpipe's training stage (fit_model with the final training's callbacks); samples/s over fit."""
    import keras

    from dlpipe.config.schema import parse_family
    from dlpipe.training.callbacks import build_training_callbacks
    from dlpipe.training.fit import fit_model

    keras.backend.clear_session()
    with tempfile.TemporaryDirectory() as scratch:
        params["training"].update(checkpoint_dir=f"{scratch}/ckpt", backup_dir=f"{scratch}/backup")
        config = parse_family("cnn", params)
        callbacks = build_training_callbacks(config.training)
        with Stopwatch() as watch:
            fit_model(config, splits, info, epochs=epochs, callbacks=callbacks)
    return len(splits["x_train"]) * epochs / watch.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one pair")
    args = parser.parse_args()
    if args.smoke:
        args.pairs, args.train, args.epochs = 1, 256, 1

    params = project_params("cnn")
    params["augmentation"]["ops"] = []  # the plain script does not augment
    params["training"].update(verbose=0, epochs=args.epochs)
    # Early stopping would cut one side short; the benchmark compares full epochs.
    params["training"]["early_stopping"]["patience"] = args.epochs + 1
    splits, info = load_data(params, train_limit=args.train)
    batch, rate, seed = (
        params["training"]["batch_size"],
        params["training"]["optimizer"]["learning_rate"],
        params["seed"],
    )

    plain, ours, ratios = [], [], []
    for pair in range(args.pairs):
        # ABBA order: whichever side runs first in a pair is not always the same one.
        if pair % 2 == 0:
            plain.append(plain_keras_run(splits, args.epochs, batch, rate, seed))
            ours.append(dlpipe_run(params, splits, info, args.epochs))
        else:
            ours.append(dlpipe_run(params, splits, info, args.epochs))
            plain.append(plain_keras_run(splits, args.epochs, batch, rate, seed))
        ratios.append(ours[-1] / plain[-1])
        print(
            f"pair {pair + 1}: plain {plain[-1]:.0f} samples/s, dlpipe {ours[-1]:.0f} samples/s", flush=True
        )
    print(f"plain samples/s: {summary(plain)}")
    print(f"dlpipe samples/s: {summary(ours)}")
    print(f"ratio dlpipe/plain: {summary(ratios)}")
    report(
        {
            "plain_samples_per_s": statistics.median(plain),
            "dlpipe_samples_per_s": statistics.median(ours),
            "overhead_ratio_median": statistics.median(ratios),
            "overhead_ratio_min": min(ratios),
            "overhead_ratio_max": max(ratios),
        }
    )


if __name__ == "__main__":
    main()
