"""Benchmark 15: the GAN's images drawn by its generator against those drawn by the generator's
moving average (`model.ema_decay`), epoch by epoch, in one training.

Trains the `gan` block on the full Fashion-MNIST training split (no tuning, no early stopping).
After every epoch both generators draw 10k images from the same latent vectors, and the generation
task's judge (the block's `evaluation.judge_model`, by default the `cnn` pipeline's newest saved
classifier; trained on the fly when there is none) scores each: the Fréchet distance in its
features over the train-vs-test floor, the share recognised with confidence >= 0.9 and the
smallest class share. The moving average changes what is drawn, not how the generator trains, so
both columns come from the same run. The decay ramps up over the first steps; the figures
end with the one reached.

    .venv/bin/python benchmarks/gan_average.py [--epochs 12] [--ema-decay 0.999] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile

from common import block_judge_model, judge_line, project_params, report, scratch_overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if not 0.0 < args.ema_decay < 1.0:
        parser.error(f"--ema-decay: {args.ema_decay} draws no average; expected a decay in (0, 1)")
    params = project_params("gan")
    overrides = {"model.ema_decay": args.ema_decay, "evaluation.judge_model": block_judge_model(params)}
    if args.smoke:
        args.epochs = 1
        overrides = {
            **overrides,
            "dataset.train_limit": 512,
            "dataset.test_limit": 256,
            "model.frechet_examples": 64,
            "evaluation.judge_model": None,
        }

    import keras

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.models.deconv import decode_prior_draws
    from dlpipe.models.preprocessing import pixel_scale
    from dlpipe.tasks import get_task
    from dlpipe.tasks.generation import judge_samples
    from dlpipe.training.fit import fit_model

    with tempfile.TemporaryDirectory() as scratch:
        config = parse_family("gan", with_overrides(params, {**scratch_overrides(scratch), **overrides}))
        splits, spec = load_splits(config.dataset, config.seed)
        count = get_task("generation").train_examples_for_evaluation(spec)
        train_sample = (splits["x_train"][:count], splits["y_train"][:count])
        test_sample = (splits["x_test"], splits["y_test"])
        rows: list[dict[str, dict[str, float]]] = []
        judge_names: set[str] = set()

        class ScoreBoth(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                row = {}
                for name, generator in (
                    ("raw", self.model.generator),
                    ("average", self.model.generator_average),
                ):
                    drawn = decode_prior_draws(generator, len(test_sample[0]), seed=0) * pixel_scale(spec)
                    judged = judge_samples(
                        drawn, train_sample, test_sample, spec, config.evaluation.judge_model
                    )
                    judge_names.add(judged["judge"])
                    row[name] = judged["metrics"]
                rows.append(row)
                print(
                    f"epoch {epoch + 1}: " + "; ".join(f"{name} {judge_line(m)}" for name, m in row.items()),
                    flush=True,
                )

        model, _ = fit_model(config, splits, spec, epochs=args.epochs, callbacks=[ScoreBoth()])
        # The decay ramps up as (1 + t) / (10 + t) over the generator's first steps t.
        steps = int(model.optimizer.iterations.numpy())
        decay_reached = min(config.model.ema_decay, (1 + steps) / (10 + steps))
    print(f"judge: {judge_names.pop()}")
    last = rows[-1]
    figures = {
        f"{name}_{key}": last[name][f"test_{key}"]
        for name in ("raw", "average")
        for key in ("frechet_distance_over_floor", "confident_share", "smallest_class_share")
    }
    figures["average_over_raw_frechet"] = (
        last["average"]["test_frechet_distance"] / last["raw"]["test_frechet_distance"]
    )
    report(
        {
            **figures,
            "epochs": args.epochs,
            "ema_decay": config.model.ema_decay,
            "decay_reached": decay_reached,
        }
    )


if __name__ == "__main__":
    main()
