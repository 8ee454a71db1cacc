"""A best-model checkpoint that a full disk or a kill cannot destroy."""

from __future__ import annotations

import contextlib
import os

import keras


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` that never leaves a half-written file in place of a good one.

    The model is written to a temporary file next to the target and renamed over it only once
    complete, so a full disk or a kill during the write keeps the previous checkpoint intact.
    """

    def _save_model(self, epoch, batch, logs):
        final = self._get_file_path(epoch, batch, logs)
        directory, name = os.path.split(final)
        stem, extension = os.path.splitext(name)
        partial = os.path.join(directory, f".{stem}.partial{extension}")
        original = self.filepath
        self.filepath = partial
        try:
            super()._save_model(epoch, batch, logs)
        except OSError as err:
            _remove_quietly(partial)
            raise OSError(
                err.errno,
                f"Could not write checkpoint {final} at epoch {epoch + 1}: {err}. The previous checkpoint "
                f"{final} is intact{' ' if os.path.exists(final) else ' (there was none)'}; free space "
                "or change training.checkpoint_dir.",
            ) from err
        finally:
            self.filepath = original
        if os.path.exists(partial):
            os.replace(partial, final)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
