"""A finished training is kept until its outputs are saved, and resumed only with its own configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dlpipe import run_scope
from dlpipe.pipelines.training.nodes import train_model
from dlpipe.training import callbacks as training_callbacks


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def test_a_finished_training_is_reused_until_the_run_succeeds(
    pipeline_run, cnn_params, fashion_splits, caplog
):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")  # as the catalog hands it to the node
    finished = Path(cnn_params["training"]["backup_dir"]) / "finished"
    trained, history = train_model(splits, info, [], {}, cnn_params)
    assert (finished / "state.json").is_file()  # kept: the run has not saved its outputs yet
    assert not list(finished.parent.glob("epoch-*"))  # the per-epoch backups are gone

    # The run failed while saving; the same command runs again.
    run_scope.end(succeeded=False)
    run_scope.begin()
    with caplog.at_level(logging.INFO):
        reused, history_again = train_model(splits, info, [], {}, cnn_params)
    assert "Training had finished (2 epochs) but its outputs were not saved" in caplog.text
    assert "fit: 0 epoch(s)" in caplog.text
    assert history_again == history
    for before, after in zip(_weights(trained), _weights(reused), strict=True):
        np.testing.assert_array_equal(before, after)

    run_scope.end(succeeded=True)
    assert not finished.exists()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        train_model(splits, info, [], {}, cnn_params)
    assert "fit: 2 epoch(s)" in caplog.text  # a new run trains anew


def test_a_backup_of_another_configuration_is_set_aside_not_resumed(
    pipeline_run, cnn_params, fashion_splits, caplog
):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")  # as the catalog hands it to the node
    backup_dir = Path(cnn_params["training"]["backup_dir"])
    train_model(splits, info, [], {}, cnn_params)
    run_scope.end(succeeded=False)

    run_scope.begin()
    with caplog.at_level(logging.INFO):
        _, history = train_model(splits, info, [], {"training.optimizer.learning_rate": 0.0123}, cnn_params)
    assert f"Backup {backup_dir / 'finished'} was written for another configuration" in caplog.text
    assert "fit: 2 epoch(s)" in caplog.text
    assert len(history["loss"]) == 2
    assert (backup_dir / "finished.other-config" / "state.json").is_file()  # kept, not deleted
    assert (backup_dir / "finished" / "state.json").is_file()  # this configuration's own


def test_outside_a_pipeline_run_a_finished_training_leaves_no_backup(cnn_params, fashion_splits):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")  # as the catalog hands it to the node
    assert not run_scope.active()
    train_model(splits, info, [], {}, cnn_params)
    assert not Path(cnn_params["training"]["backup_dir"]).exists()


def test_when_the_finished_training_cannot_be_kept_the_model_is_still_returned(
    pipeline_run, cnn_params, fashion_splits, monkeypatch, caplog
):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")  # as the catalog hands it to the node
    backup_dir = Path(cnn_params["training"]["backup_dir"])
    real_save = training_callbacks.TrainingBackup._save

    def disk_full_at_the_end(self, epochs_done, *, finished=False, **state):
        if finished:
            raise OSError(28, f"No space left on device: '{self.backup_dir / 'finished'}'")
        real_save(self, epochs_done, finished=finished, **state)

    monkeypatch.setattr(training_callbacks.TrainingBackup, "_save", disk_full_at_the_end)
    with caplog.at_level(logging.WARNING):
        model, history = train_model(splits, info, [], {}, cnn_params)
    assert len(history["loss"]) == 2 and model is not None
    assert "Could not keep the finished training" in caplog.text and "No space left" in caplog.text
    assert not (backup_dir / "finished").exists()
    assert sorted(p.name for p in backup_dir.glob("epoch-*")) == ["epoch-0001", "epoch-0002"]
