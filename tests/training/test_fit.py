"""The shared fit function and the final training node, on real data, one or two epochs."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest

from dlpipe.config.schema import parse_family
from dlpipe.pipelines.training.nodes import train_model
from dlpipe.training.callbacks import build_training_callbacks
from dlpipe.training.fit import fit_model


def test_fit_model_learns_on_real_data(cnn_params, fashion_splits):
    splits, info = fashion_splits
    config = parse_family("cnn", cnn_params)
    model, history = fit_model(config, splits, info, epochs=2, callbacks=[])
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 2
    assert history["loss"][1] < history["loss"][0]
    assert model.output_shape == (None, 10)


def test_train_model_applies_tuned_parameters_and_checkpoints(cnn_params, fashion_splits):
    splits, info = fashion_splits
    cnn_params["training"]["lr_schedule"] = {"name": "constant"}  # so the rate can be read back
    best = {"model.dense.units": 24, "training.optimizer.learning_rate": 0.002}
    model, history = train_model(splits, info.model_dump(mode="json"), [], best, cnn_params)
    assert model.get_layer("dense1").units == 24
    assert math.isclose(float(model.optimizer.learning_rate), 0.002, rel_tol=1e-6)
    assert len(history["loss"]) == cnn_params["training"]["epochs"]
    assert (Path(cnn_params["training"]["checkpoint_dir"]) / "best.keras").is_file()
    # A finished training removes its backup: a rerun starts from scratch.
    assert not any(Path(cnn_params["training"]["backup_dir"]).glob("**/*.weights.h5"))


def test_training_callbacks_cover_the_essentials(cnn_params):
    from dlpipe.training.callbacks import AtomicModelCheckpoint, NanGuard, TrainingBackup

    config = parse_family("cnn", cnn_params)
    callbacks = build_training_callbacks(config.training)
    kinds = {type(cb) for cb in callbacks}
    assert {keras.callbacks.EarlyStopping, AtomicModelCheckpoint, TrainingBackup, NanGuard} <= kinds
    early = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
    assert early.restore_best_weights
    # The backup must see the end-of-epoch state of early stopping and the checkpoint.
    backup = next(cb for cb in callbacks if isinstance(cb, TrainingBackup))
    assert callbacks.index(backup) > callbacks.index(early)
    assert early in backup.stateful


def test_nan_loss_stops_training_with_an_error(cnn_params, tiny_splits):
    splits, info = tiny_splits
    broken = dict(splits)
    # Inputs near float32's limit overflow to inf in the first layer and to NaN after it.
    broken["x_train"] = np.full(splits["x_train"].shape, 3e38, dtype="float32")
    config = parse_family("cnn", cnn_params)
    with pytest.raises(RuntimeError, match="NaN"):
        fit_model(
            config, broken, info, epochs=2, callbacks=[keras.callbacks.TerminateOnNaN(raise_error=True)]
        )
