"""Backups of the whole training state after every epoch, and the resume from them."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np

from dlpipe import run_scope
from dlpipe.interrupts import RunTerminated
from dlpipe.training.backup_agreement import lockstep_strategy, restore_in_lockstep
from dlpipe.training.backup_folders import (
    BEST_WEIGHTS,
    FINISHED,
    METADATA,
    WEIGHTS,
    callback_state,
    discard_finished_training,
    read_metadata,
    set_aside,
)

logger = logging.getLogger(__name__)


class BackupUnreadableError(RuntimeError):
    """No backup could be restored into a later phase: the fit must start over from its first."""


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the whole training state after every epoch and restores it when training restarts.

    Each backup is a folder ``epoch-NNNN`` holding the model and optimizer weights, the epoch, the
    history so far and the state of the early-stopping and checkpoint callbacks given in
    ``stateful`` (so a resumed run neither forgets its best epoch nor overwrites the best checkpoint
    with a worse one). A backup is written to a temporary folder and renamed when complete; the
    previous one is kept, so a kill during the write, or a backup corrupted later, falls back to
    the one before. When no backup can be read, training starts over from epoch 0 and says so.

    When training ends normally the backups are deleted, unless ``keep_finished``: then the
    trained model and its history are kept as a ``finished`` backup until the caller has saved
    them (inside a Kedro run: until the run succeeds), so a failure while saving the outputs
    does not cost the training. The next ``fit`` then trains no epoch and returns that model.

    Each backup records ``fingerprint``, the configuration it was trained with; a backup of
    another configuration is never resumed: it is moved aside (``*.other-config``) with a warning.

    A fit in phases (see ``Family.phases``) runs one Keras ``fit`` per phase with the same
    backup: ``begin_phase`` tells it which phase runs, whether it continues this process's
    training (nothing to restore) and whether it is the last (only then is training finished).
    Each backup records its phase (see ``phases.resume_point``).

    Place it after the callbacks in ``stateful``: it must see their end-of-epoch state.
    """

    def __init__(
        self,
        backup_dir: str,
        stateful: list[keras.callbacks.Callback] = (),
        keep: int = 2,
        *,
        fingerprint: str | None = None,
        keep_finished: bool = False,
    ):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.stateful = list(stateful)
        self.keep = max(1, keep)
        self.fingerprint = fingerprint
        self.keep_finished = keep_finished
        self.history: dict[str, list[float]] = {}
        self.restored_from: Path | None = None
        self.restored_epoch = 0
        self.finished_before = False  # this fit returned a model trained before, without training
        # The phase of a fit in phases (see fit.fit_model) that this process is training.
        self.phase, self.phase_start = 0, 0
        self.continuing = False  # it follows a phase this process trained: nothing to restore
        self.completes = True  # it is the last (or only) phase: its end finishes the training
        self.epochs_done = 0

    def begin_phase(self, index: int, start_epoch: int, *, continuing: bool, last: bool) -> None:
        """Before each phase's ``fit``: its index and first epoch, whether it follows a phase
        this process trained, and whether it is the last one."""
        self.phase, self.phase_start = index, start_epoch
        self.continuing, self.completes = continuing, last

    # ----------------------------------------------------------------------- restore

    def backups(self) -> list[Path]:
        """The complete backups, newest first."""
        if not self.backup_dir.is_dir():
            return []
        found = [p for p in self.backup_dir.glob("epoch-*") if p.is_dir() and p.name[6:].isdigit()]
        return sorted(found, key=lambda p: int(p.name[6:]), reverse=True)

    def _set_aside_other_configs(self) -> None:
        if self.fingerprint is None:
            return
        for backup in [self.backup_dir / FINISHED, *self.backups()]:
            try:
                written_for = read_metadata(backup).get("fingerprint")
            except (OSError, ValueError):
                continue  # unreadable: the fallback below deals with it
            if written_for == self.fingerprint:
                continue
            aside = set_aside(backup, "other-config")
            logger.warning(
                "Backup %s was written for another configuration; moved it to %s. It is not resumed.",
                backup,
                aside,
            )

    def _restore_finished(self) -> bool:
        finished = self.backup_dir / FINISHED
        if not (finished / METADATA).is_file():
            return False
        try:
            metadata = read_metadata(finished)
            self.model.load_weights(str(finished / WEIGHTS))
        except RunTerminated:
            raise
        except Exception as err:  # noqa: BLE001 - unreadable: train again rather than fail
            aside = set_aside(finished, "corrupt")
            logger.warning("Finished backup %s cannot be read (%s); moved it to %s", finished, err, aside)
            return False
        self.history = {key: list(values) for key, values in metadata["history"].items()}
        self.restored_from, self.restored_epoch = finished, int(metadata["epoch"])
        self.epochs_done = self.restored_epoch
        self.finished_before = True
        # No epoch left to run: fit returns at once with the restored model.
        self.model._initial_epoch = int((self.params or {}).get("epochs", self.restored_epoch))
        logger.warning(
            "Training had finished (%d epochs) but its outputs were not saved: using the trained "
            "model from %s instead of training again",
            self.restored_epoch,
            finished,
        )
        return True

    def on_train_begin(self, logs=None):
        if self.continuing:
            return
        self.history = {}
        self.restored_from, self.restored_epoch, self.finished_before = None, 0, False
        self.epochs_done = 0
        self._set_aside_other_configs()
        # Built first, so a backup's optimizer state has variables to load into.
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        lockstep = lockstep_strategy(self.model)
        if lockstep is not None:
            restore_in_lockstep(self, lockstep)
            return
        if self._restore_finished():
            return
        self.restore_newest(self.backups())

    def restore_newest(self, candidates: list[Path]) -> None:
        """Restore the newest readable of ``candidates`` (newest first), setting unreadable ones
        aside; with none readable, training starts over (or fails, in a later phase)."""
        if not candidates:
            return
        initial_state = [v.numpy() for v in self.variables()]
        for backup in candidates:
            if self.try_restore(backup, initial_state):
                return
        if self.phase > 0:
            raise BackupUnreadableError(f"no backup in {self.backup_dir} could be restored")
        self.model._initial_epoch = 0
        logger.warning("No readable backup in %s: training starts over from epoch 1", self.backup_dir)

    def try_restore(self, backup: Path, initial_state: list) -> bool:
        """Restore ``backup``. When it cannot be read, put the variables back to
        ``initial_state``, set the backup aside as corrupt and return False."""
        try:
            self._restore(backup)
        except RunTerminated:
            raise
        except Exception as err:  # noqa: BLE001 - any unreadable backup: the caller tries another
            for variable, value in zip(self.variables(), initial_state, strict=True):
                variable.assign(value)
            aside = set_aside(backup, "corrupt")
            logger.warning(
                "Backup %s cannot be read (%s: %s); moved it to %s", backup, type(err).__name__, err, aside
            )
            return False
        self.restored_from = backup
        logger.warning(
            "Resuming training from backup %s: epochs 1-%d are done, continuing at epoch %d",
            backup,
            self.restored_epoch,
            self.restored_epoch + 1,
        )
        return True

    def variables(self):
        """The model's variables and those of every optimizer it holds (a GAN has two)."""
        variables = list(self.model.variables)
        seen = set()
        for value in vars(self.model).values():
            if isinstance(value, keras.optimizers.Optimizer) and id(value) not in seen:
                seen.add(id(value))
                variables += list(value.variables)
        return variables

    def _restore(self, backup: Path) -> None:
        metadata = read_metadata(backup)
        epoch = int(metadata["epoch"])
        self.model.load_weights(str(backup / WEIGHTS))
        best_weights = None
        if (backup / BEST_WEIGHTS).is_file():
            with np.load(backup / BEST_WEIGHTS) as stored:
                best_weights = [stored[f"w{i}"] for i in range(len(stored.files))]
        for index, callback in enumerate(self.stateful):
            state = metadata["callbacks"][str(index)]
            for key, value in state.items():
                setattr(callback, key, value)
            if isinstance(callback, keras.callbacks.EarlyStopping):
                callback.best_weights = best_weights
        self.history = {key: list(values) for key, values in metadata["history"].items()}
        self.restored_epoch = self.epochs_done = epoch
        self.model._initial_epoch = epoch

    # ----------------------------------------------------------------------- save

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_done = epoch + 1
        # Early stopping (placed before) has decided by now whether this phase ends here.
        phase_done = bool(self.model.stop_training) or self.epochs_done == self.params.get("epochs")
        self._save(self.epochs_done, phase_done=phase_done)

    def _save(self, epochs_done: int, *, phase_done: bool = False, finished: bool = False) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = FINISHED if finished else f"epoch-{epochs_done:04d}"
        final = self.backup_dir / name
        partial = self.backup_dir / f".partial-{name}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir()
            self.model.save_weights(str(partial / WEIGHTS), overwrite=True)
            callback_states = {}
            best_weights = None
            for index, callback in enumerate(self.stateful):
                callback_states[str(index)] = callback_state(callback)
                if isinstance(callback, keras.callbacks.EarlyStopping) and callback.best_weights is not None:
                    best_weights = callback.best_weights
            if best_weights is not None:
                np.savez(partial / BEST_WEIGHTS, **{f"w{i}": w for i, w in enumerate(best_weights)})
            metadata = {
                "epoch": epochs_done,
                "history": self.history,
                "callbacks": callback_states,
                "fingerprint": self.fingerprint,
                "phase": self.phase,
                "phase_start": self.phase_start,
                "phase_done": phase_done or finished,
            }
            # The metadata is written last: a folder without it was never complete.
            (partial / METADATA).write_text(json.dumps(metadata))
        except OSError as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise OSError(
                err.errno,
                f"Could not write the training backup {final} after epoch {epochs_done}: {err}. The "
                f"previous backup in {self.backup_dir} is intact; free space or change training.backup_dir.",
            ) from err
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in self.backups()[self.keep :]:
            shutil.rmtree(old, ignore_errors=True)

    def on_train_end(self, logs=None):
        # Only a normal end reaches here (errors and kills skip on_train_end). The epoch backups
        # are no longer needed: a rerun must not resume a finished training.
        if not self.completes:
            return  # another phase follows: the backups are its resume points
        if not self.keep_finished:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            return
        if not self.finished_before:
            # Early stopping has already put the best epoch's weights back (it comes first).
            try:
                self._save(self.epochs_done, finished=True)
            except OSError as err:
                # The model is still returned for saving; the epoch backups stay as the fallback.
                logger.warning("Could not keep the finished training: %s", err)
                return
        for backup in self.backups():
            shutil.rmtree(backup, ignore_errors=True)
        backup_dir = self.backup_dir
        run_scope.on_success(lambda: discard_finished_training(backup_dir))
