"""The bounded HTTP check behind the dataset-download and tracking-server probes."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from dlpipe.http_probe import NoAnswer, http_status


@pytest.fixture
def local_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_hanging_name_lookup_ends_at_the_deadline(hanging_name_lookup):
    started = time.monotonic()
    with pytest.raises(NoAnswer, match=r"no answer within 1 s"):
        http_status("http://tracking.example.internal:5000/health", timeout_s=1.0)
    assert time.monotonic() - started < 3


def test_a_refused_connection_is_no_answer_and_says_so():
    with socket.socket() as placeholder:  # bound, not listening: connections are refused
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        with pytest.raises(NoAnswer, match="refused"):
            http_status(f"http://127.0.0.1:{port}/health", timeout_s=2.0)


def test_any_http_status_is_an_answer(local_server):
    assert http_status(f"{local_server}/health", timeout_s=5.0) == 200
    assert http_status(f"{local_server}/missing", timeout_s=5.0) == 404
