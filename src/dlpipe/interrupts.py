"""SIGTERM as an orderly stop: the run is recorded as killed and everything saved so far is kept."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

logger = logging.getLogger(__name__)


class RunTerminated(Exception):
    """The process received SIGTERM (a scheduler, ``kill``, a container stop)."""


_requested: dict[str, str | None] = {"reason": None}


def termination_requested() -> str | None:
    """The reason of a SIGTERM received by this process (None when there was none)."""
    return _requested["reason"]


def clear_termination() -> None:
    """Forget a received SIGTERM (for a process that goes on to start a new run, and for tests)."""
    _requested["reason"] = None


def _raise_terminated(signum, frame):
    _requested["reason"] = f"received {signal.Signals(signum).name}"
    raise RunTerminated(
        f"Received {signal.Signals(signum).name}: stopping. The training backup and finished trials are "
        "kept; re-run the same command to resume."
    )


@contextlib.contextmanager
def terminate_on_sigterm():
    """Within the block, SIGTERM raises ``RunTerminated`` in the main thread.

    Raising (instead of dying) lets the stages record what happened: the tuning stage marks the
    trial in flight as interrupted, the final training keeps its backup, and the MLflow run is
    closed as KILLED. Outside the main thread this is a no-op (signals are delivered there only).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def install_sigterm_handler() -> bool:
    """Make SIGTERM raise ``RunTerminated`` for the rest of the process; False outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGTERM, _raise_terminated)
    return True
