"""Figures logged with every run (matplotlib, headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(matrix: list[list[int]], class_names: list[str]) -> plt.Figure:
    """Confusion matrix with counts, true classes on rows."""
    values = np.asarray(matrix)
    size = max(5.0, 0.6 * len(class_names))
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(values, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = values.max() / 2 if values.size else 0
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            axes.text(
                col,
                row,
                str(values[row, col]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if values[row, col] > threshold else "black",
            )
    axes.set_title("Confusion matrix (test split)")
    # Laid out when saved: tight_layout() now would draw the figure once more (0.1 s each).
    figure.set_layout_engine("tight")
    return figure


def plot_training_curves(history: dict[str, list[float]]) -> plt.Figure:
    """Loss and every other metric per epoch, training next to validation."""
    names = [key for key in history if not key.startswith("val_") and key != "learning_rate"]
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(5 * max(1, len(names)), 4))
    axes = np.atleast_1d(axes)
    for axis, name in zip(axes, names, strict=False):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label=f"train {name}")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="o", label=f"validation {name}")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
    figure.set_layout_engine("tight")
    return figure


def plot_image_grid(images: np.ndarray, labels: list[str], title: str) -> plt.Figure:
    """A square grid of images (floats in [0, 1]) with their labels."""
    count = len(images)
    side = int(np.ceil(np.sqrt(count)))
    figure, axes = plt.subplots(side, side, figsize=(1.8 * side, 1.9 * side))
    for index, axis in enumerate(np.atleast_1d(axes).ravel()):
        axis.axis("off")
        if index < count:
            image = images[index]
            axis.imshow(
                image.squeeze(-1) if image.shape[-1] == 1 else image,
                cmap="gray",
                vmin=0.0,
                vmax=1.0,
            )
            axis.set_title(labels[index], fontsize=7)
    figure.suptitle(title)
    figure.set_layout_engine("tight")
    return figure


def message_figure(message: str) -> plt.Figure:
    """A figure that says why a plot could not be drawn (e.g. too few trials)."""
    figure, axes = plt.subplots(figsize=(6, 2))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def plot_predictions(targets: np.ndarray, predictions: np.ndarray, baseline: np.ndarray | None) -> plt.Figure:
    """Predictions against targets over the test examples (in order), and as a scatter."""
    figure, (line, scatter) = plt.subplots(1, 2, figsize=(12, 4))
    steps = np.arange(len(targets))
    line.plot(steps, targets, label="target", color="black")
    line.plot(steps, predictions, label="model")
    if baseline is not None:
        line.plot(steps, baseline, label="last value (naive)", linestyle="--")
    line.set_xlabel("test example")
    line.legend()
    line.set_title("Test predictions")
    scatter.scatter(targets, predictions, s=12)
    low, high = float(np.min(targets)), float(np.max(targets))
    scatter.plot([low, high], [low, high], color="grey", linewidth=1)
    scatter.set_xlabel("target")
    scatter.set_ylabel("prediction")
    figure.set_layout_engine("tight")
    return figure


def _show(axis, image: np.ndarray) -> None:
    shown = image.squeeze(-1) if image.shape[-1] == 1 else np.clip(image, 0, 1)
    axis.imshow(shown, cmap="gray", vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])


def plot_reconstructions(rows: dict[str, np.ndarray], count: int = 10) -> plt.Figure:
    """The first ``count`` test images in each named row (original, corrupted, reconstruction...),
    floats in [0, 1], one column per image."""
    count = min(count, *(len(images) for images in rows.values()))
    figure, axes = plt.subplots(len(rows), count, figsize=(1.2 * count, 1.3 * len(rows)), squeeze=False)
    for row, (name, images) in enumerate(rows.items()):
        for column in range(count):
            _show(axes[row, column], images[column])
        axes[row, 0].set_ylabel(name, fontsize=8)
    figure.suptitle("Test images and their reconstructions")
    figure.set_layout_engine("tight")
    return figure
