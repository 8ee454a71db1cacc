"""Faults during the final training: kills, a corrupted backup, NaN loss, a full disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest

from dlpipe.config.schema import parse_family
from dlpipe.training.callbacks import NonFiniteLossError, build_training_callbacks, training_backup
from dlpipe.training.fit import fit_model
from tests.reliability.conftest import (
    backup_epochs,
    kill_group,
    make_project,
    metric_steps,
    mlflow_runs,
    run_kedro,
    start_kedro,
    wait_for,
)

BACKUP = Path("data/06_models/cnn/backup")
EPOCHS = 6


def _interrupt_then_resume(tmp_path: Path, sig: int):
    """Start the cnn run, send ``sig`` to it while epoch 3 trains, then run the same command again."""
    tuning = {"enabled": True, "n_trials": 2, "epochs": 1, "train_subset": 500, "validation_subset": 100}
    project = make_project(tmp_path / "project", {"training": {"epochs": EPOCHS}, "tuning": tuning})
    first = start_kedro(project, "run", "--pipelines=cnn", log=tmp_path / "first.log")
    try:
        # Two finished epochs backed up: the run is now inside epoch 3.
        wait_for(
            lambda: len(backup_epochs(project / BACKUP)) and max(backup_epochs(project / BACKUP)) >= 2,
            timeout=300,
            process=first,
            what="the backup of epoch 2",
        )
        if sig == signal.SIGKILL:
            kill_group(first, signal.SIGKILL)
        else:
            os.kill(first.pid, sig)  # only the kedro process, as a scheduler or `kill` would
            first.wait(timeout=120)
    finally:
        if first.poll() is None:
            kill_group(first)
    first_log = (tmp_path / "first.log").read_text()
    backed_up = max(backup_epochs(project / BACKUP))
    assert backed_up < EPOCHS, "the run finished before the signal arrived: nothing was interrupted"
    second = run_kedro(project, "run", "--pipelines=cnn")
    return project, first, first_log, backed_up, second


def _assert_resumed(project: Path, backed_up: int, second) -> dict:
    assert second.returncode == 0, second.stdout[-4000:]
    # The study was finished before the fault: the rerun does not tune again, so the tuned
    # parameters (and the backup's model) are the same.
    assert "2 trial(s) in storage, running 0 more" in second.stdout
    assert f"continuing at epoch {backed_up + 1}" in second.stdout
    # Only the epochs after the backup were trained again: at most the interrupted one is redone.
    assert f"fit: {EPOCHS - backed_up} epoch(s)" in second.stdout
    history = json.loads((project / "data/08_reporting/cnn/training_history.json").read_text())
    assert len(history["loss"]) == EPOCHS  # the configured number of epochs, not more, not fewer
    runs = mlflow_runs(project)
    assert [r for r in runs if r.info.status == "RUNNING"] == []
    rerun = max(runs, key=lambda r: r.info.start_time)
    assert rerun.info.status == "FINISHED"
    # The run that finished holds the whole job: every epoch (those restored from the backup
    # too, as the interrupted run logged them) and every trial of the tuning session.
    assert metric_steps(project, rerun.info.run_id, "val_accuracy") == list(range(EPOCHS))
    interrupted = min(runs, key=lambda r: r.info.start_time)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    before = {m.step: m.value for m in client.get_metric_history(interrupted.info.run_id, "val_accuracy")}
    after = {m.step: m.value for m in client.get_metric_history(rerun.info.run_id, "val_accuracy")}
    # (the kill may land between an epoch's backup and its logging: compare what both have)
    assert all(after[step] == before[step] for step in range(backed_up) if step in before)
    trials = [r for r in runs if "optuna.trial_number" in r.data.tags]
    assert len(trials) == 2 and {r.data.tags["mlflow.parentRunId"] for r in trials} == {rerun.info.run_id}
    assert interrupted.data.tags["dlpipe.continued_by"] == rerun.info.run_id
    assert "test_accuracy" in rerun.data.metrics
    assert not (project / BACKUP).exists()  # a finished training removes its backup
    return {r.info.run_id: r for r in runs}


@pytest.mark.fault(1, "SIGKILL mid-epoch: the rerun resumes from the backup")
def test_sigkill_mid_epoch_then_rerun_resumes_from_the_backup(tmp_path):
    project, first, _, backed_up, second = _interrupt_then_resume(tmp_path, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL
    runs = _assert_resumed(project, backed_up, second)
    killed = min(runs.values(), key=lambda r: r.info.start_time)
    # The killed process could not close its run: the rerun recorded it as KILLED.
    assert killed.info.status == "KILLED"
    assert "was left RUNNING by a process that died" in second.stdout


@pytest.mark.fault(2, "SIGTERM mid-training: recorded as killed, backup kept, rerun resumes")
def test_sigterm_mid_training_is_recorded_as_killed_and_the_rerun_resumes(tmp_path):
    project, first, first_log, backed_up, second = _interrupt_then_resume(tmp_path, signal.SIGTERM)
    assert first.returncode not in (0, -signal.SIGTERM), "SIGTERM must stop the run through its handler"
    assert "Received SIGTERM" in first_log
    assert "recorded as KILLED" in first_log
    runs = _assert_resumed(project, backed_up, second)
    terminated = min(runs.values(), key=lambda r: r.info.start_time)
    assert terminated.info.status == "KILLED"


# --------------------------------------------------------------------------- in-process faults


class _SwallowedSigterm(keras.callbacks.Callback):
    """SIGTERM arrives while code that catches every error runs (as a retrying HTTP client does)."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler runs here and raises into this frame
            except Exception:  # noqa: BLE001 - the swallowing is the point
                pass


