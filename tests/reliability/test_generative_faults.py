"""Faults of the generative families: a GAN crashing mid-epoch and resuming with both optimizers,
NaN in one of a GAN's losses, a VAE whose KL divergence explodes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.training.callbacks import NonFiniteLossError, build_training_callbacks, training_backup
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import shrunk_block

PARAMS = load_project_params("base")
STEPS_PER_EPOCH = 4  # 64 images in batches of 16 (shrunk_block)


def _gan(tmp_path, **overrides):
    block = with_overrides(
        shrunk_block(PARAMS["gan"], tmp_path, epochs=3),
        {
            "model.frechet_examples": 32,
            "training.early_stopping": {"monitor": "val_frechet_distance", "patience": 20},
            **overrides,
        },
    )
    config = parse_family("gan", block)
    splits, spec = load_splits(config.dataset, config.seed)
    return config, splits, spec


class _CrashMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError(f"injected crash in epoch {self.epoch + 1}, batch {self.batch + 1}")


class _RecordIterations(keras.callbacks.Callback):
    """The step counts of both optimizers when the first epoch of this fit begins."""

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "at_start"):
            self.at_start = (
                epoch,
                int(self.model.optimizer.iterations.numpy()),
                int(self.model.discriminator_optimizer.iterations.numpy()),
            )


def _fit(config, splits, spec, extra=()):
    callbacks = [*extra, *build_training_callbacks(config.training, mode="min")]
    model, history = fit_model(config, splits, spec, epochs=config.training.epochs, callbacks=callbacks)
    return model, history, training_backup(callbacks)


@pytest.mark.fault(17, "GAN crashed mid-epoch: resumes with both optimizers' step counts continuing")
def test_gan_crash_mid_epoch_resumes_both_optimizers(tmp_path):
    config, splits, spec = _gan(tmp_path, **{"model.discriminator_steps": 2})
    with pytest.raises(RuntimeError, match="injected crash in epoch 2"):
        _fit(config, splits, spec, [_CrashMidEpoch(epoch=1, batch=1)])
    record = _RecordIterations()
    model, history, backup = _fit(config, splits, spec, [record])
    assert backup.restored_epoch == 1
    # Resumed at epoch 2 with epoch 1's steps counted by both optimizers, not reset to zero.
    assert record.at_start == (1, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH)
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS_PER_EPOCH
    assert int(model.discriminator_optimizer.iterations.numpy()) == 2 * 3 * STEPS_PER_EPOCH
    # The whole training's history: epoch 1 restored from the backup, epochs 2 and 3 run here.
    assert len(history["val_frechet_distance"]) == 3 and history == backup.history


class _PoisonGeneratorAt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            kernel = self.model.generator.get_layer("project").kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


@pytest.mark.fault(18, "NaN in a GAN's loss: training stops naming the loss, epoch and batch")
def test_gan_nan_loss_is_named(tmp_path):
    config, splits, spec = _gan(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"g_loss is nan.* at epoch 2, batch 1"):
        _fit(config, splits, spec, [_PoisonGeneratorAt()])


@pytest.mark.fault(19, "a VAE whose KL divergence explodes: training stops naming the loss")
def test_vae_exploding_kl_is_caught(tmp_path):
    # Steps of size 10 push the log-variances until exp(log_var) overflows.
    block = with_overrides(
        shrunk_block(PARAMS["vae"], tmp_path, epochs=2),
        {"training.optimizer.learning_rate": 10.0, "model.kl_warmup_epochs": 0},
    )
    config = parse_family("vae", block)
    splits, spec = load_splits(config.dataset, config.seed)
    with pytest.raises(NonFiniteLossError, match="kl_loss|reconstruction_loss"):
        _fit(config, splits, spec)
