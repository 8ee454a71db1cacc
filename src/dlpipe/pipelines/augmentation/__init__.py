"""The augmentation stage."""

from dlpipe.pipelines.augmentation import pipeline  # noqa: F401
