"""The folders of training backups: their file names, metadata, and setting one aside."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np

WEIGHTS = "state.weights.h5"
METADATA = "state.json"  # written last: a folder without it was never complete
BEST_WEIGHTS = "best_weights.npz"
FINISHED = "finished"


def read_metadata(folder: Path) -> dict:
    """The metadata of the backup in ``folder``; OSError or ValueError when it cannot be read."""
    return json.loads((folder / METADATA).read_text())


def discard_finished_training(backup_dir: str | Path) -> None:
    """Delete the finished training kept under ``backup_dir`` (and the folder, once empty)."""
    target = Path(backup_dir) / FINISHED
    shutil.rmtree(target, ignore_errors=True)
    with contextlib.suppress(OSError):
        target.parent.rmdir()


def set_aside(backup: Path, reason: str) -> Path:
    """Rename ``backup`` to ``<name>.<reason>`` (replacing an earlier one) so it is never resumed."""
    aside = backup.with_name(f"{backup.name}.{reason}")
    shutil.rmtree(aside, ignore_errors=True)
    backup.rename(aside)
    return aside


def callback_state(callback: keras.callbacks.Callback) -> dict:
    """What a monitoring callback must remember across a restart, as JSON-safe values."""
    names = ["best", "wait", "best_epoch", "stopped_epoch"]
    state = {}
    for name in names:
        if hasattr(callback, name):
            value = getattr(callback, name)
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or isinstance(value, int | float):
                state[name] = value if not (isinstance(value, float) and math.isinf(value)) else None
    return state
