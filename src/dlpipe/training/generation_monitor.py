"""Measures a generative model's images while it trains, for models whose losses do not."""

from __future__ import annotations

import logging

import keras
import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.models.preprocessing import pixel_scale

logger = logging.getLogger(__name__)

METRIC = "val_frechet_distance"


class FrechetDistanceMonitor(keras.callbacks.Callback):
    """After every epoch, adds ``val_frechet_distance`` to the epoch's logs: the Fréchet
    distance between the features of ``count`` images the model generates (its
    ``generate(count, seed)``, fixed seed) and of ``count`` validation images, in the classifier
    saved at ``judge_model``, or else one trained on ``train_sample`` when the monitor is made
    (:func:`dlpipe.evaluation.judge.find_judge`). Every
    ``grid_every`` epochs a grid of 36 generated images goes to the MLflow run ``mlflow_run_id``
    (``samples/epoch_NNN.png``), so the run page shows the generator learning.

    Place it before the callbacks that read the metric (early stopping, pruning, backups).
    """

    def __init__(
        self,
        train_sample: tuple[np.ndarray, np.ndarray],
        validation_images: np.ndarray,
        spec: DataSpec,
        *,
        count: int,
        grid_every: int = 1,
        mlflow_run_id: str | None = None,
        judge_model: str | None = None,
    ):
        super().__init__()
        self.validation_images = validation_images[:count]
        self.spec = spec
        self.count = min(count, len(self.validation_images))
        self.grid_every = grid_every
        self.mlflow_run_id = mlflow_run_id
        from dlpipe.evaluation.judge import find_judge

        self.judge = find_judge(train_sample, spec, judge_model)
        self.reference = self.judge.embed(self.validation_images)

    def on_epoch_end(self, epoch, logs=None):
        from dlpipe.evaluation.judge import frechet_distance

        samples = np.asarray(self.model.generate(self.count, seed=0))
        features = self.judge.embed(samples * pixel_scale(self.spec))
        if logs is not None:
            logs[METRIC] = frechet_distance(features, self.reference)
        if self.mlflow_run_id and (epoch + 1) % self.grid_every == 0:
            self._log_grid(samples[:36], epoch)

    def _log_grid(self, images: np.ndarray, epoch: int) -> None:
        import matplotlib.pyplot as plt
        import mlflow

        from dlpipe.evaluation.plots import plot_image_grid

        figure = plot_image_grid(images, [""] * len(images), f"Generated after epoch {epoch + 1}")
        try:
            mlflow.MlflowClient().log_figure(self.mlflow_run_id, figure, f"samples/epoch_{epoch + 1:03d}.png")
        except Exception as err:  # noqa: BLE001 - a lost picture must not stop training
            logger.warning("Could not log the samples of epoch %d to MLflow: %s", epoch + 1, err)
        finally:
            plt.close(figure)
