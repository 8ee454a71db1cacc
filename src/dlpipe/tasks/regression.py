"""Regression: one or more real values per example, time-series forecasting included."""

from __future__ import annotations

import keras
import numpy as np

from dlpipe.data.spec import DataSpec
from dlpipe.tasks.base import Evaluation, Task, loss_value, predict


class Regression(Task):
    name = "regression"
    losses = ("mean_squared_error", "mean_absolute_error", "huber")
    default_loss = "mean_squared_error"
    metrics = {"mae": "minimize"}
    main_metric = "val_mae"
    extra_test_metrics = {
        "test_rmse": "minimize",
        "test_naive_mae": "minimize",
        "test_mae_over_naive": "minimize",
    }

    def check_data(self, spec: DataSpec, loss: str) -> None:
        if spec.target != "value":
            raise ValueError(
                f"dataset.name: '{spec.name}' has {spec.target} targets, not values; a regression family "
                "needs a dataset of real-valued targets (or a time series with dataset.windows)"
            )

    def encode_targets(self, targets: np.ndarray, spec: DataSpec, loss: str) -> np.ndarray:
        return targets.astype(np.float32).reshape(len(targets), -1)

    def output_head(self, x, spec: DataSpec, loss: str, name: str = "predictions", **layer_kwargs):
        # The network predicts standardized targets; the model itself maps them back to the
        # targets' own units, so a saved model answers in those units.
        x = keras.layers.Dense(
            spec.num_targets, dtype="float32", name=f"{name}_standardized", **layer_kwargs
        )(x)
        return keras.layers.Normalization(
            mean=spec.target_mean, variance=spec.target_variance, invert=True, dtype="float32", name=name
        )(x)

    def prediction_table(self, outputs: np.ndarray, spec: DataSpec):
        """Per example: the predicted value (``prediction``), or one column per target
        (``prediction_<i>``), in the targets' own units."""
        import pandas as pd

        outputs = outputs.reshape(len(outputs), -1).astype(np.float64)
        if outputs.shape[1] == 1:
            return pd.DataFrame({"prediction": outputs[:, 0]})
        return pd.DataFrame({f"prediction_{i}": outputs[:, i] for i in range(outputs.shape[1])})

    def evaluate(
        self,
        model,
        inputs,
        targets,
        spec: DataSpec,
        loss: str,
        batch_size: int,
        train_sample=None,
        settings=None,
    ) -> Evaluation:
        from dlpipe.evaluation.plots import plot_predictions

        outputs = predict(model, inputs, batch_size).reshape(len(targets), -1)
        targets = self.encode_targets(targets, spec, loss)
        errors = outputs - targets
        metrics = {
            "test_loss": loss_value(loss, targets, outputs),
            "test_mae": float(np.mean(np.abs(errors))),
            "test_rmse": float(np.sqrt(np.mean(errors**2))),
        }
        baseline = None
        if spec.forecast_horizon is not None:
            # The naive forecast: the series stays at its last observed value.
            baseline = inputs[:, -1, :1].astype(np.float32)
            metrics["test_naive_mae"] = float(np.mean(np.abs(baseline - targets)))
            metrics["test_mae_over_naive"] = metrics["test_mae"] / max(metrics["test_naive_mae"], 1e-12)
        report = {
            **metrics,
            "num_test": len(targets),
            "predictions": outputs[:, 0].tolist(),
            "targets": targets[:, 0].tolist(),
        }
        figure = plot_predictions(targets[:, 0], outputs[:, 0], None if baseline is None else baseline[:, 0])
        return Evaluation(metrics=metrics, report=report, figures={"predictions": figure})
