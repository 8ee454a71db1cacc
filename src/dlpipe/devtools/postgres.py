"""A throwaway PostgreSQL server on 127.0.0.1, for developing and testing shared tuning studies.

It runs Debian's PostgreSQL binaries (``make postgres`` installs them) on a data folder of its own
in a temporary directory, without touching any system service, and is stopped by its own process
id (``pg_ctl stop``). PostgreSQL refuses to run as root: as root, its commands run as the
``postgres`` user the package creates.

    .venv/bin/python -m dlpipe.devtools.postgres start [--dir DIR] [--port PORT]   # prints the URL
    .venv/bin/python -m dlpipe.devtools.postgres stop --dir DIR
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

POSTGRES_ROOT = Path("/usr/lib/postgresql")
USER = "dlpipe"
DATABASE = "optuna"


def postgres_bin() -> Path:
    """The folder of the newest PostgreSQL binaries installed from Debian's packages."""
    versions = sorted(POSTGRES_ROOT.glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3]))
    if not versions:
        raise FileNotFoundError(
            f"No PostgreSQL binaries under {POSTGRES_ROOT}: `make postgres` installs Debian's postgresql"
        )
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*command, password: str | None = None) -> None:
    """Run a PostgreSQL command, as the ``postgres`` user when this process is root; a failure
    raises with what the command said. ``password``: the database user's, for a client command."""
    arguments = [str(part) for part in command]
    if os.geteuid() == 0:
        arguments = ["runuser", "-u", "postgres", "--", *arguments]
    env = {**os.environ, **({"PGPASSWORD": password} if password is not None else {})}
    result = subprocess.run(arguments, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed ({result.returncode}): {result.stderr.strip()}")


class ThrowawayPostgres:
    """A PostgreSQL server in ``directory`` (a new temporary one by default) on 127.0.0.1:``port``
    (a free one by default), with a database for studies. ``start`` returns its SQLAlchemy URL."""

    def __init__(
        self, directory: str | Path | None = None, port: int | None = None, password: str | None = None
    ):
        # Under /tmp by default: as root, the postgres user must be able to reach the folder.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="dlpipe-postgres-", dir="/tmp")).resolve()
        self.port = port or _free_port()
        self.data = self.directory / "data"
        # None: any local connection is trusted; else user dlpipe logs in with this password.
        self.password = password

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> str:
        """Create the server's data folder, start the server and its database; the URL."""
        bin_dir = postgres_bin()
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        try:
            self._start(bin_dir)
        except Exception:
            self.stop()  # never a server left running behind a failed start
            raise
        return self.url

    def _start(self, bin_dir: Path) -> None:
        auth = ["-A", "trust"]
        if self.password is not None:
            secret = self.directory / "password"
            secret.write_text(self.password)
            if os.geteuid() == 0:
                shutil.chown(secret, "postgres", "postgres")
            auth = ["-A", "scram-sha-256", f"--pwfile={secret}"]
        _run(bin_dir / "initdb", "-D", self.data, *auth, "-U", USER, "--no-sync", "-E", "UTF8")
        if self.password is not None:
            secret.unlink()
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off"
        log = self.directory / "server.log"
        _run(bin_dir / "pg_ctl", "-D", self.data, "-w", "-l", log, "-o", options, "start")
        _run(
            bin_dir / "createdb",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            USER,
            DATABASE,
            password=self.password,
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder, which must be one ``start``
        made: a folder holding anything but a server's data and log is left alone."""
        if (self.data / "postmaster.pid").exists():
            _run(postgres_bin() / "pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")
        if not self.directory.exists():
            return
        others = {path.name for path in self.directory.iterdir()} - {"data", "server.log", "password"}
        others = {name for name in others if not name.startswith(".s.PGSQL")}
        if others or (self.data.exists() and not (self.data / "PG_VERSION").exists()):
            raise RuntimeError(f"{self.directory} is not a folder of a throwaway server: not deleted")
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--dir", help="the server's folder (start: a new temporary one by default)")
    parser.add_argument("--port", type=int, help="start: the port (a free one by default)")
    args = parser.parse_args()
    if args.action == "start":
        server = ThrowawayPostgres(args.dir, args.port)
        print(server.start())
        print(f"stop it with: python -m dlpipe.devtools.postgres stop --dir {server.directory}")
    else:
        if not args.dir:
            parser.error("stop needs --dir, the folder `start` printed")
        ThrowawayPostgres(args.dir).stop()


if __name__ == "__main__":
    main()
