"""Test-set metrics of a trained classifier."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from dlpipe.data.input_pipeline import label_encoding, make_dataset


def evaluate_classifier(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: list[str],
    loss: str,
    batch_size: int,
) -> dict[str, Any]:
    """Evaluate on a labelled split; returns loss, accuracy, per-class report and confusion matrix."""
    dataset = make_dataset(
        images,
        labels,
        batch_size=batch_size,
        num_classes=len(class_names),
        loss=loss,
        training=False,
        seed=0,
    )
    probabilities = model.predict(dataset, verbose=0)
    encoding = label_encoding(loss)
    if encoding == "binary":
        predicted = (probabilities[:, 0] > 0.5).astype(np.int64)
        targets = labels.astype("float32")[:, None]
    else:
        predicted = probabilities.argmax(axis=1)
        targets = labels if encoding == "sparse" else np.eye(len(class_names))[labels]
    # The saved model may have been compiled under another strategy; compute the loss directly.
    loss_fn = keras.losses.get(loss)
    test_loss = float(np.mean(keras.ops.convert_to_numpy(loss_fn(targets, probabilities))))
    report = classification_report(
        labels,
        predicted,
        labels=list(range(len(class_names))),
        target_names=class_names,
        output_dict=True,
        zero_division=0,
    )
    return {
        "test_loss": test_loss,
        "test_accuracy": float(np.mean(predicted == labels)),
        "report": report,
        "confusion_matrix": confusion_matrix(
            labels, predicted, labels=list(range(len(class_names)))
        ).tolist(),
    }