@pytest.mark.fault(2, "SIGTERM mid-training: recorded as killed, backup kept, rerun resumes")
def test_sigterm_swallowed_by_a_library_still_stops_training(cnn_params, fashion_splits):
    from dlpipe.interrupts import RunTerminated, clear_termination, terminate_on_sigterm

    splits, info = fashion_splits
    config = _config(cnn_params)
    try:
        with terminate_on_sigterm(), pytest.raises(RunTerminated, match="SIGTERM"):
            _fit(config, splits, info, extra=[_SwallowedSigterm()])
    finally:
        clear_termination()
    assert backup_epochs(Path(config.training.backup_dir)) == []  # stopped inside epoch 1


class _StopAt(keras.callbacks.Callback):
    """Raises at the start of ``epoch`` (0-based): a crash between two epochs."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"injected crash before epoch {epoch + 1}")


class _PoisonWeightsAt(keras.callbacks.Callback):
    """Turns one kernel into NaN at the start of ``epoch``: the loss of its first batch is NaN."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            # The output layer's kernel: earlier NaNs could be squashed by a ReLU.
            kernel = [v for v in self.model.trainable_variables if len(v.shape) == 2][-1]
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def _config(cnn_params, epochs=3):
    cnn_params["training"].update(epochs=epochs, lr_schedule={"name": "constant"})
    cnn_params["training"]["early_stopping"] = {"monitor": "loss", "patience": 20}
    return parse_family("cnn", cnn_params)


