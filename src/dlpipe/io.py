"""Kedro datasets of dlpipe."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import keras
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str
from kedro_datasets.tensorflow import TensorFlowModelDataset


class KerasModelDataset(TensorFlowModelDataset):
    """``TensorFlowModelDataset`` whose saves are all-or-nothing on the local filesystem.

    The model is written to a hidden temporary file in the version's folder and renamed into place
    only once complete. A failed save (disk full, kill) removes its partial file and its empty
    version folder, so the latest version on disk is always a complete model. Other filesystems
    use the parent's save.

    The nodes after training (evaluation, logging) read the model the file holds: each run reads
    the file once and later loads of the same unchanged file return that model again (loading it
    takes 0.1 s for the smallest models).
    """

    def load(self) -> keras.Model:
        if self._protocol not in ("file", None):
            return TensorFlowModelDataset.load.__wrapped__(self)
        path = Path(get_filepath_str(self._get_load_path(), self._protocol))
        stat = path.stat()
        identity = (str(path), stat.st_mtime_ns, stat.st_size)
        remembered = getattr(self, "_last_loaded", None)
        if remembered is None or remembered[0] != identity:
            remembered = (identity, TensorFlowModelDataset.load.__wrapped__(self))
            self._last_loaded = remembered
        return remembered[1]

    def save(self, data: keras.Model) -> None:
        if self._protocol not in ("file", None):
            TensorFlowModelDataset.save.__wrapped__(self, data)
            return
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        try:
            keras.saving.save_model(data, str(partial), **self._save_args)
            os.replace(partial, target)
        except OSError as err:
            partial.unlink(missing_ok=True)
            if target.parent != Path(get_filepath_str(self._filepath, self._protocol)).parent:
                # A version folder holding nothing would look like a version to readers.
                with contextlib.suppress(OSError):
                    target.parent.rmdir()
            raise DatasetError(
                f"Could not save the model to {target}: {err}. No partial file is left; the latest "
                "complete version is unchanged. Free space and re-run (the tuning study and the "
                "training checkpoint are kept)."
            ) from err


class PredictionInputsDataset(AbstractDataset):
    """Inputs of batch prediction, read-only: a ``.npy`` array or a folder of images at ``path``.

    Loads ``{"names": [...], "inputs": array, "source": path}``: one name per input (its file
    name, or its row index in the array).
    """

    def __init__(self, path: str):
        self._path = Path(path)

    def load(self) -> dict:
        from dlpipe.serving.inputs import read_inputs

        names, inputs = read_inputs(self._path)
        return {"names": names, "inputs": inputs, "source": str(self._path)}

    def save(self, data) -> None:
        raise DatasetError("PredictionInputsDataset is read-only: put the inputs at its path")

    def _describe(self) -> dict:
        return {"path": str(self._path)}
