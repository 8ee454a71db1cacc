"""Whether a process still runs, told apart from a later process that reuses its pid."""

from __future__ import annotations

import os


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            # Fields after the command name, which is in parentheses and may hold spaces;
            # the start time is field 22 of the line, the 20th after the name.
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs, and is the one that started at ``started`` when given."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is not None:
        now = process_start(pid)
        if now is not None and now != started:
            return False  # the pid now belongs to another process
    return True
