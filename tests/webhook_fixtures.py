"""Helpers for the webhook tests: signed requests, a fake GitHub, a loopback message catcher,
and a real redis-server on an ephemeral loopback port."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from openrouter_rotator.alerts import build_alert_headers
from openrouter_rotator.errors import GitHubTransportError
from webhook.signatures import sign_github, sign_slack

# ``make_app(doc, env, *, live=False)``, the conftest fixture that builds the webhook's app.
AppFactory = Callable[..., Flask]

SLACK_SECRET = "slack-signing-secret-for-tests"
GITHUB_SECRET = "github-webhook-secret-for-tests"
API_TOKEN = "api-token-for-tests"
ALERT_SECRET = "alert-secret-for-tests"
SECRETS = (SLACK_SECRET, GITHUB_SECRET, API_TOKEN, ALERT_SECRET)

SECRET_ENV = {
    "ROTATOR_SLACK_SIGNING_SECRET": SLACK_SECRET,
    "ROTATOR_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
    "ROTATOR_API_TOKEN": API_TOKEN,
    "ROTATOR_ALERT_WEBHOOK_SECRET": ALERT_SECRET,
}


def config_doc(repository: str = "octo-org/app", **overrides: Any) -> dict[str, Any]:
    """A parsed webhook TOML document with two rotations in one repository."""
    openrouter = {
        "repository": repository,
        "workflow": "rotate-openrouter-key.yml",
        "ref": "main",
        "cooldown": "10m",
        "slack_users": ["U012AB3CD"],
        "min_permission": "write",
        "on_usage_alert": "notify",
    }
    openrouter.update(overrides)
    return {
        "rotations": {
            "openrouter": openrouter,
            "emergency": {
                "repository": repository,
                "cooldown": "10m",
                "slack_users": ["U012AB3CD"],
                "on_usage_alert": "rotate",
            },
        }
    }


def toml_text(doc: dict[str, Any]) -> str:
    """Just enough TOML writing for config_doc() plus [github] and [store]."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    lines: list[str] = []
    for table in ("webhook", "github", "store"):
        if table in doc:
            lines.append(f"[{table}]")
            lines += [f"{k} = {value(v)}" for k, v in doc[table].items()]
    for name, rotation in doc["rotations"].items():
        lines.append(f"[rotations.{name}]")
        lines += [f"{k} = {value(v)}" for k, v in rotation.items()]
    return "\n".join(lines) + "\n"


# -- signed requests ------------------------------------------------------------------------


def slack_form(
    text: str = "openrouter leaked in a log", user: str = "U012AB3CD", **extra: str
) -> bytes:
    fields = {
        "token": "deprecated-verification-token",
        "team_id": "T0001",
        "channel_id": "C2147483705",
        "channel_name": "ops",
        "user_id": user,
        "user_name": "alice",
        "command": "/rotate-openrouter",
        "text": text,
        "response_url": "",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
    fields.update(extra)
    return urlencode(fields).encode()


def slack_headers(
    body: bytes, secret: str = SLACK_SECRET, now: float | None = None
) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign_slack(secret, ts, body),
    }


def comment_event(
    body: str = "/rotate-openrouter openrouter token leaked",
    login: str = "alice",
    action: str = "created",
    repository: str = "octo-org/app",
    user_type: str = "User",
    number: int = 7,
    comment_id: int = 4242,
) -> bytes:
    return json.dumps(
        {
            "action": action,
            "issue": {"number": number, "title": "Key leaked", "pull_request": None},
            "comment": {
                "id": comment_id,
                "body": body,
                "user": {"login": login, "type": user_type},
            },
            "repository": {"full_name": repository},
            "sender": {"login": login, "type": user_type},
        }
    ).encode()


_delivery_counter = iter(range(1, 10**9))