def _fit(config, splits, info, extra=()):
    callbacks = [*extra, *build_training_callbacks(config.training)]
    model, history = fit_model(config, splits, info, epochs=config.training.epochs, callbacks=callbacks)
    return model, history, training_backup(callbacks)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[: len(data) // 2] = os.urandom(len(data) // 2)
    path.write_bytes(bytes(data))


@pytest.mark.fault(3, "corrupted backup: falls back to the previous one, saying so")
def test_corrupted_backup_falls_back_to_the_previous_one(cnn_params, fashion_splits, caplog):
    splits, info = fashion_splits
    config = _config(cnn_params)
    backup_dir = Path(config.training.backup_dir)
    with pytest.raises(RuntimeError, match="injected crash before epoch 3"):
        _fit(config, splits, info, extra=[_StopAt(2)])
    assert backup_epochs(backup_dir) == [1, 2]
    _corrupt(backup_dir / "epoch-0002" / "state.weights.h5")

    with caplog.at_level(logging.WARNING):
        _, history, backup = _fit(config, splits, info)
    assert "epoch-0002 cannot be read" in caplog.text
    assert "continuing at epoch 2" in caplog.text
    assert backup.restored_epoch == 1
    # The whole training's history: epoch 1 from the backup, epochs 2-3 trained again.
    assert len(history["loss"]) == 3 and history == backup.history


@pytest.mark.fault(3, "corrupted backup: falls back to the previous one, saying so")
def test_every_backup_corrupted_restarts_cleanly_saying_so(cnn_params, fashion_splits, caplog):
    splits, info = fashion_splits
    config = _config(cnn_params)
    backup_dir = Path(config.training.backup_dir)
    with pytest.raises(RuntimeError, match="injected crash"):
        _fit(config, splits, info, extra=[_StopAt(2)])
    for epoch in (1, 2):
        _corrupt(backup_dir / f"epoch-{epoch:04d}" / "state.weights.h5")
    (backup_dir / "epoch-0001" / "state.json").write_text("{not json")

    with caplog.at_level(logging.WARNING):
        _, history, backup = _fit(config, splits, info)
    assert "training starts over from epoch 1" in caplog.text
    assert backup.restored_epoch == 0
    assert len(history["loss"]) == 3
    assert history["loss"][-1] < history["loss"][0]  # a clean start learns; no half-loaded weights
    assert all(np.isfinite(history["loss"]))


@pytest.mark.fault(4, "NaN loss in the final training: error names epoch and batch, backup kept")
def test_nan_loss_in_final_training_names_epoch_and_batch_and_keeps_the_backup(cnn_params, fashion_splits):
    splits, info = fashion_splits
    config = _config(cnn_params)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, batch 1") as raised:
        _fit(config, splits, info, extra=[_PoisonWeightsAt(1)])
    backup_dir = Path(config.training.backup_dir)
    assert str(backup_dir) in str(raised.value)
    assert backup_epochs(backup_dir) == [1]
    # The kept backup is usable: the next run resumes at epoch 2 and finishes.
    _, history, backup = _fit(config, splits, info)
    assert backup.restored_epoch == 1
    assert len(backup.history["loss"]) == 3 and all(np.isfinite(backup.history["loss"]))


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB filesystem of its own (tmpfs), so it can be filled without touching the real disk."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_disk(directory: Path, leave_bytes: int) -> None:
    """Write a filler file until at most ``leave_bytes`` stay free on ``directory``'s filesystem."""
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    with (directory / "filler").open("wb") as filler:
        chunk = b"\0" * (1 << 20)
        remaining = free - leave_bytes
        while remaining > 0:
            filler.write(chunk[: min(len(chunk), remaining)])
            remaining -= len(chunk)


class _FillDiskAt(keras.callbacks.Callback):
    def __init__(self, epoch: int, directory: Path):
        super().__init__()
        self.epoch, self.directory = epoch, directory

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            fill_disk(self.directory, leave_bytes=64 * 1024)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.fault(13, "disk full while a checkpoint is written: clear error, previous one intact")
def test_disk_full_during_checkpoint_keeps_the_previous_checkpoint(cnn_params, fashion_splits, small_disk):
    splits, info = fashion_splits
    cnn_params["training"]["checkpoint_dir"] = str(small_disk / "checkpoints")
    config = _config(cnn_params)
    checkpoint = small_disk / "checkpoints" / "best.keras"
    saved_after_epoch_1 = {}

    class _Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                saved_after_epoch_1["digest"] = _digest(checkpoint)

    with pytest.raises(OSError, match=r"Could not write checkpoint .*best\.keras at epoch 2") as raised:
        _fit(config, splits, info, extra=[_Record(), _FillDiskAt(1, small_disk)])
    assert "No space left on device" in str(raised.value)
    assert str(checkpoint) in str(raised.value)
    # The previous checkpoint is the epoch-1 file, byte for byte, and still loads.
    assert _digest(checkpoint) == saved_after_epoch_1["digest"]
    keras.models.load_model(checkpoint)
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["best.keras"]  # no partial file
    assert backup_epochs(Path(config.training.backup_dir)) == [1]


@pytest.mark.fault(13, "disk full while a checkpoint is written: clear error, previous one intact")
def test_disk_full_during_model_save_leaves_no_partial_latest_version(small_disk):
    from kedro.io.core import DatasetError, Version

    from dlpipe.io import KerasModelDataset

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    model.compile(loss="mse")
    path = small_disk / "models" / "model.keras"
    KerasModelDataset(filepath=str(path), version=Version(None, None)).save(model)
    first_version = [p.name for p in path.iterdir()]
    fill_disk(small_disk, leave_bytes=16 * 1024)

    with pytest.raises(DatasetError, match="No space left on device") as raised:
        KerasModelDataset(filepath=str(path), version=Version(None, None)).save(model)
    assert str(path) in str(raised.value)
    assert [p.name for p in path.iterdir()] == first_version  # no empty or partial version folder
    loaded = KerasModelDataset(filepath=str(path), version=Version(None, None)).load()
    assert loaded.count_params() == model.count_params()
