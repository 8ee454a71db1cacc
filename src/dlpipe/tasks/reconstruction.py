"""Reconstruction: the model learns to give back its own (image) input through a smaller code."""

from __future__ import annotations

import keras
import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import pixel_scale
from dlpipe.tasks.base import Evaluation, predict
from dlpipe.tasks.images import ImageTask

# The layer whose output is the learned code: the linear probe reads it.
CODE_LAYER = "code"
# The layer that corrupts the input of a denoising model while it trains (identity at inference).
CORRUPTION_LAYER = "corruption"


class Reconstruction(ImageTask):
    """Inputs are images; the model outputs the same images, rescaled to [0, 1].

    Its model must name its bottleneck layer ``code``. The evaluation scores the reconstruction
    per pixel (MSE and binary cross-entropy) and the code itself: a linear probe, logistic
    regression fitted on the codes of ``examples_for_evaluation`` training images, is scored
    on the test codes, beside the same probe on raw pixels.
    """

    name = "reconstruction"
    losses = ("binary_crossentropy", "mean_squared_error", "mean_absolute_error")
    default_loss = "binary_crossentropy"
    metrics = {"mse": "minimize"}
    main_metric = "val_loss"
    extra_test_metrics = {
        "test_mse": "minimize",
        "test_bce": "minimize",
        "test_probe_accuracy": "maximize",
        "test_pixel_probe_accuracy": "maximize",
    }
    examples_for_evaluation = 10_000

    def output_head(self, x, spec: DataSpec, loss: str, name: str = "reconstruction", **layer_kwargs):
        from dlpipe.models.deconv import image_output

        return image_output(x, spec.input_shape[-1], lambda: layer_kwargs, name=name)

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
        from dlpipe.evaluation.plots import plot_reconstructions

        clean = inputs.astype(np.float32) / pixel_scale(spec)
        outputs = predict(model, inputs, batch_size)
        metrics = {"test_loss": pixel_loss(loss, clean, outputs), **reconstruction_errors(clean, outputs)}
        figure_rows = {"original": clean, "reconstruction": outputs}
        corruption = _layer_or_none(model, CORRUPTION_LAYER)
        if corruption is not None:
            # A denoising model is also judged on what it was trained for: clean images back from
            # corrupted ones (the corruption is active only in training, so it is applied here).
            noisy = keras.ops.convert_to_numpy(corruption(clean, training=True))
            denoised = predict(model, noisy * pixel_scale(spec), batch_size)
            errors = reconstruction_errors(clean, denoised)
            metrics.update({f"{key}_denoising": value for key, value in errors.items()})
            figure_rows = {"original": clean, "corrupted": noisy, "denoised": denoised}
        report = {**metrics, "num_test": len(inputs), "code_layer": CODE_LAYER}
        if train_sample is not None and spec.target == "class":
            probe = linear_probes(model, train_sample, (inputs, targets), spec, batch_size)
            metrics.update(probe)
            report.update(probe, probe_train_examples=len(train_sample[0]))
        figures = {"reconstructions": plot_reconstructions(figure_rows, count=10)}
        return Evaluation(metrics=metrics, report=report, figures=figures)


def pixel_loss(loss: str, targets: np.ndarray, outputs: np.ndarray) -> float:
    """The mean of ``loss`` per pixel (Keras' losses average over the last axis only)."""
    flat = (targets.reshape(len(targets), -1), outputs.reshape(len(outputs), -1))
    return float(np.mean(keras.ops.convert_to_numpy(keras.losses.get(loss)(*flat))))


def reconstruction_errors(clean: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """Per-pixel MSE and binary cross-entropy of ``outputs`` against ``clean`` (both in [0, 1])."""
    return {
        "test_mse": float(np.mean((outputs - clean) ** 2)),
        "test_bce": pixel_loss("binary_crossentropy", clean, outputs),
    }


def encoder_of(model: keras.Model) -> keras.Model:
    """The part of ``model`` from its raw input to its code layer."""
    return keras.Model(model.inputs, model.get_layer(CODE_LAYER).output, name=f"{model.name}_encoder")


def linear_probes(model, train_sample, test_sample, spec: DataSpec, batch_size: int) -> dict[str, float]:
    """Test accuracy of logistic regression on the frozen encoder's codes and on raw pixels, each
    fitted on the training sample: how linearly the code separates the classes."""
    encoder = encoder_of(model)

    def codes(inputs):
        return predict(encoder, inputs, batch_size).reshape(len(inputs), -1)

    def pixels(inputs):
        return inputs.reshape(len(inputs), -1).astype(np.float32) / pixel_scale(spec)

    (x_train, y_train), (x_test, y_test) = train_sample, test_sample
    return {
        "test_probe_accuracy": _probe_accuracy(codes(x_train), y_train, codes(x_test), y_test),
        "test_pixel_probe_accuracy": _probe_accuracy(pixels(x_train), y_train, pixels(x_test), y_test),
    }


def _probe_accuracy(train_features, train_labels, test_features, test_labels) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    probe.fit(train_features, train_labels)
    return float(probe.score(test_features, test_labels))


def _layer_or_none(model: keras.Model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        return None
