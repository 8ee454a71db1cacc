"""Benchmark 17: where a trained VAE draws its latent vectors from: the standard normal prior, or a
Gaussian mixture of K components fitted to the training images' latent means (`model.sampling:
fitted_mixture`, ex-post density estimation), for several K, all decoded by the same decoder.

Judges the saved model of the last `kedro run --pipelines=vae` (its newest version; `--model`
takes another file, folder or MLflow URI), so no training is repeated. Each density gives 10k
draws, scored by the block's judge (`evaluation.judge_model`, by default the `cnn` pipeline's
classifier): the share recognised with confidence >= 0.9, the Fréchet distance in its features
over the train-vs-test floor, and the smallest class share. K = 1 is a single Gaussian with the
codes' mean and covariance: it separates what the codes' spread and what their clusters add.
A model saved with a mixture also draws from its own (`saved_mixture`, what its run judged).

    .venv/bin/python benchmarks/vae_sampling.py [--model data/06_models/vae/model.keras]
        [--components 1 10 20] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile

from common import PROJECT_ROOT, block_judge_model, judge_line, project_params, report, scratch_overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(PROJECT_ROOT / "data/06_models/vae/model.keras"))
    parser.add_argument("--components", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if min(args.components) < 1:
        parser.error(f"--components: {args.components} holds a count below 1; expected counts >= 1")
    params = project_params("vae")
    overrides = {"evaluation.judge_model": block_judge_model(params)}
    if args.smoke:
        args.components = [1, 2]
        overrides = {
            **overrides,
            "dataset.train_limit": 512,
            "dataset.test_limit": 256,
            "evaluation.judge_model": None,
        }

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.models.deconv import decode_prior_draws
    from dlpipe.models.latent_mixture import draw_from_mixture, fit_latent_mixture
    from dlpipe.models.preprocessing import pixel_scale
    from dlpipe.tasks import get_task
    from dlpipe.tasks.generation import judge_samples

    with tempfile.TemporaryDirectory() as scratch:
        config = parse_family("vae", with_overrides(params, {**scratch_overrides(scratch), **overrides}))
        splits, spec = load_splits(config.dataset, config.seed)
        if args.smoke:
            from dlpipe.training.fit import fit_model

            model, _ = fit_model(config, splits, spec, epochs=1, callbacks=[])
            source = "a VAE trained for one epoch on 512 images"
        else:
            from dlpipe.models.pretrained import load_saved_model
            from dlpipe.models.transfer_base import saved_model_file

            path = saved_model_file(args.model, key="--model")
            model = load_saved_model(path)
            source = str(path)
        count = get_task("generation").train_examples_for_evaluation(spec)
        train_sample = (splits["x_train"][:count], splits["y_train"][:count])
        test_sample = (splits["x_test"], splits["y_test"])
        draws = len(test_sample[0])
        codes = model.encode(splits["x_train"])
        figures: dict[str, float] = {}
        judged = {}

        def score(name: str, drawn) -> None:
            judged.update(
                judge_samples(
                    drawn * pixel_scale(spec), train_sample, test_sample, spec, config.evaluation.judge_model
                )
            )
            metrics = judged["metrics"]
            figures[f"{name}_confident_share"] = metrics["test_confident_share"]
            figures[f"{name}_frechet_over_floor"] = metrics["test_frechet_distance_over_floor"]
            figures[f"{name}_smallest_class_share"] = metrics["test_smallest_class_share"]
            print(f"{name}: {judge_line(metrics)}", flush=True)

        if getattr(model, "mixture_components", 0):
            score("saved_mixture", model.generate(draws, seed=0))  # the run's own evaluation draws
        score("prior", decode_prior_draws(model.decoder, draws, seed=0))
        for components in args.components:
            latent = draw_from_mixture(*fit_latent_mixture(codes, components, config.seed), draws, seed=0)
            score(f"mixture_{components}", model.decoder.predict(latent, batch_size=256, verbose=0))
    print(f"model: {source}\njudge: {judged['judge']}")
    report({**figures, "real_confident_share": judged["metrics"]["test_confident_share_real"]})


if __name__ == "__main__":
    main()
