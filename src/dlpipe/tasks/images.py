"""What the tasks that learn images themselves share: their batches are the images in [0, 1]."""

from __future__ import annotations

import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import pixel_scale
from dlpipe.tasks.base import Task


class ImageTask(Task):
    """A task whose loss compares the model's output with its input images, rescaled to [0, 1];
    the class labels, when the dataset has them, ride along for the evaluation only."""

    def check_data(self, spec: DataSpec, loss: str) -> None:
        if spec.modality != "image":
            raise ValueError(
                f"dataset.name: '{spec.name}' has {spec.modality} inputs; the {self.name} task "
                "learns images of shape (height, width, channels)"
            )

    def encode_targets(self, targets: np.ndarray, spec: DataSpec, loss: str) -> np.ndarray:
        return targets  # replaced batch by batch (batch)

    def batch(self, inputs, encoded_targets, spec: DataSpec):
        return inputs, inputs / pixel_scale(spec)
