"""Local stand-ins for OpenRouter and GitHub, served over real HTTP on loopback.

One :class:`Sandbox` serves both on one port: OpenRouter under ``/api/v1`` (so
``OPENROUTER_BASE_URL=<url>/api/v1``) and GitHub under ``/github`` (so
``GITHUB_API_URL=<url>/github``, the way GitHub Enterprise Server puts its API under a path).
Tests, ``openrouter-rotator demo`` and ``openrouter-rotator sandbox`` all use it.

Tests in another process steer it through ``/_sandbox/...`` control endpoints (faults, latency,
recorded requests, usage, seeding); tests in the same process use the Python objects directly.
"""

from __future__ import annotations

from typing import Any

from .clock import FakeClock
from .github import GitHubStandIn
from .http import Fault, RecordedRequest, Request, Response, Router, SandboxServer, fault_from_dict
from .openrouter import OpenRouterStandIn, key_hash

__all__ = [
    "FakeClock",
    "Fault",
    "GitHubStandIn",
    "OpenRouterStandIn",
    "RecordedRequest",
    "Sandbox",
    "key_hash",
]

OPENROUTER_PREFIX = "/api/v1"
GITHUB_PREFIX = "/github"


def _fault_body(path: str, status: int, message: str) -> Any:
    if path.startswith(GITHUB_PREFIX):
        return {"message": message, "documentation_url": "https://docs.github.com/rest"}
    return {"error": {"code": status, "message": message}}


class Sandbox:
    """Both stand-ins plus the control API, on one loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.router = Router()
        self.openrouter = OpenRouterStandIn()
        self.openrouter.register(self.router, OPENROUTER_PREFIX)
        self.github = GitHubStandIn()
        self.github.register(self.router, GITHUB_PREFIX)
        self.github.register_control(self.router, "/_sandbox/github")
        self._register_control()
        self.github.register_fallback(self.router)  # last: it matches every GitHub path
        self.server = SandboxServer(self.router, host=host, port=port, fault_body=_fault_body)
        self.management_key = self.openrouter.add_management_key()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Sandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def openrouter_url(self) -> str:
        return self.url + OPENROUTER_PREFIX

    @property
    def github_url(self) -> str:
        return self.url + GITHUB_PREFIX

    def env(self) -> dict[str, str]:
        """Environment variables that point the engine at this sandbox."""
        return {
            "OPENROUTER_BASE_URL": self.openrouter_url,
            "OPENROUTER_MANAGEMENT_KEY": self.management_key,
            "GITHUB_API_URL": self.github_url,
            "GITHUB_TOKEN": self.github.admin_token,
        }

    # -- faults and records ------------------------------------------------------------------
    def fault(self, path: str, **options: Any) -> Fault:
        return self.server.faults.add(Fault(path=path, **options))

    def clear_faults(self) -> None:
        self.server.faults.clear()

    @property
    def latency(self) -> float:
        return self.server.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.server.latency = seconds

    def requests(self) -> list[RecordedRequest]:
        return self.server.recorded()

    def reset_requests(self) -> None:
        self.server.reset_requests()

    # -- control API for other processes -----------------------------------------------------
    def _register_control(self) -> None:
        r = self.router
        r.add("GET", "/_sandbox/faults", self._list_faults)
        r.add("POST", "/_sandbox/faults", self._add_fault)
        r.add("DELETE", "/_sandbox/faults", self._clear_faults)
        r.add("POST", "/_sandbox/faults/{id}/release", self._release_fault)
        r.add("PUT", "/_sandbox/latency", self._set_latency)
        r.add("GET", "/_sandbox/requests", self._list_requests)
        r.add("DELETE", "/_sandbox/requests", self._clear_requests)
        r.add("GET", "/_sandbox/openrouter/keys", self._or_keys)
        r.add("PATCH", "/_sandbox/openrouter/keys/{hash}", self._or_usage)

    def _list_faults(self, request: Request) -> Response:
        return Response(200, [f.to_dict() for f in self.server.faults.all()])

    def _add_fault(self, request: Request) -> Response:
        fault = self.server.faults.add(fault_from_dict(request.json() or {}))
        return Response(201, fault.to_dict())

    def _clear_faults(self, request: Request) -> Response:
        self.server.faults.clear()
        return Response(204)

    def _release_fault(self, request: Request) -> Response:
        self.server.faults.release(int(request.params["id"]))
        return Response(204)

    def _set_latency(self, request: Request) -> Response:
        self.server.latency = float((request.json() or {}).get("seconds", 0))
        return Response(204)

    def _list_requests(self, request: Request) -> Response:
        return Response(
            200,
            [
                {"method": r.method, "path": r.path, "query": r.query, "status": r.status}
                for r in self.server.recorded()
            ],
        )

    def _clear_requests(self, request: Request) -> Response:
        self.server.reset_requests()
        return Response(204)

    def _or_keys(self, request: Request) -> Response:
        return Response(
            200, [{"hash": k.hash, "name": k.name} for k in self.openrouter.live_keys()]
        )

    def _or_usage(self, request: Request) -> Response:
        try:
            self.openrouter.set_usage(request.params["hash"], **(request.json() or {}))
        except KeyError:
            return Response(404, {"error": {"code": 404, "message": "no such key"}})
        return Response(204)
