"""Generation: the model learns the distribution of its training images and draws new ones."""

from __future__ import annotations

import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import pixel_scale
from dlpipe.tasks.base import Evaluation
from dlpipe.tasks.images import ImageTask

# A generated image counts as recognisable when the judge gives one class at least this probability.
CONFIDENT = 0.9
# A judge trained on the fly trains on the first training images; the next ones, real images it
# never saw, are compared with the test images for the floor of the Fréchet distance. (A saved
# judge may have trained on them: so would a perfect generator's images resemble them.)
JUDGE_IMAGES = 20_000
FLOOR_IMAGES = 10_000


def judge_and_held_out(train_sample: tuple[np.ndarray, np.ndarray]):
    """``((images, labels) a judge trained on the fly trains on, (images, labels) held out)``: the
    first ``JUDGE_IMAGES`` (at most two thirds of a smaller sample), and the rest."""
    images, labels = train_sample
    cut = min(JUDGE_IMAGES, (2 * len(images)) // 3)
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


class Generation(ImageTask):
    """A generative model of images, judged by what it draws.

    Its model is a ``keras.Model`` with its own ``train_step``/``test_step`` and a method
    ``generate(count, seed)`` returning ``count`` new images as floats in [0, 1]; it may add
    figures of its own through its family's ``evaluation_figures``. The evaluation reports the
    model's own test scores (``test_<metric>``), then has a classifier of the real images (the
    one saved at ``evaluation.judge_model``, or one dlpipe trains; :mod:`dlpipe.evaluation.judge`)
    judge as many generated images as there are test images: the Fréchet distance between its
    features of generated and of test images, beside the same distance between as many held-out
    training images and the test images, the floor a perfect generator would reach; the share
    it recognises with confidence >= 0.9, beside that share on the test images; and the classes
    it assigns.
    """

    name = "generation"
    losses = ("binary_crossentropy", "mean_squared_error")
    default_loss = "binary_crossentropy"
    metrics: dict[str, str] = {}
    main_metric = "val_loss"
    extra_test_metrics = {
        "test_frechet_distance": "minimize",
        "test_frechet_distance_over_floor": "minimize",
        "test_confident_share": "maximize",
        "test_smallest_class_share": "maximize",
    }
    served = False
    judges_samples = True
    examples_for_evaluation = JUDGE_IMAGES + FLOOR_IMAGES

    def compile_metrics(self, loss: str) -> list:
        return []

    def evaluate(
        self,
        model,
        inputs,
        targets,
        spec: DataSpec,
        loss: str,
        batch_size: int,
        train_sample=None,
        settings=None,
    ) -> Evaluation:
        from dlpipe.evaluation.generative_plots import plot_class_histogram
        from dlpipe.evaluation.plots import plot_image_grid

        scale = pixel_scale(spec)
        metrics = {
            f"test_{name}": value
            for name, value in self.model_scores(model, inputs, targets, spec, batch_size).items()
        }
        samples = np.asarray(model.generate(len(inputs), seed=0))
        figures = {"samples": plot_image_grid(samples[:64], [""] * 64, "Images drawn by the model")}
        report: dict = {"num_generated": len(samples)}
        if train_sample is not None and spec.target == "class":
            judge_model = settings.judge_model if settings is not None else None
            judged = judge_samples(samples * scale, train_sample, (inputs, targets), spec, judge_model)
            metrics.update(judged.pop("metrics"))
            report.update(judged)
            figures["generated_classes"] = plot_class_histogram(judged["class_shares"])
        report.update(metrics)
        return Evaluation(metrics=metrics, report=report, figures=figures)

    def model_scores(self, model, inputs, targets, spec, batch_size) -> dict[str, float]:
        """What the model's ``test_step`` reports on the test images (the terms of its loss)."""
        if not model.compiled:  # reloaded without its training configuration
            model.compile()
        data = self.evaluation_batches(inputs, targets, spec, batch_size)
        return {
            name: float(value) for name, value in model.evaluate(data, verbose=0, return_dict=True).items()
        }


def judge_samples(
    generated, train_sample, test_sample, spec: DataSpec, judge_model: str | None = None
) -> dict:
    """The judge's verdict on raw ``generated`` images: metrics, class shares and its description.
    The judge is the classifier saved at ``judge_model``, or one trained on ``train_sample``."""
    from dlpipe.evaluation.judge import find_judge, frechet_distance

    judge_sample, held_out = judge_and_held_out(train_sample)
    judge = find_judge(judge_sample, spec, judge_model)
    probabilities, generated_features = judge.read(generated)
    test_probabilities, test_features = judge.read(test_sample[0])
    distance = frechet_distance(generated_features, test_features)
    # As many real images as generated ones, so both distances carry the same sampling noise.
    floor = frechet_distance(judge.embed(held_out[0][: len(generated)]), test_features)
    counts = np.bincount(np.argmax(probabilities, axis=-1), minlength=spec.num_classes)
    shares = counts / max(1, len(generated))
    metrics = {
        "test_frechet_distance": distance,
        "test_frechet_distance_floor": floor,
        "test_frechet_distance_over_floor": distance / max(floor, 1e-12),
        "test_confident_share": float(np.mean(probabilities.max(axis=-1) >= CONFIDENT)),
        # The same share on the real test images: what a perfect generator would reach.
        "test_confident_share_real": float(np.mean(test_probabilities.max(axis=-1) >= CONFIDENT)),
        "test_smallest_class_share": float(shares.min()),
        "judge_test_accuracy": float(np.mean(np.argmax(test_probabilities, axis=-1) == test_sample[1])),
    }
    return {
        "metrics": metrics,
        "class_shares": dict(zip(spec.class_names, shares.round(4).tolist(), strict=True)),
        "judge": judge.description,
        "frechet_distance_features": "the judge's penultimate layer (FID formula, dlpipe classifier "
        "features)",
    }
