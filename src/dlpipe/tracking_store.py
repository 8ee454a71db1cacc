"""New local MLflow stores copied from an empty one instead of built by migrations.

MLflow builds a new SQLite store by creating its first tables and then applying every schema
migration since (about 0.75 s on 2 cores, on every first run of a project or a scratch copy of
one). The empty store it ends with is the same each time for one MLflow version, so dlpipe builds
it once per version, keeps it in the user's cache, and copies it to where a new store is wanted.
The copy holds tables only: MLflow adds its default experiment, with this store's artifact
location, when it first opens the store, as it does after building one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def sqlite_store_path(uri: str) -> Path | None:
    """The file of a ``sqlite:`` tracking URI (relative paths from the working directory, as
    SQLAlchemy reads them); None for any other URI and for an in-memory database."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:":
        return None
    return Path(database).absolute()


def template_path() -> Path:
    """Where the empty store of the installed MLflow version is kept."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dlpipe" / f"mlflow-{mlflow.__version__}-empty-store.db"


def empty_store_template() -> Path:
    """The empty store of the installed MLflow version, built first if it is not kept yet."""
    template = template_path()
    if template.exists():
        return template
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as scratch:
        building = Path(scratch) / template.name
        engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{building}")
        try:
            _initialize_tables(engine)
        finally:
            engine.dispose()
        # Atomic: a process that finds the template finds it whole, whoever built it.
        os.replace(building, template)
    return template


def create_store_from_template(uri: str) -> bool:
    """Create the SQLite store of ``uri`` as a copy of the empty store, if it does not exist.

    Returns whether it did. Anything else (another kind of store, an existing file, a cache that
    cannot be written) is left to MLflow, which then builds the store itself.
    """
    path = sqlite_store_path(uri)
    if path is None or path.exists():
        return False
    try:
        template = empty_store_template()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as copy:
            copying = Path(copy.name)
        try:
            shutil.copyfile(template, copying)
            # As a file MLflow creates: the umask's permissions, not the temporary file's 0600.
            umask = os.umask(0)
            os.umask(umask)
            copying.chmod(0o666 & ~umask)
            # A link, unlike a rename, never replaces a store another process created meanwhile.
            os.link(copying, path)
        finally:
            copying.unlink()
    except FileExistsError:
        return False
    except Exception as err:  # noqa: BLE001 - MLflow builds the store itself, only slower
        logger.debug("MLflow store %s not copied from the empty store: %s", path, err)
        return False
    return True
