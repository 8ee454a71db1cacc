"""Dependency audit of the installed environment (`make audit`; tests/reliability/test_security.py).

Runs pip-audit on the environment of the interpreter that runs this script (the project's .venv), leaving
out the editable dlpipe itself and ignoring the vulnerability ids listed in
security/accepted-vulnerabilities.txt.

pip-audit asks PyPI's per-release JSON endpoint (/pypi/<name>/<version>/json) for each installed version.
Where that endpoint is missing (a package proxy that serves only the project endpoint /pypi/<name>/json,
as behind some package proxies), pip-audit skips every package as "not found on PyPI" and still says "No
known vulnerabilities found". This script does not take that as a pass: for each such package it reads
the project endpoint, whose `vulnerabilities` are those of the newest release. That answer is exact when
the installed version is the newest release; any other package is reported as not audited.

    python security/audit.py [--json] [--accepted FILE]

Exit status: 0 no known vulnerability (accepted ones aside), 1 vulnerabilities found, 2 the audit could
not run (pip-audit failed, or the vulnerability service could not be reached).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ACCEPTED_FILE = HERE / "accepted-vulnerabilities.txt"
PYPI_PROJECT_URL = "https://pypi.org/pypi/{name}/json"
NOT_ON_PYPI = "Dependency not found on PyPI"
TIMEOUT_S = 30
RETRIES = 3


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_accepted(path: Path) -> list[str]:
    """Vulnerability ids, one per line; `#` starts a comment (`ID  # package version: reason`)."""
    if not path.is_file():
        return []
    ids = []
    for line in path.read_text().splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            ids.append(token)
    return ids


def run_pip_audit(accepted: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pip_audit", "--local", "--skip-editable", "--progress-spinner", "off"]
    cmd += ["--format", "json", "--timeout", str(TIMEOUT_S)]
    for vuln_id in accepted:
        cmd += ["--ignore-vuln", vuln_id]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    last = lines[-1].strip()[:600] if lines else "no output"
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"pip-audit exited {proc.returncode}, no report; its last line: {last}") from None
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"pip-audit exited {proc.returncode}; its last line: {last}")
    return report


def fetch_project(name: str) -> dict[str, Any] | None:
    """PyPI's project JSON, None when PyPI has no such project; raises OSError when PyPI cannot be reached."""
    url = PYPI_PROJECT_URL.format(name=name)
    for attempt in range(RETRIES):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if attempt == RETRIES - 1:
                raise OSError(f"{url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == RETRIES - 1:
                raise OSError(f"{url}: {exc}") from exc
        time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def same_version(a: str, b: str) -> bool:
    try:
        from packaging.version import Version

        return Version(a) == Version(b)
    except Exception:
        return a == b


def audit(accepted: list[str]) -> dict[str, Any]:
    """The result: vulnerabilities, not_audited, skipped, audited (a count), error (None or one line)."""
    result: dict[str, Any] = {
        "tool": f"pip-audit {metadata.version('pip-audit')}",
        "accepted": accepted,
        "audited": 0,
        "audited_by_fallback": 0,
        "vulnerabilities": [],
        "not_audited": [],
        "skipped": [],
        "error": None,
    }
    try:
        report = run_pip_audit(accepted)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        result["error"] = f"pip-audit could not audit the environment: {exc}"
        return result

    installed = {canonical(d.name): d.version for d in metadata.distributions() if d.name}
    fallback = []
    for dep in report.get("dependencies", []):
        name = dep["name"]
        reason = dep.get("skip_reason")
        if reason is None:
            result["audited"] += 1
            for vuln in dep.get("vulns", []):
                result["vulnerabilities"].append(
                    {
                        "name": name,
                        "version": dep["version"],
                        "id": vuln["id"],
                        "aliases": vuln.get("aliases", []),
                        "fix_versions": vuln.get("fix_versions", []),
                        "source": "pip-audit",
                    }
                )
        elif reason.startswith(NOT_ON_PYPI):
            fallback.append((name, installed.get(canonical(name), "?")))
        else:
            result["skipped"].append({"name": name, "reason": reason})

    if not fallback:
        if result["audited"] == 0:
            result["error"] = "pip-audit audited no package"
        return result

    ignored = set(accepted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {name: pool.submit(fetch_project, name) for name, _ in fallback}
    unreachable = []
    for name, version in fallback:
        try:
            project = futures[name].result()
        except OSError as exc:
            unreachable.append(str(exc))
            continue
        if project is None:
            result["not_audited"].append({"name": name, "version": version, "reason": "not on PyPI"})
            continue
        newest = project["info"]["version"]
        if not same_version(version, newest):
            reason = f"per-release data unreachable, and PyPI's newest release is {newest}"
            result["not_audited"].append({"name": name, "version": version, "reason": reason})
            continue
        result["audited"] += 1
        result["audited_by_fallback"] += 1
        seen: set[str] = set()  # PyPI lists one vulnerability under each of its ids (PYSEC, GHSA)
        for vuln in project.get("vulnerabilities") or []:
            ids = {vuln["id"], *vuln.get("aliases", [])}
            if vuln.get("withdrawn") or ids & ignored or ids & seen:
                continue
            seen |= ids
            result["vulnerabilities"].append(
                {
                    "name": name,
                    "version": version,
                    "id": vuln["id"],
                    "aliases": vuln.get("aliases", []),
                    "fix_versions": vuln.get("fixed_in", []),
                    "source": "PyPI project JSON (newest release)",
                }
            )
    if unreachable:
        result["error"] = (
            f"the vulnerability service (PyPI JSON API) could not be reached for {len(unreachable)} "
            f"package(s), e.g. {unreachable[0]}"
        )
    elif result["audited"] == 0:
        result["error"] = "no package could be audited"
    return result


def format_text(result: dict[str, Any]) -> str:
    lines = [f"{result['tool']}: {result['audited']} packages audited"]
    if result["audited_by_fallback"]:
        by_fallback = result["audited_by_fallback"]
        lines[0] += f" ({by_fallback} from PyPI's project JSON: per-release data unreachable)"
    if result["accepted"]:
        lines.append(f"accepted (ignored): {', '.join(result['accepted'])}")
    for item in result["skipped"]:
        lines.append(f"skipped: {item['name']} ({item['reason']})")
    for item in result["not_audited"]:
        lines.append(f"NOT AUDITED: {item['name']} {item['version']}: {item['reason']}")
    for vuln in result["vulnerabilities"]:
        fixes = ", ".join(vuln["fix_versions"]) or "none"
        aliases = f" ({', '.join(vuln['aliases'])})" if vuln["aliases"] else ""
        lines.append(f"VULNERABLE: {vuln['name']} {vuln['version']}: {vuln['id']}{aliases}; fixed in {fixes}")
    if result["error"]:
        lines.append(f"ERROR: {result['error']}")
    elif not result["vulnerabilities"]:
        lines.append("No known vulnerabilities found (accepted ones aside)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED_FILE, help="file of accepted ids")
    args = parser.parse_args(argv)
    result = audit(read_accepted(args.accepted))
    print(json.dumps(result, indent=2) if args.json else format_text(result))
    if result["error"]:
        return 2
    return 1 if result["vulnerabilities"] else 0


if __name__ == "__main__":
    sys.exit(main())
