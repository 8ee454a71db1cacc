"""The Kedro run in progress, as dlpipe's hooks open and close it.

Some work may only be finalised once the whole run has succeeded: a tuning session is closed, and
a finished training's backup deleted, only when every output is saved. When the run fails, both
stay, so re-running the same command goes on from there instead of re-tuning or retraining.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

_scope: dict = {"active": False, "on_success": [], "started": None}


def begin() -> None:
    """Open a run: ``on_success`` actions wait for ``end``. The first run of a process also
    freezes the garbage collector's view of what the imports created (see below)."""
    if not _scope.get("frozen"):
        # Every full collection walks all tracked objects, and importing the stack leaves about
        # 700,000 (0.25 s a collection on 2 cores). Keras' clear_session() collects after each
        # tuning trial; with the startup objects frozen (never scanned again), those collections
        # see only what the run created since. No collection first: it would cost those 0.25 s to
        # find fewer than a thousand unreachable objects, which stay allocated instead.
        gc.freeze()
        _scope["frozen"] = True
    _scope.update(active=True, on_success=[], started=time.monotonic())


def started_at() -> float | None:
    """``time.monotonic()`` when the run in progress began; None outside a run."""
    return _scope["started"] if _scope["active"] else None


def active() -> bool:
    """Whether a run opened by dlpipe's hooks is in progress."""
    return bool(_scope["active"])


def on_success(action: Callable[[], None]) -> None:
    """Run ``action`` when the run succeeds; outside a run, at once."""
    if _scope["active"]:
        _scope["on_success"].append(action)
    else:
        action()


def end(succeeded: bool) -> None:
    """Close the run; its ``on_success`` actions run only if it succeeded."""
    actions, _scope["on_success"] = _scope["on_success"], []
    _scope["active"] = False
    if succeeded:
        for action in actions:
            action()
