"""The study's storage: an SQLite file, an Optuna journal file, or a PostgreSQL database; checked
before use, then opened or created."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import optuna

from dlpipe.config.common import ConfigError
from dlpipe.config.schema import FamilyConfig
from dlpipe.tuning.search_space import create_pruner, create_sampler

SQLITE_HEADER = b"SQLite format 3\x00"


class StudyStorageError(RuntimeError):
    """The study's file cannot be used: locked by another process, corrupted, or not a study."""


# Credentials entries (conf/<env>/credentials.yml) of PostgreSQL studies, by name; dlpipe's
# hooks hand them over when the Kedro context is created (share_storage_credentials).
_credentials: dict[str, dict] = {}


def study_location(tuning) -> tuple[str, Path | str, str]:
    """The kind of the study's storage (``sqlite``, ``journal`` or ``postgresql``), its file (its
    URL for PostgreSQL), and the key that names it in the parameters (for messages)."""
    url = tuning.storage
    if url is None:
        return "sqlite", Path(tuning.storage_path).expanduser().resolve(), "tuning.storage_path"
    if url.startswith("postgresql"):
        return "postgresql", url, "tuning.storage"
    kind, _, path = url.partition(":///")
    return kind, Path(path).expanduser().resolve(), "tuning.storage"


def shared_storage(tuning) -> bool:
    """Whether several processes may tune the study at once (a journal file, PostgreSQL)."""
    return study_location(tuning)[0] != "sqlite"


def describe_storage(tuning) -> str:
    """The study's storage as messages name it: its file, ``journal`` and its file, or its
    PostgreSQL URL without a password."""
    kind, where, _ = study_location(tuning)
    if kind == "postgresql":
        from sqlalchemy.engine import make_url

        return make_url(where).render_as_string(hide_password=True)
    return str(where) if kind == "sqlite" else f"journal {where}"


def share_storage_credentials(params: dict, credentials: Callable[[], dict]) -> None:
    """Keep the credentials entries that blocks name in ``tuning.storage_credentials``, read with
    ``credentials()`` (the project's credentials files) only when some block names one. Raises
    ``ConfigError`` naming the block's key when an entry is missing or is not a mapping."""
    named = {
        f"{block}.tuning.storage_credentials": values["tuning"]["storage_credentials"]
        for block, values in params.items()
        if isinstance(values, dict) and (values.get("tuning") or {}).get("storage_credentials")
    }
    _credentials.clear()  # a new context: only its own credentials
    if not named:
        return
    entries = credentials()
    for key, name in named.items():
        entry = entries.get(name)
        if not isinstance(entry, dict) or "password" not in entry:
            raise ConfigError(
                f"{key}: '{name}' is not an entry of the project's credentials (conf/<env>/"
                f"credentials.yml) with a password; expected `{name}: {{username: ..., password: ...}}`"
            )
        _credentials[name] = entry


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
    kind, where, key = study_location(tuning)
    if kind == "postgresql":
        storage, where = _postgres_storage(where, key, tuning), describe_storage(tuning)
    elif kind == "journal":
        storage = _journal_storage(where, key)
    else:
        storage = _sqlite_storage(where, key, tuning)
    study = _create_or_load(storage, tuning, where, key)
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


def _postgres_storage(url: str, key: str, tuning) -> optuna.storages.RDBStorage:
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if tuning.storage_credentials:
        entry = _credentials.get(tuning.storage_credentials)
        if entry is None:
            raise StudyStorageError(
                f"tuning.storage_credentials: '{tuning.storage_credentials}' was not read from the "
                "project's credentials: a study on PostgreSQL with credentials is opened inside a "
                "`kedro run` (or a KedroSession) of this project"
            )
        target = target.set(username=entry.get("username", target.username), password=entry["password"])
    try:
        for attempt in range(3):
            try:
                return optuna.storages.RDBStorage(
                    target.render_as_string(hide_password=False),
                    engine_kwargs={
                        "pool_pre_ping": True,
                        "connect_args": {"connect_timeout": max(1, round(tuning.lock_timeout_s))},
                    },
                )
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # Processes starting together on a new database both create Optuna's tables; the
                # one that loses finds them made.
                if attempt == 2:
                    raise
                time.sleep(1.0)
    except sqlalchemy.exc.OperationalError as err:
        reason = str(err.orig if err.orig is not None else err).strip().splitlines()[0]
        raise StudyStorageError(
            f"{key}: the PostgreSQL database {target.render_as_string(hide_password=True)} cannot be "
            f"used ({reason}). Check that the server runs and answers, and the URL and credentials "
            f"(tuning.storage_credentials: {tuning.storage_credentials})."
        ) from err


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


def _create_or_load(storage, tuning, file: Path | str, key: str) -> optuna.Study:
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
    err, file: Path | str, lock_timeout_s: float, key: str = "tuning.storage_path"
) -> StudyStorageError:
    reason = err.orig if err.orig is not None else err
    if isinstance(file, str):  # a database: nothing to move away
        return StudyStorageError(f"{key}: the PostgreSQL database {file} failed: {reason}")
    if "locked" in str(err):
        return _locked(file, lock_timeout_s, key)
    return _corrupted(file, reason, key)
