"""What a task is: how targets are fed, how the model ends, what is monitored and how it is judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
import numpy as np

from dlpipe.config.evaluation import EvaluationConfig
from dlpipe.data.spec import DataSpec


@dataclass
class Evaluation:
    """A task's verdict on the test split: MLflow metrics, a JSON report and named figures."""

    metrics: dict[str, float]
    report: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base of every task; a subclass sets the class attributes and implements the methods."""

    name: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]
    default_loss: ClassVar[str]
    # Compiled metrics besides the loss, each with the direction that makes it better.
    metrics: ClassVar[dict[str, str]]
    # What early stopping and tuning watch unless told otherwise.
    main_metric: ClassVar[str]
    # Training examples the evaluation fits something on (a linear probe, a reference
    # distribution), unless ``train_examples_for_evaluation`` decides by the data.
    examples_for_evaluation: ClassVar[int] = 0
    # Test metrics its evaluation reports besides the test twins of the monitored ones, with
    # their directions: what a registry requirement may name (when the data allows them).
    extra_test_metrics: ClassVar[dict[str, str]] = {}
    # Whether its models answer requests on inputs (served over HTTP, batch prediction); a
    # generator's outputs do not depend on an input.
    served: ClassVar[bool] = True
    # Whether its evaluation has a classifier judge what the model generates
    # (``evaluation.judge_model`` names a saved one).
    judges_samples: ClassVar[bool] = False

    def train_examples_for_evaluation(self, spec: DataSpec) -> int:
        """How many of the first training examples the evaluation of ``spec``'s data reads; the
        data stage keeps that many beside the test split."""
        return self.examples_for_evaluation

    def monitored_metrics(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Every metric a fit reports, mapped to its direction: the loss and the task's metrics
        on training and validation (``val_``), and a family's ``extra`` ones as named."""
        reported = {"loss": "minimize", **self.metrics}
        return {
            **reported,
            **{f"val_{name}": direction for name, direction in reported.items()},
            **(extra or {}),
        }

    def check_data(self, spec: DataSpec, loss: str) -> None:
        """Raise ValueError, naming the key, when this task cannot learn from ``spec``'s data."""

    def encode_targets(self, targets: np.ndarray, spec: DataSpec, loss: str) -> np.ndarray:
        """The targets as the loss expects them."""
        raise NotImplementedError

    def batch(self, inputs, encoded_targets, spec: DataSpec):
        """``(model inputs, what the loss compares its output with)`` of a batch of raw (possibly
        augmented) ``inputs`` and their encoded targets; tensors or arrays. Unchanged, unless the
        task learns its inputs (reconstruction) or feeds its targets to the model (a decoder's
        previous tokens)."""
        return inputs, encoded_targets

    def output_head(self, x, spec: DataSpec, loss: str, name: str = "predictions", **layer_kwargs):
        """The model's last layer(s) on the features ``x``, in float32; ``layer_kwargs`` (kernel
        initializer, regularizer, constraint) go to its dense layer."""
        raise NotImplementedError

    def evaluation_batches(self, inputs: np.ndarray, targets: np.ndarray, spec: DataSpec, batch_size: int):
        """The raw ``inputs`` and their ``targets`` (as loaded) batched as the model is fed them in
        training, in order and unaugmented: for scoring the model as it was trained."""
        from dlpipe.data.input_pipeline import make_dataset

        return make_dataset(
            inputs,
            self.encode_targets(targets, spec, ""),
            batch_size=batch_size,
            training=False,
            seed=0,
            batch_fn=batch_fn(self, spec),
        )

    def compile_loss(self, loss: str):
        """What ``compile`` is given for the loss named ``loss``: the name itself, unless the
        task needs a configured loss object (from logits, ignoring padding)."""
        return loss

    def compile_metrics(self, loss: str) -> list:
        return list(self.metrics)

    def evaluate(
        self,
        model: keras.Model,
        inputs: np.ndarray,
        targets: np.ndarray,
        spec: DataSpec,
        loss: str,
        batch_size: int,
        train_sample: tuple[np.ndarray, np.ndarray] | None = None,
        settings: EvaluationConfig | None = None,
    ) -> Evaluation:
        """Score ``model`` on raw test ``inputs`` and their ``targets`` (as loaded).

        ``train_sample`` is ``(inputs, targets)`` of the first
        ``train_examples_for_evaluation(spec)`` training examples, for the tasks that need them;
        ``settings`` the block's ``evaluation`` section (defaults when None).
        """
        raise NotImplementedError

    def prediction_table(self, outputs: np.ndarray, spec: DataSpec):
        """What a served or batch prediction answers for the model's ``outputs`` on raw inputs:
        by default the outputs themselves (reconstructed images, generated tokens); a task whose
        outputs mean something per example (a class, a value) returns a ``pandas.DataFrame``."""
        if outputs.dtype == object:  # strings come out of the model as bytes
            return np.vectorize(lambda value: value.decode() if isinstance(value, bytes) else value)(outputs)
        return outputs


def batch_fn(task: Task, spec: DataSpec):
    """The ``batch_fn`` of :func:`dlpipe.data.input_pipeline.make_dataset` for ``task``, or None
    when the task feeds its batches unchanged (no per-batch step is added then)."""
    if type(task).batch is Task.batch:
        return None
    return lambda inputs, targets: task.batch(inputs, targets, spec)


def predict(model: keras.Model, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs on raw inputs, quietly (no progress bar)."""
    from dlpipe.data.input_pipeline import make_dataset

    dataset = make_dataset(
        inputs, np.zeros(len(inputs), np.float32), batch_size=batch_size, training=False, seed=0
    )
    return np.asarray(model.predict(dataset.map(lambda x, _: x), verbose=0))


def loss_value(loss: str, targets: np.ndarray, outputs: np.ndarray) -> float:
    """The mean of ``loss`` over the examples, computed directly: the saved model may have been
    compiled under another strategy."""
    loss_fn = keras.losses.get(loss)
    return float(np.mean(keras.ops.convert_to_numpy(loss_fn(targets, outputs))))
