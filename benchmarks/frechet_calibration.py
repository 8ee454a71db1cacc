"""Benchmark 16: what a Fréchet-distance ratio means, measured on real images made slightly worse.

The generation task reports the Fréchet distance between a judge's features of generated and of
test images over the floor, the same distance for as many held-out real training images. This
benchmark puts real images through small, known degradations (a Gaussian blur, pixel noise, a
blend with another image, a horizontal flip, a class made rarer) and reports each one's distance
over the same floor, in the features of the judge the `gan` block names
(`evaluation.judge_model`, by default the `cnn` pipeline's newest saved classifier; trained on the
fly when there is none). A generator's ratio can then be read against images whose flaw is known.

    .venv/bin/python benchmarks/frechet_calibration.py [--smoke]
"""

from __future__ import annotations

import argparse

import numpy as np

from common import block_judge_model, load_data, project_params, report

REAL_IMAGES = 10_000


def degradations(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each degradation of raw ``images`` (0-255 floats), by name."""
    from scipy.ndimage import gaussian_filter

    def blurred(sigma: float) -> np.ndarray:
        return np.stack([gaussian_filter(image, sigma=(sigma, sigma, 0)) for image in images])

    def noisy(level: float) -> np.ndarray:
        return np.clip(images + rng.normal(0.0, level, images.shape), 0.0, 255.0)

    rarer = ~((labels == labels[0]) & (rng.random(len(labels)) < 0.5))  # half of one class dropped
    return {
        "blur_0.5px": blurred(0.5),
        "blur_1px": blurred(1.0),
        "noise_10": noisy(10.0),
        "noise_25": noisy(25.0),
        "blend_30pct": 0.7 * images + 0.3 * images[rng.permutation(len(images))],
        "flipped": images[:, :, ::-1],
        "one_class_halved": images[rarer],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    params = project_params("gan")
    judge_model = block_judge_model(params)
    limits = {"train_limit": None, "test_limit": None}
    if args.smoke:
        judge_model, limits = None, {"train_limit": 600, "test_limit": 200}

    from dlpipe.evaluation.judge import find_judge, frechet_distance
    from dlpipe.tasks import get_task
    from dlpipe.tasks.generation import judge_and_held_out

    splits, spec = load_data(params, **limits)
    count = get_task("generation").train_examples_for_evaluation(spec)
    judge_sample, (held_out, held_labels) = judge_and_held_out(
        (splits["x_train"][:count], splits["y_train"][:count])
    )
    judge = find_judge(judge_sample, spec, judge_model)
    real = held_out[:REAL_IMAGES].astype("float32")
    test_features = judge.embed(splits["x_test"])
    floor = frechet_distance(judge.embed(real), test_features)
    print(f"judge: {judge.description}\nfloor (held-out training images against test images): {floor:.3f}")
    figures: dict[str, float] = {"floor": floor}
    for name, images in degradations(real, held_labels[:REAL_IMAGES], np.random.default_rng(0)).items():
        ratio = frechet_distance(judge.embed(images), test_features) / floor
        figures[f"{name}_over_floor"] = ratio
        print(f"{name}: Fréchet distance {ratio:.1f} times the floor", flush=True)
    report(figures)


if __name__ == "__main__":
    main()
