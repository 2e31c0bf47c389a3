"""The one gunicorn launcher, for the tests and the benchmarks (``from tests.gunicorn_server
import Gunicorn``): ``gunicorn -c python:webhook.gunicorn_conf 'webhook:create_app()'`` on a
loopback socket it inherits (no port race), with its log in a file, and the means to kill its
workers or stop its master the way an operator or a crash would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def listening_socket() -> socket.socket:
    """A listening loopback socket on an ephemeral port, to hand to a server process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


class Gunicorn:
    """The webhook under gunicorn, configured by ``config`` (TOML text) in ``home``."""

    def __init__(
        self,
        home: Path,
        config: str,
        env: dict[str, str],
        *,
        workers: int = 2,
        args: tuple[str, ...] = (),
        sock: socket.socket | None = None,
        wait: bool = True,
    ) -> None:
        self.home = home
        self.config = home / "webhook.toml"
        self.config.write_text(config)
        self.log = home / "gunicorn.log"
        self.sock = sock or listening_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ROTATOR_")},
            **env,
            "ROTATOR_WEBHOOK_CONFIG": str(self.config),
            # The checkout first: an editable install made before webhook/__init__.py existed
            # maps "webhook" to an empty namespace package.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:webhook.gunicorn_conf",
            "--workers",
            str(workers),
            "--bind",
            f"fd://{self.sock.fileno()}",
            # Tests run several servers at once: no control socket in $HOME.
            "--no-control-socket",
            *args,
            "webhook:create_app()",
        ]
        self.client = httpx.Client(base_url=self.url, timeout=15)
        self.start(wait=wait)

    def start(self, *, wait: bool = True) -> None:
        """Start (again, after :meth:`stop`) on the same socket: clients see one address."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.home,
                env=self.env,
                pass_fds=[self.sock.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client.get("/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + self.log.read_text())
            time.sleep(0.1)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.client.post(path, content=body, headers=headers)

    def workers(self) -> list[int]:
        """The master's live worker processes."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(c) for c in children]

    def kill_workers(self, sig: int = signal.SIGKILL) -> list[int]:
        pids = self.workers()
        for pid in pids:
            os.kill(pid, sig)
        return pids

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> str:
        """Signal the master and wait for it; the log so far."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()

    def close(self) -> str:
        log = self.stop()
        self.client.close()
        self.sock.close()
        return log

    def events(self) -> list[dict[str, Any]]:
        """The webhook's structured log lines so far."""
        found = []
        for line in self.log.read_text().splitlines():
            start = line.find('{"')
            if start >= 0:
                try:
                    found.append(json.loads(line[start:]))
                except ValueError:
                    pass
        return found
