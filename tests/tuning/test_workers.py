"""Which running trials are abandoned, and which trials a session has a place for
(dlpipe.tuning.workers), on a real journal study with the owners written as processes write them."""

import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from dlpipe.tuning.workers import (
    ALIVE_ATTR,
    OWNER_ATTR,
    RETRY_OF_ATTR,
    STALE_ATTR,
    SURPLUS_ATTR,
    Heartbeat,
    NoPlaceLeft,
    claim,
    fail_abandoned_trials,
    running_elsewhere,
    take_place,
)


@pytest.fixture
def clock(monkeypatch):
    """This process's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr("dlpipe.tuning.workers._clock", lambda: now[0])
    return now


@pytest.fixture
def study(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def _running(study, owner: dict | None, x: float = 0.5):
    trial = study.ask()
    study._storage.set_trial_param(trial._trial_id, "x", x, optuna.distributions.FloatDistribution(0, 1))
    if owner is not None:
        trial.set_user_attr(OWNER_ATTR, owner)
    return trial


def _dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(finished.stdout)


def test_a_trial_of_a_dead_process_here_is_failed_once_and_queued_again_once(study):
    _running(
        study, {"host": socket.gethostname(), "pid": _dead_pid(), "started": None, "session": "s1"}, x=0.25
    )

    assert fail_abandoned_trials(study, shared=True, session="s1") == 1
    assert fail_abandoned_trials(study, shared=True, session="s1") == 0  # a second process finds it done
    killed, retry = study.get_trials(deepcopy=False)
    assert killed.state == TrialState.FAIL and killed.user_attrs[STALE_ATTR] is True
    assert retry.state == TrialState.WAITING
    assert retry.system_attrs["fixed_params"] == {"x": 0.25}  # run with these when asked
    assert retry.user_attrs[RETRY_OF_ATTR] == killed.number


def test_live_trials_of_this_session_are_left_alone_and_earlier_sessions_are_not(study):
    here_alive = {"host": socket.gethostname(), "pid": 1, "started": None, "session": "s1"}  # init lives
    elsewhere = {"host": "another-machine", "pid": 1234, "started": None, "session": "s1"}
    old_session = {"host": "another-machine", "pid": 1234, "started": None, "session": "s0"}
    for owner in (here_alive, elsewhere, old_session):
        _running(study, owner)

    assert fail_abandoned_trials(study, shared=True, session="s1") == 1
    states = [t.state for t in study.get_trials(deepcopy=False) if t.user_attrs.get(OWNER_ATTR)]
    assert states == [TrialState.RUNNING, TrialState.RUNNING, TrialState.FAIL]
    assert len(running_elsewhere(study)) == 2


def test_a_trial_not_yet_claimed_gets_a_grace_minute_of_this_process_clock(study, clock):
    _running(study, None)
    assert fail_abandoned_trials(study, shared=True, session="s1") == 0  # first seen now
    clock[0] += 59
    assert fail_abandoned_trials(study, shared=True, session="s1") == 0
    clock[0] += 2
    assert fail_abandoned_trials(study, shared=True, session="s1") == 1


def test_an_unclaimed_trial_of_a_study_one_process_owns_was_cut_short(study):
    _running(study, None)
    # An SQLite study has one process: whatever it did not start itself was cut short.
    assert fail_abandoned_trials(study, shared=False, session="s1") == 1


def test_this_process_own_trial_is_never_abandoned(study):
    trial = study.ask()
    claim(trial, "s1", heartbeat_s=30.0)
    assert fail_abandoned_trials(study, shared=False, session="s1") == 0
    assert fail_abandoned_trials(study, shared=True, session="s1") == 0
    assert running_elsewhere(study) == []


def test_a_trial_beyond_the_sessions_target_is_surplus(study):
    for _ in range(2):
        trial = study.ask()
        take_place(study, trial, target=2)
        study.tell(trial, 0.5)
    third = study.ask()
    with pytest.raises(NoPlaceLeft, match="already has its 2 trials"):
        take_place(study, third, target=2)
    assert study.get_trials(deepcopy=False)[-1].user_attrs[SURPLUS_ATTR] is True


def test_a_trial_of_another_host_is_abandoned_once_it_misses_four_of_its_heartbeats(study, clock):
    elsewhere = {"host": "another-machine", "pid": 1234, "started": None, "session": "s1"}
    quiet, beating = _running(study, elsewhere), _running(study, elsewhere)
    for trial in (quiet, beating):
        trial.set_user_attr(ALIVE_ATTR, {"count": 3, "every": 30.0})
    assert fail_abandoned_trials(study, shared=True, session="s1") == 0  # first seen now
    clock[0] += 4 * 30.0 + 1  # on this process's clock: the other host's is never read
    beating.set_user_attr(ALIVE_ATTR, {"count": 4, "every": 30.0})

    assert fail_abandoned_trials(study, shared=True, session="s1") == 1
    assert [t.state for t in study.get_trials(deepcopy=False)][:2] == [TrialState.FAIL, TrialState.RUNNING]


def test_the_heartbeat_goes_on_while_the_trial_runs_and_says_when_it_was_taken_over(study):
    trial = study.ask()
    claim(trial, "s1", heartbeat_s=0.05)
    heartbeat = Heartbeat(study, trial, interval_s=0.05)
    with heartbeat:
        deadline = time.monotonic() + 10
        while study.get_trials(deepcopy=False)[0].user_attrs[ALIVE_ATTR]["count"] < 3:
            assert time.monotonic() < deadline, "no heartbeat recorded"
            time.sleep(0.02)
        assert not heartbeat.lost
        # Another process takes it as abandoned:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        while not heartbeat.lost:
            assert time.monotonic() < deadline, "the heartbeat did not notice"
            time.sleep(0.02)
    assert not heartbeat._thread.is_alive()