def github_headers(
    body: bytes,
    delivery: str | None = None,
    event: str = "issue_comment",
    secret: str = GITHUB_SECRET,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or f"72d3162e-cc78-11e3-81ab-{next(_delivery_counter):012d}",
        "X-Hub-Signature-256": sign_github(secret, body),
    }


def alert_body(
    rotation: str = "openrouter",
    key_hash: str = "abc123def456",
    percent: float = 91.5,
    at: str = "2025-03-01T10:00:00Z",
) -> bytes:
    return json.dumps(
        {
            "rotation": rotation,
            "key_hash": key_hash,
            "limit": 10,
            "limit_remaining": 0.85,
            "percent_used": percent,
            "threshold": 80,
            "at": at,
        }
    ).encode()


def alert_headers(
    body: bytes, secret: str = ALERT_SECRET, now: float | None = None
) -> dict[str, str]:
    return build_alert_headers(secret, body, now=now)


def api_headers(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


# -- fakes ----------------------------------------------------------------------------------


@dataclass
class FakeGitHub:
    """Records what the webhook asks of GitHub; shared by every client the factory hands out."""

    permissions: dict[str, str] = field(default_factory=dict)
    run_url: str | None = "https://github.com/octo-org/app/actions/runs/1"
    dispatch_delay: float = 0.0
    permission_delay: float = 0.0
    fail_dispatch: Exception | None = None
    lose_answers: int = 0  # dispatches that land but whose answer is lost
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    comments: list[tuple[str, int, str]] = field(default_factory=list)
    reactions: list[tuple[str, int, str]] = field(default_factory=list)
    permission_checks: list[tuple[str, str]] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, repo: str) -> FakeGitHub:
        return self

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: dict[str, str]
    ) -> str | None:
        time.sleep(self.dispatch_delay)
        if self.fail_dispatch is not None:
            raise self.fail_dispatch
        with self.lock:
            self.dispatches.append(
                {"repo": repo, "workflow": workflow, "ref": ref, "inputs": inputs}
            )
            if self.lose_answers > 0:
                # The dispatch landed, but its answer never came back.
                self.lose_answers -= 1
                raise GitHubTransportError(
                    "request timed out (ReadTimeout) after 1 attempt(s)", method="POST", path="/x"
                )
        return self.run_url

    def find_run(
        self, repo: str, workflow: str, title_part: str, created_since: float
    ) -> str | None:
        # The example workflow's run-name carries the request id: find it among the dispatches.
        with self.lock:
            self.searches.append(title_part)
            found = [d for d in self.dispatches if d["inputs"].get("request-id") == title_part]
        return self.run_url if found else None

    def collaborator_permission(self, repo: str, username: str) -> str:
        time.sleep(self.permission_delay)
        with self.lock:
            self.permission_checks.append((repo, username))
        return self.permissions.get(username, "none")

    def create_issue_comment(self, repo: str, number: int, body: str) -> None:
        with self.lock:
            self.comments.append((repo, number, body))

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        with self.lock:
            self.reactions.append((repo, comment_id, content))


class Catcher:
    """A loopback HTTP server standing in for Slack's response_url and incoming webhook."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.status = 200
        self._cond = threading.Condition()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"null")
                with catcher._cond:
                    catcher.messages.append((self.path, data))
                    catcher._cond.notify_all()
                self.send_response(catcher.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/response") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.messages)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something true, or the timeout; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- real servers ---------------------------------------------------------------------------


class RedisServer:
    """A throwaway redis-server on a loopback port, with its files in ``home``; restartable on
    the same port. Persistent (AOF, fsync every write) unless told otherwise."""

    def __init__(self, home: Path, *, persistent: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server")
        home.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
        self.command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *persistence,
            "--dir",
            str(home),
        ]
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


def redis_server(tmp: Path, *, persistent: bool = True) -> Iterator[str]:
    """Run a throwaway redis-server on loopback; yields its URL."""
    server = RedisServer(tmp, persistent=persistent)
    try:
        yield server.url
    finally:
        server.stop()
