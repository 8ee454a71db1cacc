"""The reliability suite's scoreboard, a pytest plugin loaded by ``tests/conftest.py``.

A test marked ``@pytest.mark.fault(n, "what")`` checks one way fault ``n`` can hit a run; the fault
is survived only when every test of it passes (a skip does not count as survived). A test marked
``bad_input`` feeds one bad value that must be rejected before any node runs. The session ends by
printing ``faults survived: N/M`` and ``bad inputs rejected before any node ran: K/L``.

It is a plugin of the top-level conftest, not of ``tests/reliability/conftest.py``: with test
workers (``pytest -n``) the controlling process collects nothing, so only top-level hooks see the
reports coming back.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

_faults: dict[int, dict[str, Any]] = defaultdict(lambda: {"title": "", "outcomes": []})
_bad_inputs: list[bool] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(number, title): the test injects fault `number` of the suite")
    config.addinivalue_line("markers", "bad_input: a bad value that must be rejected before any node runs")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # Marks travel on the report, so the tally also works when test workers (pytest -n) run the
    # tests and only the reports come back.
    fault = item.get_closest_marker("fault")
    if fault is not None:
        report.user_properties.append(("fault", list(fault.args)))
    if item.get_closest_marker("bad_input") is not None:
        report.user_properties.append(("bad_input", True))


def pytest_runtest_logreport(report):
    # One verdict per test: its call phase, or the phase that stopped it (setup error, skip).
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    properties = dict(report.user_properties)
    if "fault" in properties:
        number, title = properties["fault"]
        _faults[number]["title"] = title
        _faults[number]["outcomes"].append(report.passed)
    if properties.get("bad_input"):
        _bad_inputs.append(report.passed)


def pytest_terminal_summary(terminalreporter):
    if not _faults and not _bad_inputs:
        return
    write = terminalreporter.write_line
    terminalreporter.section("reliability")
    for number in sorted(_faults):
        fault = _faults[number]
        verdict = "survived" if all(fault["outcomes"]) else "NOT survived"
        write(f"fault {number:2d} {verdict:12s} {fault['title']} ({len(fault['outcomes'])} test(s))")
    survived = sum(all(f["outcomes"]) for f in _faults.values())
    write(f"faults survived: {survived}/{len(_faults)}")
    write(f"bad inputs rejected before any node ran: {sum(_bad_inputs)}/{len(_bad_inputs)}")
