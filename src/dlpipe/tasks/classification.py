"""Classification: one class per example, binary or multi-class."""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from dlpipe.config.common import LOSSES
from dlpipe.data.spec import DataSpec
from dlpipe.tasks.base import Evaluation, Task, loss_value, predict


def label_encoding(loss: str) -> str:
    """How labels are fed for ``loss``: ``sparse`` class ids, ``binary`` 0/1 floats, or ``one_hot``."""
    if loss == "sparse_categorical_crossentropy":
        return "sparse"
    if loss == "binary_crossentropy":
        return "binary"
    return "one_hot"


class Classification(Task):
    name = "classification"
    # Every loss dlpipe compiles: cross-entropies on class ids or one-hot targets, KL divergence
    # and the distances on one-hot.
    losses = LOSSES
    default_loss = "sparse_categorical_crossentropy"
    metrics = {"accuracy": "maximize"}
    main_metric = "val_accuracy"
    extra_test_metrics = {"test_macro_f1": "maximize", "test_ngram_baseline_accuracy": "maximize"}

    def train_examples_for_evaluation(self, spec: DataSpec) -> int:
        # Strings: every training example, for the character n-gram baseline.
        return spec.num_train if spec.modality == "text" else 0

    def check_data(self, spec: DataSpec, loss: str) -> None:
        if spec.target != "class":
            raise ValueError(
                f"dataset.name: '{spec.name}' has {spec.target} targets, not classes; a classification "
                "family needs a dataset of labelled classes"
            )
        if spec.num_classes < 2:
            raise ValueError(f"dataset.name: '{spec.name}' has {spec.num_classes} class(es); expected >= 2")
        if label_encoding(loss) == "binary" and spec.num_classes != 2:
            raise ValueError(
                f"training.loss: 'binary_crossentropy' needs exactly 2 classes, but dataset "
                f"'{spec.name}' has {spec.num_classes}. Use sparse_categorical_crossentropy (class ids) "
                "or categorical_crossentropy (one-hot) for more classes."
            )

    def encode_targets(self, targets: np.ndarray, spec: DataSpec, loss: str) -> np.ndarray:
        encoding = label_encoding(loss)
        if encoding == "sparse":
            return targets.astype(np.int64)
        if encoding == "binary":
            return targets.astype(np.float32).reshape(-1, 1)
        return np.eye(spec.num_classes, dtype=np.float32)[targets]

    def output_head(self, x, spec: DataSpec, loss: str, name: str = "predictions", **layer_kwargs):
        if label_encoding(loss) == "binary":
            return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=name, **layer_kwargs)(x)
        return keras.layers.Dense(
            spec.num_classes, activation="softmax", dtype="float32", name=name, **layer_kwargs
        )(x)

    def prediction_table(self, outputs: np.ndarray, spec: DataSpec):
        """Per example: the predicted ``class`` id, its ``label`` and the probability of every
        class (``probability_<label>``)."""
        import pandas as pd

        probabilities = class_probabilities(outputs)
        predicted = predicted_classes(outputs)
        labels = np.asarray(spec.class_names, dtype=object)
        return pd.DataFrame(
            {
                "class": predicted,
                "label": labels[predicted],
                **{f"probability_{name}": probabilities[:, i] for i, name in enumerate(spec.class_names)},
            }
        )

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
        from dlpipe.evaluation.plots import plot_confusion_matrix

        outputs = predict(model, inputs, batch_size)
        predicted = predicted_classes(outputs)
        classes = list(range(spec.num_classes))
        report = classification_report(
            targets,
            predicted,
            labels=classes,
            target_names=spec.class_names,
            output_dict=True,
            zero_division=0,
        )
        matrix = confusion_matrix(targets, predicted, labels=classes).tolist()
        metrics = {
            "test_loss": loss_value(loss, self.encode_targets(targets, spec, loss), outputs),
            "test_accuracy": float(np.mean(predicted == targets)),
            "test_macro_f1": float(report["macro avg"]["f1-score"]),
        }
        for index, name in enumerate(spec.class_names):
            metrics[f"test_f1_class_{index}"] = float(report[name]["f1-score"])
        if spec.modality == "text" and train_sample is not None:
            metrics["test_ngram_baseline_accuracy"] = ngram_baseline_accuracy(train_sample, inputs, targets)
        return Evaluation(
            metrics=metrics,
            report={**report, "confusion_matrix": matrix},
            figures={"confusion_matrix": plot_confusion_matrix(matrix, spec.class_names)},
        )


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """The class ids a classifier's outputs predict: the most probable class, or class 1 when a
    single sigmoid output exceeds 0.5."""
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """One probability per class and example; a single sigmoid output ``p`` as ``(1 - p, p)``."""
    outputs = outputs.astype(np.float64)
    if outputs.shape[-1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def ngram_baseline_accuracy(train_sample, inputs, targets) -> float:
    """Test accuracy of the classic baseline for strings: logistic regression on the TF-IDF
    weights of their character 1- to 4-grams (within word boundaries), fitted on ``train_sample``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def text(values):
        return [value.decode("utf-8") for value in values]

    baseline = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
        LogisticRegression(max_iter=1000),
    )
    baseline.fit(text(train_sample[0]), train_sample[1])
    return float(np.mean(baseline.predict(text(inputs)) == targets))
