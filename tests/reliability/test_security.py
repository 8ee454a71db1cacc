"""Security: servers bind loopback only, no secret or generated file in git, a clean dependency audit."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import psutil
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_IPS = {"127.0.0.1", "::1"}
# Commands that start a network server: `mlflow ui`, `mlflow server`, `kedro viz run` (and bare `kedro viz`),
# `python -m http.server`.
SERVER = re.compile(r"\bmlflow\s+(?:ui|server)\b|\bkedro\s+viz(?!\s+(?:build|deploy)\b)\b|\bhttp\.server\b")
SKIP_DIRS = {".git", ".venv", "venv", "data", "build", "mlruns", "mlartifacts", "node_modules", ".ruff_cache"}
AUDIT_SCRIPT = PROJECT_ROOT / "security" / "audit.py"
ACCEPTED_FILE = PROJECT_ROOT / "security" / "accepted-vulnerabilities.txt"
MLFLOW_UI_STARTUP_S = 90


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _documented_targets() -> list[str]:
    """The Makefile targets that `make help` lists."""
    text = (PROJECT_ROOT / "Makefile").read_text()
    return re.findall(r"^([a-z][a-z-]*):.*## ", text, flags=re.MULTILINE)


def _make_dry_run(*targets: str) -> list[str]:
    """The commands `make -n TARGETS` prints: what the targets run, variables expanded, nothing executed."""
    if shutil.which("make") is None:
        pytest.skip("`make` is not installed")
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", *targets],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"make -n {' '.join(targets)} failed:\n{proc.stderr}"
    return _join_continuations(proc.stdout)


def _join_continuations(text: str) -> list[str]:
    return [line.strip() for line in re.sub(r"\\\n", " ", text).splitlines() if line.strip()]


def _doc_command_lines() -> dict[str, list[str]]:
    """Lines of the fenced code blocks of every Markdown file of the project, by file."""
    found: dict[str, list[str]] = {}
    for root, dirs, files in os.walk(PROJECT_ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith(".md"):
                continue
            path = Path(root, name)
            blocks = re.findall(r"^```[^\n]*\n(.*?)^```", path.read_text(), flags=re.MULTILINE | re.DOTALL)
            lines = [line for block in blocks for line in _join_continuations(block)]
            found[str(path.relative_to(PROJECT_ROOT))] = lines
    return found


def _server_commands(lines: list[str]) -> list[str]:
    return [line for line in lines if SERVER.search(line)]


def _bind_host(command: str) -> str | None:
    """The host the server command binds: the value of its --host (mlflow's -h, http.server's --bind
    or -b) option, None if absent."""
    match = SERVER.search(command)
    assert match is not None
    tokens = shlex.split(command[match.end() :], comments=True)
    if match.group(0) == "http.server":
        options = {"--bind", "-b"}
    else:
        options = {"--host", "-h"} if match.group(0).startswith("mlflow") else {"--host"}
    for i, token in enumerate(tokens):
        name, _, value = token.partition("=")
        if name in options and value:
            return value
        if token in options and i + 1 < len(tokens):
            return tokens[i + 1]
        if token in {"&&", "||", ";", "|"}:
            break
    return None


def _set_option(argv: list[str], option: str, value: str) -> list[str]:
    """argv with OPTION's value replaced by VALUE (appended when absent)."""
    argv = list(argv)
    for i, token in enumerate(argv):
        if token == option and i + 1 < len(argv):
            argv[i + 1] = value
            return argv
        if token.startswith(option + "="):
            argv[i] = f"{option}={value}"
            return argv
    return [*argv, option, value]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_processes(sid: int) -> list[psutil.Process]:
    """Every live process of the session SID (the server and all it spawned).

    Zombies are dead: they hold no socket, and where PID 1 does not reap orphans they stay listed.
    """
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _listening_sockets(processes: list[psutil.Process]) -> list[tuple[int, str, str, int]]:
    """(pid, name, ip, port) of each listening TCP socket and unconnected bound UDP socket of PROCESSES."""
    sockets = []
    for proc in processes:
        try:
            name = proc.name()
            for conn in proc.net_connections(kind="inet"):
                udp_server = conn.type == socket.SOCK_DGRAM and not conn.raddr
                if conn.laddr and (conn.status == psutil.CONN_LISTEN or udp_server):
                    sockets.append((proc.pid, name, conn.laddr.ip, conn.laddr.port))
        except psutil.NoSuchProcess:
            continue
    return sockets


