"""The sandbox's HTTP plumbing: routing, recorded requests, injected faults, latency.

The stand-ins (``openrouter.py``, ``github.py``) register plain handlers on a :class:`Router`;
this module serves them over real HTTP on loopback with the standard library's threading
server, so the sandbox needs no dependency beyond the engine's own.

Faults are how tests make the outside world misbehave. A :class:`Fault` matches requests by
method and path (a regular expression over the path without the query) and, from its ``nth``
match on, either answers with an injected status (optionally with ``Retry-After``), adds latency,
or blocks the request until the test releases it. ``when="after"`` lets the real handler run
first and only then applies the fault, which is how a lost response to a request that did take
effect (a create whose outcome is unknown) is staged.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BLOCK_SECONDS = 120.0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    client: str = "127.0.0.1"  # the peer's address

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def bearer(self) -> str | None:
        value = self.header("authorization") or ""
        for prefix in ("Bearer ", "bearer ", "token ", "Token "):
            if value.startswith(prefix):
                return value[len(prefix) :].strip()
        return None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


@dataclass
class RecordedRequest:
    """One request as the sandbox saw it. Authorization is kept only as a fingerprint."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    status: int
    authorization: str | None
    # What contract checks need besides: the other request headers and the answer.
    headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """Make matching requests misbehave. See the module docstring."""

    path: str
    method: str | None = None
    status: int | None = None
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    nth: int = 1
    times: int | None = 1
    latency: float = 0.0
    block: bool = False
    when: str = "before"
    id: int = 0
    seen: int = 0
    fired: int = 0
    blocked: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after,
            "nth": self.nth,
            "times": self.times,
            "latency": self.latency,
            "block": self.block,
            "when": self.when,
            "seen": self.seen,
            "fired": self.fired,
            "blocked": self.blocked,
        }


class Faults:
    """Thread-safe registry of active faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.changed = threading.Condition(self._lock)

    def add(self, fault: Fault) -> Fault:
        if fault.when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            for fault in self._faults:
                fault.released.set()
            self._faults.clear()
            self.changed.notify_all()

    def release(self, fault_id: int | None = None) -> None:
        with self._lock:
            for fault in self._faults:
                if fault_id is None or fault.id == fault_id:
                    fault.released.set()

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, when: str) -> list[Fault]:
        """Faults that fire for this request at this moment (counts are updated here)."""
        fired: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.when != when or not fault.matches(method, path):
                    continue
                fault.seen += 1
                if fault.seen < fault.nth:
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.fired += 1
                fired.append(fault)
        return fired

    def wait_blocked(self, fault: Fault, timeout: float = 10.0) -> bool:
        """Wait until a request is being held by ``fault``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while fault.blocked == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def _mark_blocked(self, fault: Fault) -> None:
        with self._lock:
            fault.blocked += 1
            self.changed.notify_all()


class Router:
    """Maps ``(METHOD, path pattern)`` to handlers. Patterns use ``{name}`` placeholders."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/"))
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$"), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return decorate

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """Return (handler, params, path_exists)."""
        path_exists = False
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if match:
                path_exists = True
                if route_method == method.upper():
                    return handler, match.groupdict(), True
        return None, {}, path_exists


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message}}


class SandboxServer:
    """A threading HTTP server on loopback that dispatches to a router and applies faults."""

    def __init__(
        self,
        router: Router,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fault_body: Callable[[str, int, str], Any] | None = None,
    ) -> None:
        self.router = router
        self.faults = Faults()
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._fault_body = fault_body or (lambda path, status, message: error_body(status, message))
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self.faults.clear()
        self._httpd.shutdown()
        self._httpd.server_close()

    def record(self, entry: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(entry)

    def recorded(self) -> list[RecordedRequest]:
        with self._requests_lock:
            return list(self.requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def dispatch(self, request: Request) -> Response:
        handler, params, path_exists = self.router.resolve(request.method, request.path)
        if handler is None:
            status = 405 if path_exists else 404
            return Response(status, self._fault_body(request.path, status, "Not Found"))
        request.params = params
        try:
            return handler(request)
        except (ValueError, KeyError, TypeError) as exc:
            return Response(400, self._fault_body(request.path, 400, f"Bad request: {exc}"))

    def _apply(self, faults: list[Fault], request: Request) -> Response | None:
        for fault in faults:
            if fault.latency:
                time.sleep(fault.latency)
            if fault.block:
                self.faults._mark_blocked(fault)
                fault.released.wait(MAX_BLOCK_SECONDS)
            if fault.status is not None:
                headers = dict(fault.headers)
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                body = fault.body
                if body is None:
                    body = self._fault_body(request.path, fault.status, "Injected fault")
                return Response(fault.status, body, headers)
        return None

    def handle(self, request: Request) -> Response:
        if self.latency:
            time.sleep(self.latency)
        injected = self._apply(self.faults.take(request.method, request.path, "before"), request)
        if injected is not None:
            return injected
        response = self.dispatch(request)
        injected = self._apply(self.faults.take(request.method, request.path, "after"), request)
        return injected if injected is not None else response

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            # Headers and body go out in two writes; without this, Nagle holds the body back
            # until the client's delayed ACK (~40 ms a request on loopback).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # the sandbox is quiet; tests read server.requests instead

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(
                    self.command, split.path, query, headers, body, client=self.client_address[0]
                )
                response = server.handle(request)
                payload = response.encode()
                if not request.path.startswith("/_sandbox"):
                    content_type = (
                        {"content-type": "application/json"}
                        if response.body is not None and not isinstance(response.body, bytes)
                        else {}
                    )
                    server.record(
                        RecordedRequest(
                            method=request.method,
                            path=request.path,
                            query=query,
                            body=body,
                            status=response.status,
                            authorization=_fingerprint(request.header("authorization")),
                            headers={k: v for k, v in headers.items() if k != "authorization"},
                            response_headers={
                                **content_type,
                                **{k.lower(): v for k, v in response.headers.items()},
                            },
                            response_body=payload,
                        )
                    )
                try:
                    self.send_response(response.status)
                    if response.body is not None and not isinstance(response.body, bytes):
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout or a killed process): nothing to tell

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

        return _Handler


def _fingerprint(authorization: str | None) -> str | None:
    """Identify which credential was used without keeping the credential."""
    if not authorization:
        return None
    import hashlib

    return hashlib.sha256(authorization.encode()).hexdigest()[:12]


def fault_from_dict(data: dict[str, Any]) -> Fault:
    allowed = {
        "path",
        "method",
        "status",
        "retry_after",
        "headers",
        "body",
        "nth",
        "times",
        "latency",
        "block",
        "when",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    if "path" not in data:
        raise ValueError("a fault needs a path pattern")
    return Fault(**data)
