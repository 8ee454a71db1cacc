"""What one fit of an experiment's arm is measured by: scores on each split, divergence, speed of
convergence, symmetry of hidden units and first-epoch gradient norms."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from dlpipe.config.experiment import Target
from dlpipe.config.schema import FamilyConfig
from dlpipe.data.input_pipeline import make_dataset
from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.learning_curve import test_metric_name
from dlpipe.tasks import get_task
from dlpipe.tasks.base import batch_fn
from dlpipe.training.fit import encoded_targets, monitor_mode


class EpochRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs with the seconds since training began, and stops training at the
    first batch whose loss is NaN or infinite (recording the epoch): an arm that diverges is a
    finding, not an error."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict[str, float]] = []
        self.diverged_at_epoch: int | None = None
        self.start_loss: float | None = None  # the running loss after the first batch
        self.peak_loss = -math.inf  # the highest running loss seen in any epoch
        self._started = time.perf_counter()
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self.start_loss is None:
            self.start_loss = loss
        if not math.isfinite(loss):
            if self.diverged_at_epoch is None:
                self.diverged_at_epoch = self._epoch + 1
            self.model.stop_training = True
        else:
            self.peak_loss = max(self.peak_loss, loss)

    def on_epoch_end(self, epoch, logs=None):
        values = {key: float(value) for key, value in (logs or {}).items() if isinstance(value, int | float)}
        self.epochs.append({**values, "seconds": time.perf_counter() - self._started})

    def curves(self) -> dict[str, list[float]]:
        """Each logged metric (and ``seconds``) as a list over epochs."""
        keys = dict.fromkeys(key for epoch in self.epochs for key in epoch)
        return {key: [epoch.get(key, math.nan) for epoch in self.epochs] for key in keys}


def main_metric(config: FamilyConfig) -> str:
    """The metric the arm's family (or task) is judged by, without its split prefix (``accuracy``)."""
    return test_metric_name(config).removeprefix("test_")


def split_scores(
    model: keras.Model, config: FamilyConfig, splits: dict[str, np.ndarray], spec: DataSpec
) -> dict[str, float]:
    """The model's compiled metrics on the training, validation and test splits, in inference
    mode (no dropout): ``train_loss``, ``val_accuracy``, ``test_accuracy``..."""
    task = get_task(config.task)
    scores: dict[str, float] = {}
    for split in ("train", "val", "test"):
        data = make_dataset(
            splits[f"x_{split}"],
            encoded_targets(config, splits[f"y_{split}"], spec),
            batch_size=config.training.batch_size,
            training=False,
            seed=0,
            batch_fn=batch_fn(task, spec),
        )
        results = model.evaluate(data, return_dict=True, verbose=0)
        scores.update({f"{split}_{name}": float(value) for name, value in results.items()})
    return scores


def train_val_gap(scores: dict[str, float], config: FamilyConfig) -> float:
    """How much better the main metric is on the training examples than on validation (positive:
    overfitting), whichever direction the metric improves in."""
    metric = main_metric(config)
    gap = scores.get(f"train_{metric}", math.nan) - scores.get(f"val_{metric}", math.nan)
    return gap if monitor_mode(config, f"val_{metric}") == "max" else -gap


def epochs_to_target(
    curves: dict[str, list[float]], target: Target | None, config: FamilyConfig
) -> tuple[float, float]:
    """The first epoch (from 1) at which the target metric reached its value, and 1.0; when no
    epoch did, the epochs trained plus one (at least that many would have been needed) and 0.0.
    NaN for both without a target."""
    if target is None:
        return math.nan, math.nan
    maximize = monitor_mode(config, target.metric) == "max"
    values = curves.get(target.metric, [])
    for epoch, value in enumerate(values, start=1):
        if math.isfinite(value) and (value >= target.value if maximize else value <= target.value):
            return float(epoch), 1.0
    return float(len(values) + 1), 0.0


# How far above its start the training loss must rise to count as diverged: an explosion is
# orders of magnitude, while the noise of a running mean (even over single examples) is not.
EXPLOSION_FACTOR = 10.0


def diverged(curves: dict[str, list[float]], recorder: EpochRecorder) -> bool:
    """The loss became NaN or infinite, or rose to ``EXPLOSION_FACTOR`` times its value after the
    first batch (a learning rate too large blows it up, then the network often dies at chance)."""
    losses = curves.get("loss", [])
    if recorder.diverged_at_epoch is not None or any(not math.isfinite(v) for v in losses):
        return True
    start = recorder.start_loss
    return start is not None and start > 0 and recorder.peak_loss > EXPLOSION_FACTOR * start


def distinct_units_fraction(model: keras.Model) -> float:
    """Among the units of the first hidden layer with weights, the fraction that differ from each
    other (incoming weights and bias). A network started with identical units (zeros) keeps them
    identical, whatever it is trained on: the fraction stays at 1/units."""
    layers = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    for layer in layers[:-1]:  # the last one is the output layer
        kernel = np.asarray(layer.kernel)
        columns = kernel.reshape(-1, kernel.shape[-1])
        bias = getattr(layer, "bias", None)
        if bias is not None:
            columns = np.vstack([columns, np.asarray(bias)[None, :]])
        if columns.shape[1] < 2:
            continue
        scale = float(np.max(np.abs(columns))) or 1.0
        distinct = np.unique(np.round(columns / scale, 6), axis=1).shape[1]
        return distinct / columns.shape[1]
    return math.nan


def first_epoch_gradient_norms(monitor_history: list[dict], updates_per_epoch: int) -> dict[str, float]:
    """Per layer, the geometric mean of the gradient norms the monitor measured in the first
    epoch (its measurement at the start included), layers in the model's order."""
    measured = [entry["norms"] for entry in monitor_history if entry["step"] <= updates_per_epoch]
    layers = list(measured[0]) if measured else []
    return {
        layer: _geometric_mean([norms[layer] for norms in measured if layer in norms]) for layer in layers
    }


def _geometric_mean(values: list[float]) -> float:
    """NaN when a value is NaN, infinite when one is, 0 when one is 0 (a gradient that vanished
    once counts as vanished, never as healthy)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    if any(math.isinf(v) for v in values):
        return math.inf
    if any(v <= 0 for v in values):
        return 0.0
    return float(np.exp(np.mean(np.log(values))))


def gradient_measures(norms: dict[str, float]) -> dict[str, float]:
    """The first and last layers' first-epoch gradient norms and their ratio (first / last): far
    below 1 when gradients vanish on their way back to the input."""
    if not norms:
        return {}
    values = list(norms.values())
    first, last = values[0], values[-1]
    ratio = first / last if last > 0 else math.nan
    return {"gradient_norm_first_layer": first, "gradient_norm_last_layer": last, "gradient_ratio": ratio}
