"""The ``perceptron`` family: Rosenblatt's single-layer perceptron and its learning rule.

One linear unit with a step activation, ``fires = (w·x + b >= 0)``. Training is the perceptron
learning rule, not gradient descent on a smooth loss: for every misclassified example the weights
move by ``learning_rate * (target - prediction) * x``, and correctly classified examples change
nothing. It converges on linearly separable data (an epoch without a single update) and can never
get all four XOR points right.
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops

from dlpipe.config.common import Strict
from dlpipe.families.registry import Family, register
from dlpipe.training.optimizers import compile_optimizer_only


class PerceptronModelConfig(Strict):
    family: Literal["perceptron"]
    # Rosenblatt's perceptron starts from zero weights; small random ones break ties differently.
    initializer: Literal["zeros", "random_normal"] = "zeros"


@keras.saving.register_keras_serializable(package="dlpipe")
class Perceptron(keras.Model):
    """A step-activation unit on standardized inputs, trained by the perceptron rule.

    Its output is the one-hot predicted class ``[1 - fires, fires]``, so it plugs into the
    classification task like a softmax model; the mean absolute error of that output against the
    one-hot target is the fraction misclassified. Each epoch reports ``loss`` (that fraction),
    ``accuracy`` and ``updates``: how many examples changed the weights.
    """

    def __init__(self, input_mean, input_variance, initializer: str = "zeros", **kwargs):
        super().__init__(**kwargs)
        self.input_mean = list(input_mean)
        self.input_variance = list(input_variance)
        self.initializer = initializer
        self.standardize = keras.layers.Normalization(mean=self.input_mean, variance=self.input_variance)
        self.unit = keras.layers.Dense(1, kernel_initializer=initializer, name="unit")
        self.error_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.updates_tracker = keras.metrics.Sum(name="updates")

    def build(self, input_shape):
        # Built up front: layers first built inside the traced training step leak graph tensors.
        self.standardize.build(input_shape)
        self.unit.build((None, input_shape[-1]))
        super().build(input_shape)

    def _fires(self, features):
        return ops.cast(self.unit(features) >= 0.0, "float32")

    def call(self, inputs):
        fires = self._fires(self.standardize(inputs))
        return ops.concatenate([1.0 - fires, fires], axis=-1)

    @property
    def metrics(self):
        return [self.error_tracker, self.accuracy_tracker, self.updates_tracker]

    def train_step(self, data):
        inputs, targets = data
        features = self.standardize(inputs)
        wanted = ops.cast(targets[:, 1:2], "float32")  # one-hot targets: column 1 is "fires"
        error = wanted - self._fires(features)  # +1, -1 on mistakes, 0 when right
        # The rule's step, written as a gradient so the configured SGD applies it (and clips it):
        # -error * x is the gradient of the perceptron criterion on the misclassified examples.
        kernel_step = -ops.matmul(ops.transpose(features), error)
        bias_step = -ops.sum(error, axis=0)
        self.optimizer.apply([kernel_step, bias_step], [self.unit.kernel, self.unit.bias])
        mistakes = ops.cast(ops.not_equal(error, 0.0), "float32")
        self.error_tracker.update_state(mistakes)
        self.accuracy_tracker.update_state(1.0 - mistakes)
        self.updates_tracker.update_state(ops.sum(mistakes))
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        inputs, targets = data
        wrong = ops.cast(
            ops.not_equal(ops.argmax(self(inputs), axis=-1), ops.argmax(targets, axis=-1)), "float32"
        )
        self.error_tracker.update_state(wrong)
        self.accuracy_tracker.update_state(1.0 - wrong)
        return {"loss": self.error_tracker.result(), "accuracy": self.accuracy_tracker.result()}

    def get_config(self):
        return {
            **super().get_config(),
            "input_mean": self.input_mean,
            "input_variance": self.input_variance,
            "initializer": self.initializer,
        }


class StopWhenConverged(keras.callbacks.Callback):
    """Ends training after the first epoch in which the rule updated nothing: it has converged."""

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("updates", 1) == 0:
            self.model.stop_training = True


def build_perceptron(spec, config) -> Perceptron:
    model = Perceptron(spec.input_mean, spec.input_variance, config.model.initializer, name="perceptron")
    model.build((None, *spec.input_shape))
    return model


def check_config(config) -> None:
    if config.training.optimizer.name != "sgd":
        raise ValueError(
            f"training.optimizer.name: the perceptron rule applies its steps with plain SGD, got "
            f"'{config.training.optimizer.name}'; use 'sgd'"
        )


def check_data(spec, config) -> None:
    if spec.modality != "tabular" or spec.num_classes != 2:
        raise ValueError(
            f"dataset.name: the perceptron separates two classes of feature vectors; dataset "
            f"'{spec.name}' has {spec.modality} inputs {spec.input_shape} and {spec.num_classes} classes"
        )


FAMILY = register(
    Family(
        name="perceptron",
        model_schema=PerceptronModelConfig,
        tasks=("classification",),
        build=build_perceptron,
        compile=compile_optimizer_only,
        default_dataset="iris_local/setosa_vs_rest",
        # The mean absolute error of the one-hot output is the fraction misclassified.
        losses=("mean_absolute_error",),
        default_loss="mean_absolute_error",
        extra_metrics={"updates": "minimize"},
        check_config=check_config,
        check_data=check_data,
        callbacks=lambda config, **fit: [StopWhenConverged()],
    )
)
