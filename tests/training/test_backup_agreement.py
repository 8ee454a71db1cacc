"""The workers' agreement on where to resume, with the job's other worker played by a stand-in
strategy (tests/reliability/test_training_workers.py runs two real workers)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf

from dlpipe.training.backup_agreement import (
    agreed_epoch,
    all_restored,
    check_same_training,
    restore_in_lockstep,
)


class TwoWorkers:
    """A strategy of two workers: each ``reduce`` adds the other worker's next value."""

    num_replicas_in_sync = 2

    def __init__(self, *other_values: float):
        self.other_values = list(other_values)

    def run(self, function):
        return function()

    def reduce(self, op, value, axis=None):
        assert op == "SUM" and axis is None
        return tf.constant(float(value.numpy()) + self.other_values.pop(0), dtype=tf.float64)


@pytest.mark.parametrize(
    ("mine", "other", "agreed"),
    [(3, 3, 3), (3, 2, 2), (2, 3, 2), (0, 0, 0), (1, 0, 0)],
)
def test_the_workers_resume_from_the_lowest_of_their_newest_backups(mine, other, agreed):
    assert agreed_epoch(TwoWorkers(other), mine) == agreed


def test_all_must_have_restored_or_all_start_over():
    assert all_restored(TwoWorkers(1.0), True)
    assert not all_restored(TwoWorkers(0.0), True)
    assert not all_restored(TwoWorkers(1.0), False)


MARK = float(int("a1b2c3d4", 16))


def test_workers_with_another_configuration_or_data_stop_naming_theirs():
    backup = SimpleNamespace(fingerprint="a1b2c3d4e5f60718", params={"steps": 422})
    # Each check is two rounds: the values, then whether each differs from their mean.
    check_same_training(backup, TwoWorkers(MARK, 0.0, 422.0, 0.0))  # the same: goes on
    with pytest.raises(RuntimeError, match="fingerprint a1b2c3d4 and 422 steps per epoch"):
        check_same_training(backup, TwoWorkers(MARK + 1, 1.0, 422.0, 0.0))
    with pytest.raises(RuntimeError, match="same conf/"):
        check_same_training(backup, TwoWorkers(MARK, 0.0, 421.0, 1.0))


class FakeBackup:
    """The part of ``TrainingBackup`` the agreement uses, over real backup folders."""

    def __init__(self, folder: Path, epochs: list[int], unreadable: set[int]):
        self.fingerprint, self.params, self.stateful = "a1b2c3d4e5f60718", {"steps": 10, "epochs": 6}, []
        self.folders = {}
        for epoch in epochs:
            self.folders[epoch] = folder / f"epoch-{epoch:04d}"
            self.folders[epoch].mkdir(parents=True)
            (self.folders[epoch] / "state.json").write_text(json.dumps({"epoch": epoch, "phase_done": False}))
        self.unreadable, self.restored_epoch, self.tried = unreadable, 0, []
        self.model = SimpleNamespace(_initial_epoch=None)

    def backups(self):
        return sorted((f for f in self.folders.values() if f.is_dir()), reverse=True)

    def variables(self):
        return []

    def try_restore(self, folder, initial_state):
        epoch = int(folder.name[6:])
        self.tried.append(epoch)
        if epoch in self.unreadable:
            return False
        self.restored_epoch = self.model._initial_epoch = epoch
        return True


def test_when_one_worker_cannot_read_the_agreed_backup_all_take_the_one_before(tmp_path):
    backup = FakeBackup(tmp_path, [2, 3], unreadable={3})
    # The other worker: same training, newest 3, restores it; then newest 2, restores it.
    other = TwoWorkers(MARK, 0.0, 10.0, 0.0, 3.0, 1.0, 2.0, 1.0)
    restore_in_lockstep(backup, other)
    assert backup.tried == [3, 2] and backup.restored_epoch == backup.model._initial_epoch == 2
    assert not other.other_values  # as many collective rounds as the other worker made
    assert not backup.folders[3].exists()  # newer than what the job continues from: deleted


def test_a_worker_a_backup_ahead_resumes_with_the_others_and_drops_the_newer_one(tmp_path):
    backup = FakeBackup(tmp_path, [3, 4], unreadable=set())
    restore_in_lockstep(backup, TwoWorkers(MARK, 0.0, 10.0, 0.0, 3.0, 1.0))
    assert backup.tried == [3] and backup.restored_epoch == 3
    assert backup.folders[3].exists() and not backup.folders[4].exists()
