"""The gradient-health monitor: per-layer gradient norms, vanishing and exploding warnings."""

from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np
import tensorflow as tf

from dlpipe.tracking import log_metrics

logger = logging.getLogger(__name__)


def clip_like_optimizer(gradients: list[tf.Tensor], optimizer) -> list[tf.Tensor]:
    """Clip ``gradients`` the way ``optimizer`` will before applying them (norm, value, global);
    for a loss-scaling wrapper, the way the optimizer it wraps will."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    if getattr(optimizer, "clipnorm", None):
        gradients = [tf.clip_by_norm(g, optimizer.clipnorm) for g in gradients]
    if getattr(optimizer, "clipvalue", None):
        gradients = [tf.clip_by_value(g, -optimizer.clipvalue, optimizer.clipvalue) for g in gradients]
    if getattr(optimizer, "global_clipnorm", None):
        gradients, _ = tf.clip_by_global_norm(gradients, optimizer.global_clipnorm)
    return gradients


class GradientHealthMonitor(keras.callbacks.Callback):
    """Every ``every_n_steps`` training steps, measures the gradient norm of each layer.

    The gradients are those of the loss on a fixed probe batch, clipped as the optimizer clips them,
    i.e. the gradients an update would apply. Norms are logged to MLflow (``grad_norm/<layer>``,
    when ``mlflow_run_id`` is given) and kept in ``history``; a layer whose norm falls under
    ``vanishing_threshold``, exceeds ``exploding_threshold`` or is not finite gets a warning naming
    it, kept in ``warnings``.
    """

    def __init__(
        self,
        probe_images: np.ndarray,
        probe_labels: np.ndarray,
        loss,
        *,
        every_n_steps: int = 100,
        vanishing_threshold: float = 1e-6,
        exploding_threshold: float = 1e3,
        mlflow_run_id: str | None = None,
    ):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if not 0 < vanishing_threshold < exploding_threshold:
            raise ValueError(
                "Expected 0 < vanishing_threshold < exploding_threshold, got "
                f"{vanishing_threshold} and {exploding_threshold}"
            )
        # Inputs may be a structure (a decoder's strings and previous tokens).
        self.probe_images = keras.tree.map_structure(tf.convert_to_tensor, probe_images)
        self._log_failed_at: float | None = None  # after a logging failure, pause for 30 s
        self.probe_labels = tf.convert_to_tensor(probe_labels)
        self.loss_fn = keras.losses.get(loss)
        self.every_n_steps = every_n_steps
        self.vanishing_threshold = vanishing_threshold
        self.exploding_threshold = exploding_threshold
        self.mlflow_run_id = mlflow_run_id
        self.history: list[dict] = []
        self.warnings: list[str] = []
        self._step = 0

    def layer_gradient_norms(self) -> dict[str, float]:
        """The current per-layer norms of the (clipped) gradients on the probe batch."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            predictions = self.model(self.probe_images, training=True)
            loss = tf.reduce_mean(self.loss_fn(self.probe_labels, predictions))
        gradients = tape.gradient(loss, variables)
        pairs = [(v, g) for v, g in zip(variables, gradients, strict=True) if g is not None]
        clipped = clip_like_optimizer([g for _, g in pairs], self.model.optimizer)
        squared: dict[str, float] = {}
        owner = {id(v): layer.name for layer in self.model.layers for v in layer.trainable_weights}
        for (variable, _), gradient in zip(pairs, clipped, strict=True):
            name = owner.get(id(variable), variable.path.split("/")[0])
            squared[name] = squared.get(name, 0.0) + float(tf.reduce_sum(tf.square(gradient)))
        return {name: math.sqrt(value) if math.isfinite(value) else value for name, value in squared.items()}

    def _check(self, norms: dict[str, float]) -> None:
        for layer, norm in norms.items():
            if not math.isfinite(norm):
                problem = f"exploding gradient in layer '{layer}': norm is {norm}"
            elif norm > self.exploding_threshold:
                problem = (
                    f"exploding gradient in layer '{layer}': norm {norm:.3g} > {self.exploding_threshold:g}"
                )
            elif norm < self.vanishing_threshold:
                problem = (
                    f"vanishing gradient in layer '{layer}': norm {norm:.3g} < {self.vanishing_threshold:g}"
                )
            else:
                continue
            message = f"step {self._step}: {problem}"
            self.warnings.append(message)
            logger.warning("Gradient health: %s", message)

    def _log(self, norms: dict[str, float]) -> None:
        if self.mlflow_run_id is None:
            return
        # After a failure (server gone) logging pauses for a while rather than stall every step.
        if self._log_failed_at is not None and time.monotonic() - self._log_failed_at < 30.0:
            return
        metrics = {f"grad_norm/{name}": value for name, value in norms.items()}
        if log_metrics(self.mlflow_run_id, metrics, step=self._step):
            self._log_failed_at = None
        else:
            self._log_failed_at = time.monotonic()
            logger.warning("Could not log gradient norms at step %d; retrying in 30 s", self._step)

    def _measure(self) -> None:
        norms = self.layer_gradient_norms()
        self.history.append({"step": self._step, "norms": norms})
        self._check(norms)
        self._log(norms)

    def on_train_begin(self, logs=None):
        self._measure()  # the starting point: vanishing or exploding already at initialization

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every_n_steps == 0:
            self._measure()
