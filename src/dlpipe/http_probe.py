"""A bounded HTTP check: the whole attempt, name lookup included, ends within its deadline."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request


class NoAnswer(OSError):
    """The URL gave no HTTP answer in time; the message says why (refused, timed out, unknown host)."""


def http_status(url: str, timeout_s: float) -> int:
    """Return the HTTP status ``url`` answers with, waiting at most ``timeout_s`` seconds in all.

    urllib's own timeout covers connecting and reading but not the host-name lookup, which can
    hang for tens of seconds on a machine whose resolver is unreachable; here the request runs in
    a daemon thread that is abandoned at the deadline. Raises ``NoAnswer`` when no status came.
    """
    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http(s) only
                outcome["status"] = response.status
        except urllib.error.HTTPError as err:
            outcome["status"] = err.code  # the server answered, with an error status
        except Exception as err:  # noqa: BLE001 - every failure is reported as "no answer"
            outcome["error"] = err

    worker = threading.Thread(target=attempt, name="dlpipe-http-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if "status" in outcome:
        return int(outcome["status"])  # type: ignore[call-overload]
    error = outcome.get("error")
    if error is None:
        raise NoAnswer(f"no answer within {timeout_s:g} s")
    raise NoAnswer(str(getattr(error, "reason", error))) from error
