"""Benchmark 3: dlpipe's Optuna tuning (TPE + median pruning) against KerasTuner's Hyperband.

Same search space (the default `cnn` one, translated to KerasTuner hyperparameters), same data
(a seeded subset of Fashion-MNIST), same model builder and training recipe (no augmentation,
constant learning rate, float32), same wall-clock budget for each. dlpipe runs twice: with its
warm start (the study's first trial is the configured values) and without. Reports the best
validation accuracy each reached and the time each first reached the target. Both are read at
the end of every epoch of every trial, by the same callback on both sides (a trial's epochs count
as soon as they are trained, also when the trial is pruned later). KerasTuner is a
benchmark-only dependency (`pip install keras-tuner`).

    .venv/bin/python benchmarks/tuning_vs_kerastuner.py [--budget 240] [--target 0.86] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from common import load_data, project_params, report


class BudgetExhausted(BaseException):
    """Stops KerasTuner's search loop (a BaseException, so KerasTuner does not retry it)."""


def progress_watch(started: float, progress: list[tuple[float, float]], budget: float | None = None):
    """A Keras callback appending (seconds since ``started``, best val_accuracy so far) per epoch.

    With ``budget`` it raises ``BudgetExhausted`` once the time is spent (for KerasTuner, which has
    no time limit of its own; Optuna's study timeout does the same for dlpipe).
    """
    import keras

    class Watch(keras.callbacks.Callback):
        trials = 0

        def on_epoch_end(self, epoch, logs=None):
            best = max(progress[-1][1] if progress else 0.0, (logs or {}).get("val_accuracy", 0.0))
            progress.append((time.perf_counter() - started, best))
            if budget is not None and time.perf_counter() - started > budget:
                raise BudgetExhausted

        def on_train_end(self, logs=None):
            Watch.trials += 1

    return Watch


def first_time_at(progress: list[tuple[float, float]], target: float) -> float:
    return next((t for t, best in progress if best >= target), float("nan"))


def run_dlpipe(
    params, splits, info, budget: float, *, warm_start: bool
) -> tuple[list[tuple[float, float]], int]:
    from dlpipe.config.schema import parse_family
    from dlpipe.tuning.study import run_study

    progress: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        params["tuning"].update(
            storage_path=f"{scratch}/study.db", n_trials=1000, timeout_s=budget, warm_start=warm_start
        )
        config = parse_family("cnn", params)
        started = time.perf_counter()
        watch = progress_watch(started, progress)
        study = run_study(config, splits, info, fit_callbacks=[watch()])
    return progress, len(study.trials)


def run_kerastuner(params, splits, info, budget: float) -> tuple[list[tuple[float, float]], int]:
    import keras_tuner as kt

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.input_pipeline import make_dataset
    from dlpipe.families import get_family
    from dlpipe.training.fit import encoded_targets
    from dlpipe.training.optimizers import build_optimizer

    base = parse_family("cnn", params)
    space = base.tuning.search_space
    tuning = base.tuning

    def build(hp):
        overrides = {}
        for entry in space:
            if entry.type == "int":
                overrides[entry.path] = hp.Int(
                    entry.path, int(entry.low), int(entry.high), step=int(entry.step or 1)
                )
            elif entry.type == "float":
                sampling = "log" if entry.log else "linear"
                overrides[entry.path] = hp.Float(entry.path, entry.low, entry.high, sampling=sampling)
            else:
                overrides[entry.path] = hp.Choice(entry.path, entry.choices)
        config = parse_family("cnn", with_overrides(base.model_dump(), overrides))
        model = get_family("cnn").build(info, config)
        model.compile(
            optimizer=build_optimizer(config.training.optimizer),
            loss=config.training.loss,
            metrics=["accuracy"],
        )
        return model

    common = dict(batch_size=base.training.batch_size, seed=base.seed)
    train = make_dataset(
        splits["x_train"][: tuning.train_subset],
        encoded_targets(base, splits["y_train"][: tuning.train_subset], info),
        training=True,
        **common,
    )
    validation = make_dataset(
        splits["x_val"][: tuning.validation_subset],
        encoded_targets(base, splits["y_val"][: tuning.validation_subset], info),
        training=False,
        **common,
    )

    progress: list[tuple[float, float]] = []
    started = time.perf_counter()
    Watch = progress_watch(started, progress, budget)

    with tempfile.TemporaryDirectory() as scratch:
        tuner = kt.Hyperband(
            build,
            objective="val_accuracy",
            max_epochs=tuning.epochs,
            factor=3,
            seed=base.seed,
            directory=scratch,
            project_name="bench",
            overwrite=True,
        )
        # KerasTuner imports TensorBoard's HParams plugin on every trial, even with no TensorBoard
        # callback; TensorFlow 2.21 no longer installs tensorboard, and this benchmark uses none.
        tuner._configure_tensorboard_dir = lambda callbacks, trial, execution=0: None
        try:
            while time.perf_counter() - started < budget:
                tuner.search(train, validation_data=validation, callbacks=[Watch()], verbose=0, shuffle=False)
                tuner.oracle.hyperband_iterations += 1  # keep searching until the budget is spent
        except BudgetExhausted:
            pass
    return progress, Watch.trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for each tuner")
    parser.add_argument("--target", type=float, default=0.86)
    parser.add_argument("--epochs", type=int, default=3, help="max epochs per trial, both tuners")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    params = project_params("cnn")
    params["training"]["verbose"] = 0
    # One training recipe for both tuners: no augmentation, a constant learning rate.
    params["augmentation"]["ops"] = []
    params["training"]["lr_schedule"] = {"name": "constant"}
    params["tuning"].update(epochs=args.epochs, train_subset=8000, validation_subset=2000)
    if args.smoke:
        args.budget, args.target = 25.0, 0.3
        params["tuning"].update(epochs=2, train_subset=256, validation_subset=128)
    splits, info = load_data(params, train_limit=params["tuning"]["train_subset"] + 2000)

    arms = {
        "dlpipe": lambda: run_dlpipe(params, splits, info, args.budget, warm_start=True),
        "dlpipe_cold": lambda: run_dlpipe(params, splits, info, args.budget, warm_start=False),
        "kerastuner": lambda: run_kerastuner(params, splits, info, args.budget),
    }
    figures = {"budget_s": args.budget, "target_val_accuracy": args.target}
    for name, run in arms.items():
        progress, trials = run()
        # Optuna starts no trial after its timeout but finishes the one in flight: epochs past the
        # budget do not count, on any side.
        progress = [(t, best) for t, best in progress if t <= args.budget]
        print(f"{name} progress (s, best val_accuracy): {[(round(t), round(b, 4)) for t, b in progress]}")
        figures[f"{name}_trials"] = trials
        figures[f"{name}_best_val_accuracy"] = progress[-1][1] if progress else 0.0
        figures[f"{name}_time_to_target_s"] = first_time_at(progress, args.target)
    theirs_time = figures["kerastuner_time_to_target_s"]
    figures["time_to_target_ratio"] = figures["dlpipe_time_to_target_s"] / theirs_time
    figures["cold_time_to_target_ratio"] = figures["dlpipe_cold_time_to_target_s"] / theirs_time
    report(figures)


if __name__ == "__main__":
    main()