def _stop_session(proc: subprocess.Popen) -> None:
    """Stop the process group PROC leads (it spawns a uvicorn worker and job consumers), then stragglers."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + grace
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_processes(proc.pid):
            return
    leftovers = _session_processes(proc.pid)
    for leftover in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    psutil.wait_procs(leftovers, timeout=5)


# ---------------------------------------------------------------------------------------------------------
# Loopback binding


def test_documented_server_commands_bind_loopback():
    """Every documented command that starts a server (`mlflow ui`, `mlflow server`, `kedro viz run`,
    `python -m http.server`) in the Makefile recipes (as `make -n` expands them) and in the Markdown
    code blocks binds 127.0.0.1 (or localhost/::1) with an explicit --host (--bind), and
    kedro-mlflow's `ui.host` is 127.0.0.1.
    """
    make_commands = _server_commands(_make_dry_run(*_documented_targets()))
    assert any(re.search(r"\bmlflow\s+ui\b", c) for c in make_commands), make_commands
    assert any(re.search(r"\bkedro\s+viz\s+run\b", c) for c in make_commands), make_commands
    for target in ("mlflow-ui", "viz-serve"):
        assert _server_commands(_make_dry_run(target)), f"`make {target}` starts no server"

    doc_commands = {path: _server_commands(lines) for path, lines in _doc_command_lines().items()}
    readme = doc_commands.get("README.md", [])
    assert any("mlflow ui" in c for c in readme), "README.md documents no `mlflow ui` command"
    assert any("kedro viz run" in c for c in readme), "README.md documents no `kedro viz run` command"

    commands = [("Makefile", c) for c in make_commands]
    commands += [(path, c) for path, lines in doc_commands.items() for c in lines]
    exposed = [
        f"{where}: {command!r} binds {_bind_host(command) or 'the default host (no --host)'}"
        for where, command in commands
        if _bind_host(command) not in LOOPBACK_HOSTS
    ]
    assert not exposed, "server commands not bound to loopback:\n" + "\n".join(exposed)

    ui = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "mlflow.yml").read_text())["ui"]
    assert str(ui["host"]) == "127.0.0.1", f"conf/base/mlflow.yml ui.host is {ui['host']!r}"


def test_mlflow_ui_listens_on_loopback_only(tmp_path):
    """`make mlflow-ui`'s command, started as make prints it (on a free port, with a scratch SQLite store),
    answers on 127.0.0.1, every socket its whole process tree listens on is a loopback address, and
    it starts only the UI's own two processes (the CLI and its web server: no job runner).
    """
    commands = [c for c in _make_dry_run("mlflow-ui") if re.search(r"\bmlflow\s+ui\b", c)]
    assert len(commands) == 1, f"expected one `mlflow ui` command from make -n mlflow-ui, got {commands}"
    argv = shlex.split(commands[0])
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    if argv[0] == "env":  # `env NAME=value ... mlflow ui ...`
        argv.pop(0)
        while "=" in argv[0]:
            name, value = argv.pop(0).split("=", 1)
            env[name] = value
    if not os.path.isabs(argv[0]) and os.sep in argv[0]:
        argv[0] = str(PROJECT_ROOT / argv[0])
    port = _free_port()
    argv = _set_option(argv, "--port", str(port))
    argv = _set_option(argv, "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")

    log_path = tmp_path / "mlflow-ui.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + MLFLOW_UI_STARTUP_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow ui exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow ui did not answer on 127.0.0.1:{port} within {MLFLOW_UI_STARTUP_S} s:\n"
                    f"{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)

        sockets = _listening_sockets(_session_processes(server.pid))
        assert any(p == port for _, _, _, p in sockets), f"nothing in the tree listens on {port}: {sockets}"
        exposed = [s for s in sockets if s[2] not in LOOPBACK_IPS]
        assert not exposed, f"mlflow ui listens beyond loopback (pid, name, ip, port): {exposed}"
        processes = _session_processes(server.pid)
        assert len(processes) <= 2, [" ".join(p.cmdline())[:120] for p in processes]
    finally:
        _stop_session(server)
    assert not _session_processes(server.pid), "mlflow ui processes survived the stop"


# ---------------------------------------------------------------------------------------------------------
# Git hygiene


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def git_checkout() -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != PROJECT_ROOT:
        pytest.skip("the project is not a git checkout (e.g. a scratch copy)")
    return PROJECT_ROOT


MUST_BE_IGNORED = [
    "conf/local/credentials.yml",
    "conf/local/mlflow.yml",
    "conf/local/parameters_cnn.yml",
    "conf/base/credentials.yml",
    "conf/smoke/credentials.yml",
    ".env",
    "data/01_raw/x.npz",
    "data/01_raw/tfds/fashion_mnist_local/1.0.0/dataset_info.json",
    "data/02_intermediate/x.parquet",
    "data/06_models/cnn/model.keras/2026-11-24T05.22.48.731Z/model.keras",  # a versioned Kedro dataset
    "data/06_models/cnn/checkpoints/best.keras",
    "data/06_models/cnn/best_params.json",
    "data/06_models/optuna/cnn.db",
    "data/08_reporting/a.png",
    "mlflow.db",
    "mlflow.db-journal",
    "mlruns/0/meta.yaml",
    "mlartifacts/1/abc/artifacts/model.keras",
]
MUST_NOT_BE_IGNORED = [
    "data/01_raw/.gitkeep",
    "data/02_intermediate/.gitkeep",
    "data/06_models/.gitkeep",
    "data/08_reporting/.gitkeep",
    "conf/local/.gitkeep",
    "conf/base/catalog.yml",
    "conf/base/mlflow.yml",
]


def test_gitignore_keeps_credentials_and_generated_data_out(git_checkout):
    """.gitignore's rules ignore local config, credentials files, everything generated under data/, the MLflow
    store and artifacts, and Optuna studies, while the .gitkeep placeholders and the shared conf/base stay
    trackable (checked with `git check-ignore --no-index`, i.e. the rules themselves).
    """
    wrong = []
    for path in MUST_BE_IGNORED + MUST_NOT_BE_IGNORED:
        proc = _git("check-ignore", "--no-index", "-q", path)
        assert proc.returncode in (0, 1), f"git check-ignore {path}: {proc.stderr}"
        ignored = proc.returncode == 0
        if ignored != (path in MUST_BE_IGNORED):
            wrong.append(f"{path}: {'ignored' if ignored else 'NOT ignored'}")
    assert not wrong, "wrong .gitignore verdicts:\n" + "\n".join(wrong)

    # And what is in the working tree now: no file under data/ or conf/local/ shows up as untracked.
    status = _git("status", "--porcelain", "--untracked-files=all", "--", "data", "conf/local", "mlruns")
    assert status.returncode == 0, status.stderr
    untracked = [line[3:] for line in status.stdout.splitlines() if line.startswith("??")]
    assert not untracked, "files in the working tree that git would offer to add:\n" + "\n".join(untracked)


def test_git_tracks_no_credentials_or_generated_files(git_checkout):
    """`git ls-files` lists no generated or secret file: nothing under data/ or conf/local/ but .gitkeep
    files, no SQLite store (*.db), no mlruns/ or mlartifacts/, no credentials file, no .env.
    """
    proc = _git("ls-files", "-z")
    assert proc.returncode == 0, proc.stderr
    tracked = [path for path in proc.stdout.split("\0") if path]
    assert "Makefile" in tracked, "git ls-files does not list the project's files"

    def offending(path: str) -> str | None:
        name = path.rsplit("/", 1)[-1]
        if path.startswith(("data/", "conf/local/")) and name != ".gitkeep":
            return "generated data or local config"
        if re.search(r"\.db(-\w+)?$", name):
            return "a database file"
        if path.startswith(("mlruns/", "mlartifacts/")) or "/mlruns/" in path or "/mlartifacts/" in path:
            return "an MLflow store"
        if name.lower().startswith("credentials") or name in {".env", ".netrc", ".pypirc"}:
            return "a credentials file"
        return None

    bad = [f"{path} ({why})" for path in tracked if (why := offending(path))]
    assert not bad, "tracked files that must not be in git:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------------------------
# Dependency audit


def _accepted_entries() -> list[tuple[str, str]]:
    entries = []
    for line in ACCEPTED_FILE.read_text().splitlines():
        vuln_id, _, reason = line.partition("#")
        if vuln_id.strip():
            entries.append((vuln_id.strip(), reason.strip()))
    return entries


def test_accepted_vulnerabilities_are_explained():
    """Each id in security/accepted-vulnerabilities.txt carries `# package version: reason` and is listed in
    README.md, so no vulnerability is silenced without a written reason.
    """
    readme = (PROJECT_ROOT / "README.md").read_text()
    problems = []
    for vuln_id, reason in _accepted_entries():
        if not re.fullmatch(r"[A-Za-z]+-[\w-]+", vuln_id):
            problems.append(f"{vuln_id}: not a vulnerability id")
        if not re.match(r"\S+ \S+: \S", reason):
            problems.append(f"{vuln_id}: no `# package version: reason` comment")
        if vuln_id not in readme:
            problems.append(f"{vuln_id}: not listed in README.md")
    assert not problems, "\n".join(problems)


def test_dependency_audit_finds_no_known_vulnerability():
    """pip-audit of the installed environment (security/audit.py, as `make audit` runs it), with the accepted
    ids ignored, reports no known vulnerability. The test fails, naming the reason, when the audit cannot
    run (pip-audit broken, the vulnerability service unreachable); packages it could not audit are listed
    in a warning.
    """
    proc = subprocess.run(
        [sys.executable, str(AUDIT_SCRIPT), "--json"], capture_output=True, text=True, timeout=600
    )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"security/audit.py exited {proc.returncode} without a report:\n{proc.stderr[-3000:]}")
    if result["error"]:
        pytest.fail(f"the dependency audit could not run: {result['error']}")
    assert result["audited"] > 0, "the dependency audit audited no package"

    if result["not_audited"]:
        listed = "; ".join(f"{p['name']} {p['version']} ({p['reason']})" for p in result["not_audited"])
        warnings.warn(f"{len(result['not_audited'])} packages could not be audited: {listed}", stacklevel=1)
    found = [
        f"{v['name']} {v['version']}: {v['id']}"
        + (f" ({', '.join(v['aliases'])})" if v["aliases"] else "")
        + f", fixed in {', '.join(v['fix_versions']) or 'no release yet'}"
        for v in result["vulnerabilities"]
    ]
    assert not found, (
        "known vulnerabilities in the installed stack (upgrade, or accept each in "
        "security/accepted-vulnerabilities.txt and README.md with its reason):\n" + "\n".join(found)
    )
    assert proc.returncode == 0, f"security/audit.py exited {proc.returncode}:\n{proc.stdout[-3000:]}"
