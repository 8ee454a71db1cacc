"""A user's journey through the MLflow UI and kedro-viz, in headless Chromium.

Playwright drives Debian's `chromium` (installed by `make install`); nothing is downloaded at run
time. Each step saves a screenshot under ``data/08_reporting/ui/`` and a missing element fails the
test with the step's name.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "data" / "08_reporting" / "ui"
STARTUP_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(argv: list[str], *, port: int, cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the server ``argv`` (listening on 127.0.0.1:``port``) until the block ends; yields its URL."""
    log = cwd / f"server-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"{argv[:3]} exited with {server.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, OSError), urllib.request.urlopen(url, timeout=5):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[:3]} did not answer on {url} in {STARTUP_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def mlflow_ui(project: Path) -> contextlib.AbstractContextManager[str]:
    """The MLflow UI on the project's store, started as `make mlflow-ui` starts it."""
    port = free_port()
    argv = [str(Path(sys.executable).parent / "mlflow"), "ui", "--workers", "1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{project / 'mlflow.db'}", "--host", "127.0.0.1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return serving(argv, port=port, cwd=project, env=env)


def static_site(folder: Path) -> contextlib.AbstractContextManager[str]:
    """``folder`` served over HTTP, as `make viz` serves the kedro-viz build."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    return serving(argv, port=port, cwd=folder.parent)


class Journey:
    """A browser page whose steps are named: ``with journey.step("runs table"): ...``."""

    def __init__(self, page, screenshots: Path = SCREENSHOTS):
        self.page = page
        self.screenshots = screenshots
        self.count = 0
        screenshots.mkdir(parents=True, exist_ok=True)
        for old in screenshots.glob("*.png"):
            old.unlink()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        from playwright.sync_api import Error as PlaywrightError

        self.count += 1
        shot = self.screenshots / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        try:
            yield
        except (PlaywrightError, AssertionError) as err:
            self.page.screenshot(path=str(shot.with_suffix(".failed.png")))
            pytest.fail(f"UI step '{name}' failed: {str(err).splitlines()[0][:500]} (see {shot.name})")
        self.page.screenshot(path=str(shot))

    def see(self, text: str | re.Pattern, *, exact: bool = False, timeout_ms: int = 30_000):
        """Wait until ``text`` is visible on the page; returns its first match."""
        found = self.page.get_by_text(text, exact=exact).first
        found.wait_for(state="visible", timeout=timeout_ms)
        return found
