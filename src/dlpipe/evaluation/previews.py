"""A look at the training inputs before anything trains, drawn by modality."""

from __future__ import annotations

import numpy as np

from dlpipe.augmentation import augment_batch
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.plots import plt


def _target_label(spec: DataSpec, target) -> str:
    if spec.target == "class":
        return spec.class_names[int(target)]
    if spec.target == "text":
        return target.decode("utf-8")
    return f"{float(np.ravel(target)[0]):.3g}"


def preview_inputs(splits, spec: DataSpec, augmentation_ops: list[dict], grid_size: int, seed: int):
    """Images: a grid after augmentation. Sequences: a few examples, channel by channel.
    Tabular: the first two features of the training examples, coloured by target. Text: a few
    examples and the lengths of all of them."""
    from dlpipe.evaluation.plots import plot_image_grid

    count = grid_size**2
    inputs, targets = splits["x_train"], splits["y_train"]
    if spec.modality == "image":
        labels = [_target_label(spec, y) for y in targets[:count]]
        ops = ", ".join(op["op"] for op in augmentation_ops) or "none"
        return plot_image_grid(
            augment_batch(inputs[:count], augmentation_ops, spec, seed), labels, f"Augmented: {ops}"
        )
    if spec.modality == "sequence":
        shown = min(grid_size, len(inputs))
        figure, axes = plt.subplots(shown, 1, figsize=(8, 1.8 * shown), squeeze=False)
        for axis, sequence, target in zip(axes[:, 0], inputs[:shown], targets[:shown], strict=True):
            steps = sequence[np.any(sequence != 0, axis=-1)] if spec.padded else sequence
            axis.plot(steps)
            axis.set_title(f"target {_target_label(spec, target)} ({len(steps)} steps)", fontsize=8)
        figure.suptitle(f"{spec.name}: training sequences (raw values, one line per channel)")
        figure.set_layout_engine("tight")
        return figure
    if spec.modality == "text":
        return _preview_text(inputs, targets, spec, count)
    figure, axis = plt.subplots(figsize=(6, 5))
    columns = inputs[:, :2] if inputs.shape[1] > 1 else np.column_stack([inputs[:, 0], np.zeros(len(inputs))])
    colours = targets if spec.target == "class" else np.ravel(targets)
    scatter = axis.scatter(columns[:, 0], columns[:, 1], c=colours, cmap="viridis", s=18)
    figure.colorbar(scatter, ax=axis, label="class" if spec.target == "class" else "target")
    axis.set_xlabel("feature 0")
    axis.set_ylabel("feature 1")
    axis.set_title(f"{spec.name}: training examples")
    figure.set_layout_engine("tight")
    return figure


def _preview_text(inputs, targets, spec: DataSpec, count: int):
    """The first ``count`` training examples (input → target) beside the input lengths."""
    figure, (listing, lengths) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    pairs = [
        f"{x.decode('utf-8')}  →  {_target_label(spec, y)}"
        for x, y in zip(inputs[:count], targets[:count], strict=True)
    ]
    listing.text(0.0, 1.0, "\n".join(pairs), va="top", family="monospace", fontsize=9)
    listing.axis("off")
    listing.set_title("training examples (input → target)")
    sizes = [len(x.decode("utf-8")) for x in inputs]
    lengths.hist(sizes, bins=range(1, max(sizes) + 2), color="grey")
    lengths.set_xlabel("input length (characters)")
    lengths.set_ylabel("training examples")
    figure.suptitle(f"{spec.name}: {len(inputs)} training examples")
    figure.set_layout_engine("tight")
    return figure
