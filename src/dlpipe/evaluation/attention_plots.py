"""Figures of attention: which inputs each output (or each position) reads."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def longest_strings(strings, count: int = 6, among: int = 100) -> list[int]:
    """Indices of the ``count`` longest strings (in characters) among the first ``among``: the
    examples whose attention maps show the most."""
    candidates = range(min(among, len(strings)))
    return sorted(candidates, key=lambda index: -len(strings[index].decode("utf-8")))[:count]


def plot_attention_maps(
    maps: list[tuple[list[str], list[str], np.ndarray]],
    title: str = "Attention of each output step over the input (test examples)",
    axis_names: tuple[str, str] = ("input", "output"),
) -> plt.Figure:
    """One heat map per example: ``(input tokens, output tokens, weights)``, weights of shape
    (outputs, inputs), each output's weights over the inputs summing to one; ``axis_names``
    labels the inputs' axis and the outputs'."""
    columns = min(3, len(maps))
    rows = -(-len(maps) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for axes, (source, output, weights) in zip(grid.flat, maps, strict=False):
        axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_xticks(range(len(source)), source)
        axes.set_yticks(range(len(output)), output, fontsize=8)
        axes.set_xlabel(axis_names[0])
        axes.set_ylabel(axis_names[1])
    for axes in list(grid.flat)[len(maps) :]:
        axes.axis("off")
    figure.suptitle(title)
    figure.set_layout_engine("tight")
    return figure


def plot_patch_attention(images: np.ndarray, received: np.ndarray) -> plt.Figure:
    """Each image beside the attention its patches receive, averaged over all patches' queries
    (``received``: (images, patches), patches in row order on a square grid)."""
    side = int(round(np.sqrt(received.shape[1])))
    figure, grid = plt.subplots(2, len(images), figsize=(1.8 * len(images), 3.8), squeeze=False)
    for column, (image, weights) in enumerate(zip(images, received, strict=True)):
        grid[0, column].imshow(np.squeeze(image), cmap="gray")
        grid[1, column].imshow(weights.reshape(side, side), cmap="viridis")
        for axes in grid[:, column]:
            axes.axis("off")
    grid[0, 0].set_title("test image", fontsize=8, loc="left")
    grid[1, 0].set_title("attention received per patch", fontsize=8, loc="left")
    figure.suptitle("Last block's attention, averaged over heads and queries")
    figure.set_layout_engine("tight")
    return figure
