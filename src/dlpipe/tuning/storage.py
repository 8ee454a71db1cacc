"""The study's storage, an SQLite file or an Optuna journal file: checked before use, then opened or
created."""

from __future__ import annotations

import os
import socket
import sqlite3
import zlib
from pathlib import Path

import optuna

from dlpipe.config.schema import FamilyConfig
from dlpipe.tuning.search_space import create_pruner, create_sampler

SQLITE_HEADER = b"SQLite format 3\x00"


class StudyStorageError(RuntimeError):
    """The study's file cannot be used: locked by another process, corrupted, or not a study."""


def study_file(tuning) -> tuple[str, Path, str]:
    """The kind of the study's storage (``sqlite`` or ``journal``), its file, and the key that
    names it in the parameters (for messages)."""
    url = tuning.storage
    if url is None:
        return "sqlite", Path(tuning.storage_path).expanduser().resolve(), "tuning.storage_path"
    kind, _, path = url.partition(":///")
    return kind, Path(path).expanduser().resolve(), "tuning.storage"


def shared_storage(tuning) -> bool:
    """Whether several processes may tune the study at once (a journal file)."""
    return study_file(tuning)[0] == "journal"


def describe_storage(tuning) -> str:
    """The study's storage as messages name it: its file, with ``journal:`` for a journal."""
    kind, file, _ = study_file(tuning)
    return str(file) if kind == "sqlite" else f"journal {file}"


def check_storage_file(path: str, lock_timeout_s: float, key: str = "tuning.storage_path") -> None:
    """Refuse a study file that is empty, corrupted, not an Optuna storage, or locked too long.

    Optuna would silently start a fresh study in an empty file, which hides the history a
    truncated file had; a damaged file fails deep in SQLAlchemy. Both are reported here, naming
    the file. Raises ``StudyStorageError``.
    """
    file = Path(path).expanduser().resolve()
    if not file.exists():
        return
    if file.stat().st_size == 0:
        raise StudyStorageError(
            f"{key}: {file} is empty (0 bytes), so the trials it held are gone or it was never a study. "
            "dlpipe will not start a fresh study over it: restore it from a backup, or delete it to "
            "start a new study."
        )
    with file.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StudyStorageError(
            f"{key}: {file} is not an SQLite database (corrupted or overwritten). Restore it from a "
            "backup, or move it away to start a new study."
        )
    try:
        connection = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=lock_timeout_s)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            listing = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {row[0] for row in listing}
        finally:
            connection.close()
    except sqlite3.OperationalError as err:
        if "locked" in str(err):
            raise _locked(file, lock_timeout_s, key) from err
        raise _corrupted(file, err, key) from err
    except sqlite3.DatabaseError as err:
        raise _corrupted(file, err, key) from err
    if verdict != "ok":
        raise _corrupted(file, verdict, key)
    if tables and "studies" not in tables:
        raise StudyStorageError(
            f"{key}: {file} is an SQLite database but not an Optuna study storage (tables: "
            f"{', '.join(sorted(tables))}). Point tuning.storage_path at a file of its own."
        )


def _locked(file: Path, lock_timeout_s: float, key: str = "tuning.storage_path") -> StudyStorageError:
    return StudyStorageError(
        f"{key}: {file} is locked by another process (waited {lock_timeout_s:g} s, "
        "tuning.lock_timeout_s). Another run may be tuning the same study: wait for it to finish, "
        "or give this run its own tuning.storage_path."
    )


def _corrupted(file: Path, reason, key: str = "tuning.storage_path") -> StudyStorageError:
    return StudyStorageError(
        f"{key}: {file} is corrupted ({reason}). Its finished trials cannot be read; "
        "restore it from a backup, or move it away to start a new study."
    )


def open_study(config: FamilyConfig) -> optuna.Study:
    """Create the study, or load it when its storage already holds one of that name.

    Waits up to ``tuning.lock_timeout_s`` for an SQLite storage another process holds locked.
    Raises ``StudyStorageError`` for a locked, corrupted or foreign storage file; never replaces
    one.
    """
    tuning = config.tuning
    kind, file, key = study_file(tuning)
    storage = _journal_storage(file, key) if kind == "journal" else _sqlite_storage(file, key, tuning)
    study = _create_or_load(storage, tuning, file, key)
    # Processes that start together see as many trials: a worker's seed also depends on which
    # process it is, or it would sample the same parameters as the others.
    seed_offset = len(study.trials) + (_process_number() if tuning.worker else 0)
    study.sampler = create_sampler(tuning.sampler, seed_offset=seed_offset)
    return study


def _process_number() -> int:
    return zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_003


def _sqlite_storage(file: Path, key: str, tuning) -> optuna.storages.RDBStorage:
    import sqlalchemy.exc

    file.parent.mkdir(parents=True, exist_ok=True)
    check_storage_file(str(file), tuning.lock_timeout_s, key)
    try:
        return optuna.storages.RDBStorage(
            f"sqlite:///{file}", engine_kwargs={"connect_args": {"timeout": tuning.lock_timeout_s}}
        )
    except sqlalchemy.exc.OperationalError as err:
        raise _storage_error(err, file, tuning.lock_timeout_s, key) from err


def _journal_storage(file: Path, key: str) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(file)))
    except Exception as err:  # noqa: BLE001 - any unreadable journal is reported the same way
        raise StudyStorageError(
            f"{key}: {file} is not a readable Optuna journal ({type(err).__name__}: {err}). Restore it "
            "from a backup, or move it away to start a new study."
        ) from err


def _create_or_load(storage, tuning, file: Path, key: str) -> optuna.Study:
    import sqlalchemy.exc

    try:
        return optuna.create_study(
            study_name=tuning.study_name,
            storage=storage,
            direction=tuning.direction,
            load_if_exists=True,
            pruner=create_pruner(tuning.pruner, tuning.epochs),
        )
    except sqlalchemy.exc.OperationalError as err:
        raise _storage_error(err, file, tuning.lock_timeout_s, key) from err


def _storage_error(
    err, file: Path, lock_timeout_s: float, key: str = "tuning.storage_path"
) -> StudyStorageError:
    if "locked" in str(err):
        return _locked(file, lock_timeout_s, key)
    return _corrupted(file, err.orig if err.orig is not None else err, key)
