"""Fixtures of the monitoring tests: a real HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

# The receiver's base URL, the JSON bodies it got and their Authorization headers.
Receiver = tuple[str, list[dict[str, Any]], list[str | None]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records what is posted to it; paths under /fail
    answer 500."""
    received: list[dict[str, Any]] = []
    authorizations: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            authorizations.append(self.headers.get("Authorization"))
            failing = self.path.startswith("/fail")
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received, authorizations
    finally:
        server.shutdown()
        server.server_close()
