"""A stateful stand-in for OpenRouter's key-management API (``/key``, ``/keys``, ``/credits``).

It follows ``shared/specs/openrouter-keys.openapi.json``: ``POST /keys`` answers 201 with the
plaintext ``key`` (``sk-or-v1-`` + 64 hex) exactly once; lists are 100 a page, newest first,
paged with ``offset``; unknown hashes are 404; errors have the ``{"error": {"code", "message"}}``
shape. Management keys and ordinary keys are told apart: an ordinary key may call ``GET /key``
only. A deleted, disabled or expired key gets 401 from ``GET /key``, which is what "the revoked
key no longer works" means in tests and the demo.

Where the spec lists no 403 for an operation (``GET /keys``, ``/keys/{hash}``), an ordinary key
gets 401 there, so every answer the stand-in gives stays inside the published contract.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .http import Request, Response, Router, error_body

PAGE_SIZE = 100
CREATOR = "user_sandbox0000000000000000000"
WORKSPACE = "00000000-0000-4000-8000-000000000000"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_plaintext_key() -> str:
    return "sk-or-v1-" + secrets.token_hex(32)


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _label(plaintext: str) -> str:
    return f"{plaintext[:12]}...{plaintext[-3:]}"


@dataclass
class KeyRecord:
    plaintext: str = field(repr=False)
    name: str
    seq: int
    management: bool = False
    disabled: bool = False
    limit: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_at: datetime | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime | None = None
    usage: float = 0.0
    usage_daily: float = 0.0
    usage_weekly: float = 0.0
    usage_monthly: float = 0.0
    byok_usage: float = 0.0

    @property
    def hash(self) -> str:
        return key_hash(self.plaintext)

    def window_usage(self) -> float:
        return {
            "daily": self.usage_daily,
            "weekly": self.usage_weekly,
            "monthly": self.usage_monthly,
        }.get(self.limit_reset or "", self.usage)

    def limit_remaining(self) -> float | None:
        if self.limit is None:
            return None
        return max(self.limit - self.window_usage(), 0.0)

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= _now()

    def usage_fields(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_remaining": self.limit_remaining(),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": self.usage,
            "usage_daily": self.usage_daily,
            "usage_weekly": self.usage_weekly,
            "usage_monthly": self.usage_monthly,
            "byok_usage": self.byok_usage,
            "byok_usage_daily": self.byok_usage,
            "byok_usage_weekly": self.byok_usage,
            "byok_usage_monthly": self.byok_usage,
        }

    def listing(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "name": self.name,
            "label": _label(self.plaintext),
            "disabled": self.disabled,
            **self.usage_fields(),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "expires_at": _iso(self.expires_at),
            "creator_user_id": CREATOR,
            "workspace_id": WORKSPACE,
        }

    def current(self) -> dict[str, Any]:
        return {
            "label": _label(self.plaintext),
            **self.usage_fields(),
            "is_free_tier": False,
            "is_management_key": self.management,
            "is_provisioning_key": self.management,
            "expires_at": _iso(self.expires_at),
            "creator_user_id": CREATOR,
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }


class OpenRouterStandIn:
    """The state of one OpenRouter account and the handlers that serve it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self.keys: dict[str, KeyRecord] = {}  # by hash; ordinary keys only
        self.management: dict[str, KeyRecord] = {}  # by hash
        self.deleted: set[str] = set()
        self.total_credits = 100.0

    # -- direct access for tests and the demo -------------------------------------------------
    def add_management_key(self, name: str = "sandbox management key") -> str:
        plaintext = new_plaintext_key()
        record = KeyRecord(plaintext, name, next(self._seq), management=True)
        with self._lock:
            self.management[record.hash] = record
        return plaintext

    def add_key(self, name: str, **fields: Any) -> str:
        """Create an ordinary key directly (as if through the dashboard); returns its plaintext."""
        plaintext = new_plaintext_key()
        record = KeyRecord(plaintext, name, next(self._seq), **fields)
        with self._lock:
            self.keys[record.hash] = record
        return plaintext

    def live_keys(self, name: str | None = None) -> list[KeyRecord]:
        with self._lock:
            found = [k for k in self.keys.values() if name is None or k.name == name]
        return sorted(found, key=lambda k: k.seq, reverse=True)

    def set_usage(self, key_hash_: str, **fields: Any) -> None:
        allowed = {"usage", "usage_daily", "usage_weekly", "usage_monthly", "byok_usage"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown usage fields: {sorted(unknown)}")
        with self._lock:
            record = self.keys[key_hash_]
            for name, value in fields.items():
                setattr(record, name, float(value))

    def works(self, plaintext: str) -> bool:
        """Would ``GET /key`` with this key succeed?"""
        with self._lock:
            record = self._find(plaintext)
        return record is not None and not record.disabled and not record.expired()

    # -- HTTP --------------------------------------------------------------------------------
    def register(self, router: Router, prefix: str = "/api/v1") -> None:
        router.add("GET", f"{prefix}/key", self.get_current_key)
        router.add("GET", f"{prefix}/keys", self.list_keys)
        router.add("POST", f"{prefix}/keys", self.create_key)
        router.add("GET", f"{prefix}/keys/{{hash}}", self.get_key)
        router.add("PATCH", f"{prefix}/keys/{{hash}}", self.update_key)
        router.add("DELETE", f"{prefix}/keys/{{hash}}", self.delete_key)
        router.add("GET", f"{prefix}/credits", self.credits)

    def _find(self, plaintext: str) -> KeyRecord | None:
        digest = key_hash(plaintext)
        return self.keys.get(digest) or self.management.get(digest)

    def _caller(self, request: Request) -> tuple[KeyRecord | None, Response | None]:
        token = request.bearer
        if not token:
            return None, Response(401, error_body(401, "Missing Authentication header"))
        with self._lock:
            record = self._find(token)
        if record is None:
            return None, Response(401, error_body(401, "User not found."))
        if record.disabled:
            return None, Response(401, error_body(401, "API key is disabled."))
        if record.expired():
            return None, Response(401, error_body(401, "API key has expired."))
        return record, None

    def _management(self, request: Request, denied_status: int) -> Response | None:
        record, failure = self._caller(request)
        if failure is not None:
            return failure
        if record is None or not record.management:
            return Response(
                denied_status,
                error_body(denied_status, "Only management keys can perform this operation"),
            )
        return None

    def get_current_key(self, request: Request) -> Response:
        record, failure = self._caller(request)
        if failure is not None or record is None:
            return failure or Response(401, error_body(401, "User not found."))
        return Response(200, {"data": record.current()})

    def list_keys(self, request: Request) -> Response:
        denied = self._management(request, 401)
        if denied:
            return denied
        include_disabled = request.query.get("include_disabled", "false").lower() == "true"
        try:
            offset = int(request.query.get("offset") or 0)
        except ValueError:
            return Response(400, error_body(400, "offset must be an integer"))
        if offset < 0:
            return Response(400, error_body(400, "offset must be >= 0"))
        keys = [k for k in self.live_keys() if include_disabled or not k.disabled]
        page = keys[offset : offset + PAGE_SIZE]
        return Response(200, {"data": [k.listing() for k in page]})

    def create_key(self, request: Request) -> Response:
        denied = self._management(request, 403)
        if denied:
            return denied
        body = request.json()
        if not isinstance(body, dict):
            return Response(400, error_body(400, "Request body must be a JSON object"))
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return Response(400, error_body(400, "name is required"))
        problem = _check_key_fields(body)
        if problem:
            return Response(400, error_body(400, problem))
        expires_at = None
        if body.get("expires_at") is not None:
            raw = body["expires_at"]
            if not isinstance(raw, str) or not raw.endswith("Z"):
                return Response(400, error_body(400, "expires_at must be a UTC timestamp"))
            try:
                expires_at = datetime.fromisoformat(raw[:-1] + "+00:00")
            except ValueError:
                return Response(400, error_body(400, "expires_at is not ISO 8601"))
        plaintext = new_plaintext_key()
        record = KeyRecord(
            plaintext,
            name,
            next(self._seq),
            limit=body.get("limit"),
            limit_reset=body.get("limit_reset"),
            include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
            expires_at=expires_at,
        )
        with self._lock:
            self.keys[record.hash] = record
        return Response(201, {"data": record.listing(), "key": plaintext})

    def _record(self, request: Request) -> tuple[KeyRecord | None, Response | None]:
        denied = self._management(request, 401)
        if denied:
            return None, denied
        with self._lock:
            record = self.keys.get(request.params["hash"])
        if record is None:
            return None, Response(404, error_body(404, "API key not found"))
        return record, None

    def get_key(self, request: Request) -> Response:
        record, failure = self._record(request)
        if failure is not None or record is None:
            return failure or Response(404, error_body(404, "API key not found"))
        return Response(200, {"data": record.listing()})

    def update_key(self, request: Request) -> Response:
        record, failure = self._record(request)
        if failure is not None or record is None:
            return failure or Response(404, error_body(404, "API key not found"))
        body = request.json()
        if not isinstance(body, dict):
            return Response(400, error_body(400, "Request body must be a JSON object"))
        unknown = set(body) - {"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"}
        if unknown:
            return Response(400, error_body(400, f"Unknown fields: {sorted(unknown)}"))
        problem = _check_key_fields(body)
        if "disabled" in body and not isinstance(body["disabled"], bool):
            problem = "disabled must be a boolean"
        if "name" in body and (not isinstance(body["name"], str) or not body["name"]):
            problem = "name must be a non-empty string"
        if problem:
            return Response(400, error_body(400, problem))
        with self._lock:
            for name, value in body.items():
                setattr(record, name, value)
            record.updated_at = _now()
        return Response(200, {"data": record.listing()})

    def delete_key(self, request: Request) -> Response:
        record, failure = self._record(request)
        if failure is not None or record is None:
            return failure or Response(404, error_body(404, "API key not found"))
        with self._lock:
            self.keys.pop(record.hash, None)
            self.deleted.add(record.hash)
        return Response(200, {"deleted": True})

    def credits(self, request: Request) -> Response:
        denied = self._management(request, 403)
        if denied:
            return denied
        with self._lock:
            used = sum(k.usage for k in self.keys.values())
        return Response(200, {"data": {"total_credits": self.total_credits, "total_usage": used}})


def _check_key_fields(body: dict[str, Any]) -> str | None:
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
        return "limit must be a number or null"
    if body.get("limit_reset") not in (None, "daily", "weekly", "monthly"):
        return "limit_reset must be daily, weekly, monthly or null"
    if "include_byok_in_limit" in body and not isinstance(body["include_byok_in_limit"], bool):
        return "include_byok_in_limit must be a boolean"
    return None
