"""A real HTTP server on a loopback port for tests: scripted responses, recorded requests.

`HttpTestServer` runs `http.server.ThreadingHTTPServer` in a background thread on
127.0.0.1 and a free port. Tests queue the responses it should give (status, headers,
JSON or raw body, an optional delay before answering) and read back every request it
received (method, path, query, headers, raw and parsed JSON body). The `http_server`
pytest fixture starts one per test and stops it afterwards; a test module gets it with
`from tests.http_server import http_server_fixture` (or a conftest with
`pytest_plugins = ["tests.http_server"]`).

When the queue is empty the server answers 500 with a JSON note, so a test that forgot
to script a response fails loudly instead of passing by accident.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass(frozen=True)
class ScriptedResponse:
    status: int = 200
    # JSON-serialisable value, or bytes sent as they are.
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Seconds to wait before answering: lets a test run past a client's read timeout.
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    # Header names lower-cased.
    headers: dict[str, str]
    body: bytes
    # The body parsed as JSON, or None when it is not JSON.
    json: Any

    def param(self, name: str) -> str:
        """The single value of query parameter `name` (KeyError when absent)."""
        (value,) = self.query[name]
        return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: HttpTestServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out hang up on purpose; their broken pipes are not test failures.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry webhook tokens; keep them out of test output.
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        parts = urlsplit(self.path)
        owner = self.server.owner
        owner.record(
            RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=raw,
                json=parsed,
            )
        )
        scripted = owner.next_response()
        if scripted.delay and owner.stopping.wait(scripted.delay):
            return
        if isinstance(scripted.body, bytes):
            payload = scripted.body
            content_type = "application/octet-stream"
        else:
            payload = json.dumps(scripted.body, ensure_ascii=False).encode()
            content_type = "application/json; charset=utf-8"
        self.send_response(scripted.status)
        headers = {"Content-Type": content_type, **scripted.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class HttpTestServer:
    """A running loopback HTTP server; `url` is its base address, without a trailing slash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[ScriptedResponse] = deque()
        self._requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def enqueue(
        self,
        status: int = 200,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue the next response; responses are given in the order queued."""
        with self._lock:
            self._queue.append(ScriptedResponse(status, body, dict(headers or {}), delay))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def next_response(self) -> ScriptedResponse:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return ScriptedResponse(500, {"error": "no scripted response"})

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(name="http_server")
def http_server_fixture() -> Iterator[HttpTestServer]:
    server = HttpTestServer()
    try:
        yield server
    finally:
        server.close()
