"""The workers' agreement on where to resume, with the job's other worker played by a stand-in
strategy (tests/reliability/test_training_workers.py runs two real workers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import tensorflow as tf

from dlpipe.training.backup_agreement import agreed_epoch, all_restored, check_same_training


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


def test_workers_with_another_configuration_or_data_stop_naming_theirs():
    backup = SimpleNamespace(fingerprint="a1b2c3d4e5f60718", params={"steps": 422})
    mark = float(int("a1b2c3d4e5f6", 16))
    check_same_training(backup, TwoWorkers(mark, 422.0))  # the same: goes on
    with pytest.raises(RuntimeError, match="fingerprint a1b2c3d4e5f6 and 422 steps per epoch"):
        check_same_training(backup, TwoWorkers(mark + 1, 422.0))
    with pytest.raises(RuntimeError, match="same conf/"):
        check_same_training(backup, TwoWorkers(mark, 421.0))
