"""Figures of generative models: what they draw and how their latent space is laid out."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_class_histogram(class_shares: dict[str, float]) -> plt.Figure:
    """The share of generated images the judge assigns to each class (a collapsed generator
    fills few classes)."""
    figure, axes = plt.subplots(figsize=(8, 3.5))
    names = list(class_shares)
    axes.bar(range(len(names)), [class_shares[name] for name in names])
    axes.axhline(1 / max(1, len(names)), color="grey", linestyle="--", linewidth=1, label="uniform")
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_ylabel("share of generated images")
    axes.legend()
    axes.set_title("Classes of generated images (dlpipe's judge classifier)")
    figure.set_layout_engine("tight")
    return figure


def plot_latent_means(
    points: np.ndarray, labels: np.ndarray, class_names: list[str], title: str
) -> plt.Figure:
    """2-D latent coordinates of test images, coloured by their class."""
    figure, axes = plt.subplots(figsize=(7, 6))
    for index, name in enumerate(class_names):
        chosen = labels == index
        axes.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.6, label=name)
    axes.legend(markerscale=4, fontsize=7, loc="best")
    axes.set_title(title)
    figure.set_layout_engine("tight")
    return figure


def plot_image_manifold(images: np.ndarray, grid: int, extent: tuple[float, float]) -> plt.Figure:
    """``grid * grid`` decoded images laid out at their 2-D latent coordinates (row-major, the
    second coordinate decreasing down the rows)."""
    height, width = images.shape[1:3]
    canvas = np.zeros((grid * height, grid * width))
    for index, image in enumerate(images[: grid * grid]):
        row, column = divmod(index, grid)
        canvas[row * height : (row + 1) * height, column * width : (column + 1) * width] = image[..., 0]
    figure, axes = plt.subplots(figsize=(8, 8))
    low, high = extent
    axes.imshow(canvas, cmap="gray", vmin=0, vmax=1, extent=(low, high, low, high))
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    axes.set_title("Decoded images over the 2-D latent space")
    figure.set_layout_engine("tight")
    return figure
