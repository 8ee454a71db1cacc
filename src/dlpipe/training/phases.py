"""Training in phases: one Keras ``fit`` per phase of a family (see ``Family.phases``), each
recompiled for what then trains, resumable in the phase a backup was written in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import keras

from dlpipe.families import TrainingPhase
from dlpipe.training.backup import BackupUnreadableError, TrainingBackup
from dlpipe.training.backup_agreement import lockstep_strategy
from dlpipe.training.backup_folders import FINISHED, read_metadata
from dlpipe.training.budget import BudgetDeadline
from dlpipe.training.callbacks import training_backup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePoint:
    """What the backup a fit would resume from says: the epochs done, the index of the phase
    that wrote it and the epoch that phase began at, and whether that phase had ended."""

    epoch: int
    phase: int
    phase_start: int
    phase_done: bool


def resume_point(backup: TrainingBackup) -> ResumePoint | None:
    """Where a fit starting now with ``backup`` would resume: its finished training or its newest
    backup of this configuration; None when there is none. Only the metadata is read."""
    for folder in [backup.backup_dir / FINISHED, *backup.backups()]:
        try:
            metadata = read_metadata(folder)
        except (OSError, ValueError):
            continue
        if backup.fingerprint is None or metadata.get("fingerprint") == backup.fingerprint:
            return ResumePoint(
                epoch=int(metadata["epoch"]),
                phase=int(metadata.get("phase", 0)),
                phase_start=int(metadata.get("phase_start", 0)),
                phase_done=folder.name == FINISHED or bool(metadata.get("phase_done")),
            )
    return None


class BestAcrossPhases(keras.callbacks.Callback):
    """Early stopping forgets its best epoch when a new ``fit`` begins; a phase that follows
    another must only replace the weights it restores with better ones. Listed after the
    early-stopping callbacks, it gives them back what they held, with the new phase's patience."""

    def __init__(self, callbacks):
        super().__init__()
        self.stoppers = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
        self.held = [(c.best, c.best_epoch, c.best_weights) for c in self.stoppers]

    def on_train_begin(self, logs=None):
        for stopper, (best, best_epoch, best_weights) in zip(self.stoppers, self.held, strict=True):
            stopper.best, stopper.best_epoch, stopper.best_weights = best, best_epoch, best_weights


def check_phases(phases: list[TrainingPhase], epochs: int, family: str) -> None:
    """A family's phases must each train and together train ``epochs`` epochs."""
    counts = [phase.epochs for phase in phases]
    if not phases or min(counts) < 1 or sum(counts) != epochs:
        raise ValueError(f"family '{family}' split a fit of {epochs} epoch(s) into phases of {counts} epochs")


def fit_in_phases(
    model: keras.Model,
    phases: list[TrainingPhase],
    *,
    enter: Callable[[TrainingPhase], None],
    callbacks: list[keras.callbacks.Callback],
    **fit_args,
) -> tuple[dict[str, list[float]], int]:
    """Fit ``model`` phase after phase: ``enter(phase)`` prepares and compiles it, then its epochs
    run. A ``TrainingBackup`` among ``callbacks`` decides where to start: in the phase its newest
    backup was written in; when no backup of a later phase can be read, from the first phase.

    Returns the per-epoch history of the whole training, epochs before a restart included, and
    the number of epochs this call trained.
    """
    backup = training_backup(callbacks)
    # The workers of a multi-worker job choose their resume point together, inside the fit
    # (backup_agreement); one phase is all such a job trains.
    alone = lockstep_strategy(model) is None
    point = resume_point(backup) if backup is not None and alone else None
    if point is not None and point.phase >= len(phases):
        point = None
    try:
        try:
            return _fit(model, phases, point, backup, enter, callbacks, fit_args)
        except BackupUnreadableError as err:
            logger.warning("%s: training starts over from its first phase", err)
            return _fit(model, phases, None, backup, enter, callbacks, fit_args)
    finally:
        if backup is not None:
            backup.begin_phase(0, 0, continuing=False, last=True)


def _fit(model, phases, point, backup, enter, callbacks, fit_args) -> tuple[dict[str, list[float]], int]:
    history: dict[str, list[float]] = {}
    epoch, trained_here, epochs_run = 0, False, 0
    for index, phase in enumerate(phases):
        if point is not None and index < point.phase:
            continue  # done before the restart: the backup holds its outcome
        end_epoch = epoch + phase.epochs
        if point is not None and index == point.phase:
            epoch = point.phase_start
            # A phase that had ended (early stopping, or its last epoch) runs no epoch more.
            end_epoch = point.epoch if point.phase_done else epoch + phase.epochs
        enter(phase)
        if backup is not None:
            backup.begin_phase(index, epoch, continuing=trained_here, last=index == len(phases) - 1)
        if len(phases) > 1:
            logger.info("Phase '%s': epochs %d-%d", phase.name, epoch + 1, end_epoch)
        model._initial_epoch = None  # a backup restored in an earlier phase set it
        result = model.fit(
            initial_epoch=epoch,
            epochs=end_epoch,
            callbacks=callbacks + ([BestAcrossPhases(callbacks)] if trained_here else []),
            **fit_args,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(value) for value in values)
        epochs_run += len(result.epoch)
        if backup is not None:
            epoch = backup.epochs_done
        elif result.epoch:
            epoch = result.epoch[-1] + 1
        trained_here = True
        if any(isinstance(c, BudgetDeadline) and c.stopped_after is not None for c in callbacks):
            logger.info("Budget: the phases after '%s' are not started", phase.name)
            if backup is not None:  # the training ends here: kept as finished, as after a last phase
                backup.completes = True
                backup.on_train_end()
            break
    if backup is not None:  # it holds the epochs before a restart too
        history = {key: list(values) for key, values in backup.history.items()}
    return history, epochs_run
