"""Benchmark 8: the VAE's KL weight beta against what its drawn images look like to a classifier.

Trains the `vae` block on the full Fashion-MNIST training split once per beta, everything else
equal (latent size, epochs, optimizer; no tuning, no early stopping), draws 10k images from the
prior and has the generation task's judge score them: the share recognised with confidence >= 0.9
(beside the share on real test images), the Fréchet distance in the judge's features over the
train-vs-test floor, and the test negative ELBO. A smaller beta trades the prior's fit (the KL
term) for sharper reconstructions.

    .venv/bin/python benchmarks/vae_beta.py [--betas 1 0.5 0.25] [--latent-dim 16] [--epochs 10] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile

from common import project_params, report, scratch_overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    limits = {}
    if args.smoke:
        args.betas, args.epochs = [1.0], 1
        limits = {"dataset.train_limit": 512, "dataset.test_limit": 256}

    from dlpipe.config.schema import parse_family, with_overrides
    from dlpipe.data.loading import load_splits
    from dlpipe.models.preprocessing import pixel_scale
    from dlpipe.tasks import get_task
    from dlpipe.tasks.generation import judge_samples
    from dlpipe.training.fit import fit_model

    params = project_params("vae")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        base = with_overrides(
            params,
            {
                **scratch_overrides(scratch),
                "model.latent_dim": args.latent_dim,
                "model.sampling": "prior",
                **limits,
            },
        )
        splits, spec = load_splits(parse_family("vae", base).dataset, params["seed"])
        task = get_task("generation")
        count = task.train_examples_for_evaluation(spec)
        train_sample = (splits["x_train"][:count], splits["y_train"][:count])
        test_sample = (splits["x_test"], splits["y_test"])
        for beta in args.betas:
            config = parse_family("vae", with_overrides(base, {"model.beta": beta}))
            model, _ = fit_model(config, splits, spec, epochs=args.epochs, callbacks=[])
            drawn = model.generate(len(splits["x_test"]), seed=0) * pixel_scale(spec)
            judged = judge_samples(drawn, train_sample, test_sample, spec)["metrics"]
            scores = task.model_scores(model, *test_sample, spec, batch_size=256)
            name = f"beta_{beta:g}"
            figures[f"{name}_confident_share"] = judged["test_confident_share"]
            figures[f"{name}_frechet_over_floor"] = judged["test_frechet_distance_over_floor"]
            figures[f"{name}_negative_elbo"] = scores["negative_elbo"]
            print(
                f"beta {beta:g}: confident {judged['test_confident_share']:.3f} "
                f"(real {judged['test_confident_share_real']:.3f}), Fréchet/floor "
                f"{judged['test_frechet_distance_over_floor']:.1f}, "
                f"negative ELBO {scores['negative_elbo']:.1f}",
                flush=True,
            )
        figures["real_confident_share"] = judged["test_confident_share_real"]
    report({**figures, "epochs": args.epochs, "latent_dim": args.latent_dim})


if __name__ == "__main__":
    main()
