"""A stateful stand-in for OpenRouter's key-management API as it is today.

The reference is the official ``openrouter`` Python SDK (1.3.84): every answer validates with
its models (``tests/sdk_oracle.py``), and every request with the published OpenAPI description.
Served under ``/api/v1``:

* ``GET /key`` (any key): the key's own usage and limit, and since 2026 every budget layer that
  applies to it (``budgets``: guardrail budgets, then the key's own limit) with
  ``effective_budget``, the one that blocks first; ``allowed_data_regions``,
  ``free_model_daily_requests``, ``organization_id``, ``workspace_id``;
* ``/keys`` and ``/keys/{hash}`` (management keys): ``POST`` answers 201 with the plaintext
  ``key`` (``sk-or-v1-`` + 64 hex) exactly once; lists are 100 a page, newest first, paged with
  ``offset``, only the default workspace unless ``workspace_id`` is given, expired keys only
  with ``include_expired=true``; ``PATCH`` with nothing to change is 400; unknown body fields
  are ignored; an ``expires_at`` without seconds is 400;
* ``/guardrails`` with key assignments, and ``/workspaces`` (read-only here; tests seed them).

Errors have the ``{"error": {"code", "message"}}`` shape. An ordinary key may call ``GET /key``
only; where an operation lists no 403 (``GET /keys``, ``/keys/{hash}``) it gets 401. A deleted,
disabled or expired key gets 401 from ``GET /key``: "the revoked key no longer works".

Account policies a test can switch on: :attr:`OpenRouterStandIn.require_expiration` (a create
without ``expires_at`` is 400) and :attr:`OpenRouterStandIn.ip_allowlist` (management calls from
any other address are 403).
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..marker import base_name
from .http import Request, Response, Router, error_body

PAGE_SIZE = 100
CREATOR = "user_sandbox0000000000000000000"
DEFAULT_WORKSPACE = "00000000-0000-4000-8000-000000000000"
WINDOWS = ("daily", "weekly", "monthly")
# ``expires_at`` must carry seconds (fractions allowed); minute precision is refused.
_EXPIRES_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)")
UPDATABLE = ("name", "disabled", "limit", "limit_reset", "include_byok_in_limit", "workspace_id")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def window_reset(interval: str | None, now: datetime) -> datetime | None:
    """When a UTC ``daily``/``weekly`` (Monday)/``monthly`` window rolls over; None: lifetime."""
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "daily":
        return day + timedelta(days=1)
    if interval == "weekly":
        return day + timedelta(days=7 - day.weekday())
    if interval == "monthly":
        return day + timedelta(days=calendar.monthrange(day.year, day.month)[1] - day.day + 1)
    return None


def new_plaintext_key() -> str:
    return "sk-or-v1-" + secrets.token_hex(32)


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def window_starts(now: datetime) -> dict[str, datetime]:
    """Where the usage windows began: the UTC day, week (from Monday) and month."""
    utc = now.astimezone(timezone.utc)
    day = datetime(utc.year, utc.month, utc.day, tzinfo=timezone.utc)
    return {
        "daily": day,
        "weekly": day - timedelta(days=utc.weekday()),
        "monthly": datetime(utc.year, utc.month, 1, tzinfo=timezone.utc),
    }


@dataclass(frozen=True)
class Spend:
    """One request made with a key (see :meth:`OpenRouterStandIn.spend`)."""

    at: datetime
    usd: float
    byok: bool = False


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
    last_used_at: datetime | None = None
    workspace_id: str = DEFAULT_WORKSPACE
    external_user: str | None = None
    creator_user_id: str | None = CREATOR
    usage: float = 0.0
    usage_daily: float = 0.0
    usage_weekly: float = 0.0
    usage_monthly: float = 0.0
    byok_usage: float = 0.0
    # Requests made with the key, counted into the usage fields by the window they fall in,
    # on the stand-in's clock (so a test that moves the clock sees windows reset).
    spends: list[Spend] = field(default_factory=list, repr=False)
    clock: Callable[[], datetime] = field(default=_now, repr=False)

    @property
    def hash(self) -> str:
        return key_hash(self.plaintext)

    def spent(self, interval: str | None, *, byok: bool = False) -> float:
        """What requests cost in the current ``daily``/``weekly``/``monthly`` window, or ever."""
        start = window_starts(self.clock()).get(interval or "")
        return sum(
            s.usd for s in self.spends if s.byok == byok and (start is None or s.at >= start)
        )

    def window_usage(self, interval: str | None = None, *, byok: bool = False) -> float:
        """Spend in a ``daily``/``weekly``/``monthly`` window, or all time (None)."""
        spent = {
            "daily": self.usage_daily,
            "weekly": self.usage_weekly,
            "monthly": self.usage_monthly,
        }.get(interval or "", self.usage) + self.spent(interval)
        return spent + (self.byok_usage + self.spent(interval, byok=True) if byok else 0.0)

    def limit_remaining(self) -> float | None:
        if self.limit is None:
            return None
        spent = self.window_usage(self.limit_reset, byok=self.include_byok_in_limit)
        return max(self.limit - spent, 0.0)

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= _now()

    def usage_fields(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_remaining": self.limit_remaining(),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": self.window_usage(None),
            "usage_daily": self.window_usage("daily"),
            "usage_weekly": self.window_usage("weekly"),
            "usage_monthly": self.window_usage("monthly"),
            "byok_usage": self.byok_usage + self.spent(None, byok=True),
            "byok_usage_daily": self.byok_usage + self.spent("daily", byok=True),
            "byok_usage_weekly": self.byok_usage + self.spent("weekly", byok=True),
            "byok_usage_monthly": self.byok_usage + self.spent("monthly", byok=True),
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
            "last_used_at": _iso(self.last_used_at),
            "creator_user_id": self.creator_user_id,
            "external_user": self.external_user,
            "workspace_id": self.workspace_id,
        }


@dataclass
class GuardrailRecord:
    id: str
    name: str
    workspace_id: str
    limit_usd: float | None = None
    reset_interval: str | None = None
    include_byok_in_budgets: bool = False
    allowed_data_regions: list[str] | None = None
    created_at: datetime = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": None,
            "workspace_id": self.workspace_id,
            "limit_usd": self.limit_usd,
            "reset_interval": self.reset_interval,
            "include_byok_in_budgets": self.include_byok_in_budgets,
            "allowed_data_regions": self.allowed_data_regions,
            "allowed_models": None,
            "allowed_providers": None,
            "created_at": _iso(self.created_at),
            "updated_at": None,
        }

    def budget(self, key: KeyRecord, scope: str, now: datetime) -> dict[str, Any] | None:
        """This guardrail's budget layer for ``key`` (KeyBudget), or None when it has no limit."""
        if self.limit_usd is None:
            return None
        spent = key.window_usage(self.reset_interval, byok=self.include_byok_in_budgets)
        return _budget(
            scope,
            self.limit_usd,
            spent,
            self.reset_interval,
            self.include_byok_in_budgets,
            now,
            guardrail_id=self.id,
        )


@dataclass
class Assignment:
    id: str
    guardrail_id: str
    key_hash: str
    created_at: datetime = field(default_factory=_now)


@dataclass
class WorkspaceRecord:
    id: str
    name: str
    slug: str
    default_guardrail_id: str
    created_at: datetime = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "description": None,
            "created_at": _iso(self.created_at),
            "created_by": CREATOR,
            "updated_at": None,
            "default_guardrail_id": self.default_guardrail_id,
            "default_image_model": None,
            "default_provider_sort": None,
            "default_text_model": None,
            "io_logging_api_key_ids": None,
            "io_logging_sampling_rate": 1.0,
            "is_data_discount_logging_enabled": False,
            "is_observability_broadcast_enabled": False,
            "is_observability_io_logging_enabled": False,
        }


def _budget(
    scope: str,
    limit: float,
    spent: float,
    interval: str | None,
    include_byok: bool,
    now: datetime,
    *,
    guardrail_id: str | None = None,
) -> dict[str, Any]:
    return {
        "scope": scope,
        "budget_id": None,
        "guardrail_id": guardrail_id,
        "include_byok": include_byok,
        "limit_usd": limit,
        "spend_usd": round(spent, 6),
        "remaining_usd": round(limit - spent, 6),
        "reset_interval": interval,
        "resets_at": _iso(window_reset(interval, now)),
    }


def effective_budget(budgets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The layer that blocks first: one already spent (in check order), else the least left."""
    for budget in budgets:
        if budget["remaining_usd"] <= 0:
            return budget
    return min(budgets, key=lambda b: b["remaining_usd"], default=None)


class OpenRouterStandIn:
    """The state of one OpenRouter account and the handlers that serve it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self.keys: dict[str, KeyRecord] = {}  # by hash; ordinary keys only
        self.management: dict[str, KeyRecord] = {}  # by hash
        self.deleted: set[str] = set()
        self.total_credits = 100.0
        self.guardrails: dict[str, GuardrailRecord] = {}
        self.assignments: list[Assignment] = []
        self.workspaces: dict[str, WorkspaceRecord] = {}
        self.organization_id: str | None = None
        # Account policies (see the module docstring).
        self.require_expiration = False
        self.ip_allowlist: list[str] | None = None
        self.add_workspace("Default", workspace_id=DEFAULT_WORKSPACE)
        # Tests and the demo move time forward; usage windows and budgets follow this clock.
        self.clock: Callable[[], datetime] = _now

    def _clock_now(self) -> datetime:
        return self.clock()  # looked up at each call: a test may swap the clock later

    # -- direct access for tests and the demo -------------------------------------------------
    def add_management_key(self, name: str = "sandbox management key") -> str:
        plaintext = new_plaintext_key()
        record = KeyRecord(plaintext, name, next(self._seq), management=True, clock=self._clock_now)
        with self._lock:
            self.management[record.hash] = record
        return plaintext

    def add_key(self, name: str, **fields: Any) -> str:
        """Create an ordinary key directly (as if through the dashboard); returns its plaintext."""
        plaintext = new_plaintext_key()
        record = KeyRecord(plaintext, name, next(self._seq), clock=self._clock_now, **fields)
        with self._lock:
            self.keys[record.hash] = record
        return plaintext

    def add_workspace(self, name: str, *, workspace_id: str | None = None) -> str:
        """A workspace (with its default guardrail, which has no budget); returns its id."""
        wid = workspace_id or str(uuid.uuid4())
        default = self.add_guardrail(f"{name} default", workspace_id=wid)
        with self._lock:
            self.workspaces[wid] = WorkspaceRecord(wid, name, name.lower(), default)
        return wid

    def add_guardrail(
        self, name: str, *, workspace_id: str = DEFAULT_WORKSPACE, **fields: Any
    ) -> str:
        """A guardrail (``limit_usd``, ``reset_interval``, ...); returns its id."""
        gid = str(uuid.uuid4())
        with self._lock:
            self.guardrails[gid] = GuardrailRecord(gid, name, workspace_id, **fields)
        return gid

    def assign(self, guardrail_id: str, key_hash_: str) -> None:
        with self._lock:
            if guardrail_id not in self.guardrails_of(key_hash_, ids=True):
                self.assignments.append(Assignment(str(uuid.uuid4()), guardrail_id, key_hash_))

    def guardrails_of(self, key_hash_: str, *, ids: bool = False) -> list[Any]:
        """The guardrails explicitly assigned to a key (ids, or records), oldest first."""
        with self._lock:
            found = [a.guardrail_id for a in self.assignments if a.key_hash == key_hash_]
            return found if ids else [self.guardrails[g] for g in found]

    def live_keys(self, name: str | None = None) -> list[KeyRecord]:
        """Live keys, newest first; ``name``: only those named so (the engine's mark aside)."""
        with self._lock:
            found = [k for k in self.keys.values() if name is None or base_name(k.name) == name]
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
            record.last_used_at = _now()

    def spend(self, key_hash_: str, usd: float, *, byok: bool = False) -> bool:
        """A request made with the key, costing ``usd`` now (on the stand-in's clock).

        Refused, as OpenRouter refuses it, when the key's limit is used up; returns whether it
        was served. BYOK spend counts toward the limit only when the key says so.
        """
        with self._lock:
            record = self.keys[key_hash_]
            remaining = record.limit_remaining()
            counted = record.include_byok_in_limit or not byok
            if remaining is not None and remaining <= 0 and counted:
                return False
            record.spends.append(Spend(self.clock(), float(usd), byok))
            record.last_used_at = self.clock()
        return True

    def works(self, plaintext: str) -> bool:
        """Would ``GET /key`` with this key succeed?"""
        with self._lock:
            record = self._find(plaintext)
        return record is not None and not record.disabled and not record.expired()

    def budgets(self, record: KeyRecord, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every budget layer of a key, in the order enforcement checks them."""
        now = now or self.clock()
        layers: list[dict[str, Any] | None] = []
        with self._lock:
            workspace = self.workspaces.get(record.workspace_id)
            if workspace is not None:
                default = self.guardrails[workspace.default_guardrail_id]
                layers.append(default.budget(record, "workspace_default_key", now))
            for guardrail in self.guardrails_of(record.hash):
                layers.append(guardrail.budget(record, "api_key", now))
        if record.limit is not None:
            spent = record.window_usage(record.limit_reset, byok=record.include_byok_in_limit)
            layers.append(
                _budget(
                    "key_limit",
                    record.limit,
                    spent,
                    record.limit_reset,
                    record.include_byok_in_limit,
                    now,
                )
            )
        return [layer for layer in layers if layer is not None]

    def current(self, record: KeyRecord) -> dict[str, Any]:
        """``GET /key``'s data for a key."""
        budgets = self.budgets(record)
        regions = ["global", "europe", "us"]
        for guardrail in self.guardrails_of(record.hash):
            if guardrail.allowed_data_regions is not None:
                regions = [r for r in regions if r in guardrail.allowed_data_regions]
        return {
            "label": _label(record.plaintext),
            **record.usage_fields(),
            "is_free_tier": False,
            "is_management_key": record.management,
            "is_provisioning_key": record.management,
            "expires_at": _iso(record.expires_at),
            "creator_user_id": record.creator_user_id,
            "organization_id": self.organization_id,
            "workspace_id": record.workspace_id if record.workspace_id in self.workspaces else None,
            "allowed_data_regions": regions,
            "budgets": budgets,
            "effective_budget": effective_budget(budgets),
            "free_model_daily_requests": {"limit": 1000, "remaining": 1000, "used": 0},
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }

    # -- HTTP --------------------------------------------------------------------------------
    def register(self, router: Router, prefix: str = "/api/v1") -> None:
        router.add("GET", f"{prefix}/key", self.get_current_key)
        router.add("GET", f"{prefix}/keys", self.list_keys)
        router.add("POST", f"{prefix}/keys", self.create_key)
        router.add("GET", f"{prefix}/keys/{{hash}}", self.get_key)
        router.add("PATCH", f"{prefix}/keys/{{hash}}", self.update_key)
        router.add("DELETE", f"{prefix}/keys/{{hash}}", self.delete_key)
        router.add("GET", f"{prefix}/credits", self.credits)
        # Fixed paths before the {id} paths that would also match them.
        router.add("GET", f"{prefix}/guardrails/assignments/keys", self.list_key_assignments)
        router.add("GET", f"{prefix}/guardrails", self.list_guardrails)
        router.add("GET", f"{prefix}/guardrails/{{id}}", self.get_guardrail)
        router.add("GET", f"{prefix}/guardrails/{{id}}/assignments/keys", self.list_key_assignments)
        router.add("POST", f"{prefix}/guardrails/{{id}}/assignments/keys", self.assign_keys)
        router.add(
            "POST", f"{prefix}/guardrails/{{id}}/assignments/keys/remove", self.unassign_keys
        )
        router.add("GET", f"{prefix}/workspaces", self.list_workspaces)
        router.add("GET", f"{prefix}/workspaces/{{id}}", self.get_workspace)

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
        if self.ip_allowlist is not None and request.client not in self.ip_allowlist:
            return Response(
                403,
                error_body(
                    403,
                    f"Request from IP address {request.client} is not in this account's "
                    "IP allowlist",
                ),
            )
        return None

    def get_current_key(self, request: Request) -> Response:
        record, failure = self._caller(request)
        if failure is not None or record is None:
            return failure or Response(401, error_body(401, "User not found."))
        return Response(200, {"data": self.current(record)})

    def list_keys(self, request: Request) -> Response:
        denied = self._management(request, 401)
        if denied:
            return denied
        include_disabled = request.query.get("include_disabled", "false").lower() == "true"
        include_expired = request.query.get("include_expired", "false").lower() == "true"
        workspace = request.query.get("workspace_id") or DEFAULT_WORKSPACE
        if workspace not in self.workspaces:
            return Response(404, error_body(404, "Workspace not found"))
        try:
            offset = int(request.query.get("offset") or 0)
        except ValueError:
            return Response(400, error_body(400, "offset must be an integer"))
        if offset < 0:
            return Response(400, error_body(400, "offset must be >= 0"))
        keys = [
            k
            for k in self.live_keys()
            if k.workspace_id == workspace
            and (include_disabled or not k.disabled)
            and (include_expired or not k.expired())
        ]
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
        expires_at, problem = _expires_at(body.get("expires_at"))
        if problem:
            return Response(400, error_body(400, problem))
        if expires_at is None and self.require_expiration:
            return Response(
                400,
                error_body(
                    400,
                    "Your organization requires API keys to have an expiration: set expires_at",
                ),
            )
        workspace = body.get("workspace_id") or DEFAULT_WORKSPACE
        if workspace not in self.workspaces:
            return Response(400, error_body(400, f"Unknown workspace_id: {workspace}"))
        external = body.get("external")
        external_user = external.get("user") if isinstance(external, dict) else None
        plaintext = new_plaintext_key()
        # Unknown fields are ignored, as OpenRouter does.
        record = KeyRecord(
            plaintext,
            name,
            next(self._seq),
            limit=body.get("limit"),
            limit_reset=body.get("limit_reset"),
            include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
            expires_at=expires_at,
            workspace_id=workspace,
            external_user=external_user if isinstance(external_user, str) else None,
            creator_user_id=body.get("creator_user_id") or CREATOR,
            clock=self._clock_now,
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
        changes = {k: v for k, v in body.items() if k in UPDATABLE}  # unknown fields ignored
        if not changes:
            return Response(400, error_body(400, "No fields to update"))
        problem = _check_key_fields(changes)
        if "disabled" in changes and not isinstance(changes["disabled"], bool):
            problem = "disabled must be a boolean"
        if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"]):
            problem = "name must be a non-empty string"
        if "workspace_id" in changes and changes["workspace_id"] not in self.workspaces:
            problem = f"Unknown workspace_id: {changes['workspace_id']}"
        if problem:
            return Response(400, error_body(400, problem))
        with self._lock:
            for name, value in changes.items():
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
            self.assignments = [a for a in self.assignments if a.key_hash != record.hash]
        return Response(200, {"deleted": True})

    def credits(self, request: Request) -> Response:
        denied = self._management(request, 403)
        if denied:
            return denied
        with self._lock:
            used = sum(k.usage for k in self.keys.values())
        return Response(200, {"data": {"total_credits": self.total_credits, "total_usage": used}})

    # -- guardrails and workspaces -----------------------------------------------------------
    def _page(self, request: Request) -> tuple[int, int] | Response:
        try:
            offset = int(request.query.get("offset") or 0)
            limit = int(request.query.get("limit") or 50)
        except ValueError:
            return Response(400, error_body(400, "offset and limit must be integers"))
        if offset < 0 or not 1 <= limit <= 100:
            return Response(400, error_body(400, "offset must be >= 0, limit 1 to 100"))
        return offset, limit

    def _guardrail(self, request: Request) -> GuardrailRecord | Response:
        denied = self._management(request, 403)
        if denied:
            return denied
        with self._lock:
            guardrail = self.guardrails.get(request.params["id"])
        if guardrail is None:
            return Response(404, error_body(404, "Guardrail not found"))
        return guardrail

    def _listing(self, request: Request, items: Callable[[], list[dict[str, Any]]]) -> Response:
        """A management listing: ``{"data": [...], "total_count"}``, paged by offset/limit."""
        denied = self._management(request, 403)
        if denied:
            return denied
        page = self._page(request)
        if isinstance(page, Response):
            return page
        offset, limit = page
        with self._lock:
            found = items()
        return Response(200, {"data": found[offset : offset + limit], "total_count": len(found)})

    def list_guardrails(self, request: Request) -> Response:
        return self._listing(request, lambda: [g.to_json() for g in self.guardrails.values()])

    def get_guardrail(self, request: Request) -> Response:
        guardrail = self._guardrail(request)
        if isinstance(guardrail, Response):
            return guardrail
        return Response(200, {"data": guardrail.to_json()})

    def list_key_assignments(self, request: Request) -> Response:
        """All key assignments, or one guardrail's (``/guardrails/{id}/assignments/keys``)."""
        wanted = request.params.get("id")
        if wanted is not None:
            guardrail = self._guardrail(request)
            if isinstance(guardrail, Response):
                return guardrail
        return self._listing(
            request,
            lambda: [
                self._assignment_json(a)
                for a in self.assignments
                if wanted in (None, a.guardrail_id)
            ],
        )

    def _assignment_json(self, assignment: Assignment) -> dict[str, Any]:
        key = self.keys[assignment.key_hash]
        return {
            "id": assignment.id,
            "guardrail_id": assignment.guardrail_id,
            "key_hash": assignment.key_hash,
            "key_name": key.name,
            "key_label": _label(key.plaintext),
            "assigned_by": CREATOR,
            "created_at": _iso(assignment.created_at),
        }

    def _key_hashes(self, request: Request) -> list[str] | Response:
        body = request.json()
        hashes = body.get("key_hashes") if isinstance(body, dict) else None
        if (
            not isinstance(hashes, list)
            or not hashes
            or not all(isinstance(h, str) for h in hashes)
        ):
            return Response(400, error_body(400, "key_hashes must be a non-empty list"))
        unknown = [h for h in hashes if h not in self.keys]
        if unknown:
            return Response(404, error_body(404, f"API key not found: {unknown[0]}"))
        return hashes

    def assign_keys(self, request: Request) -> Response:
        return self._bulk(request, "assigned_count", self._assign_all)

    def unassign_keys(self, request: Request) -> Response:
        return self._bulk(request, "unassigned_count", self._unassign_all)

    def _bulk(
        self, request: Request, counted: str, change: Callable[[str, list[str]], int]
    ) -> Response:
        """``POST /guardrails/{id}/assignments/keys[/remove]``: ``{"key_hashes": [...]}``."""
        guardrail = self._guardrail(request)
        if isinstance(guardrail, Response):
            return guardrail
        hashes = self._key_hashes(request)
        if isinstance(hashes, Response):
            return hashes
        with self._lock:
            return Response(200, {counted: change(guardrail.id, hashes)})

    def _assign_all(self, guardrail_id: str, hashes: list[str]) -> int:
        before = len(self.assignments)
        for digest in hashes:
            self.assign(guardrail_id, digest)
        return len(self.assignments) - before

    def _unassign_all(self, guardrail_id: str, hashes: list[str]) -> int:
        kept = [
            a
            for a in self.assignments
            if not (a.guardrail_id == guardrail_id and a.key_hash in hashes)
        ]
        removed = len(self.assignments) - len(kept)
        self.assignments = kept
        return removed

    def list_workspaces(self, request: Request) -> Response:
        return self._listing(request, lambda: [w.to_json() for w in self.workspaces.values()])

    def get_workspace(self, request: Request) -> Response:
        denied = self._management(request, 403)
        if denied:
            return denied
        ref = request.params["id"]
        with self._lock:
            found = next((w for w in self.workspaces.values() if ref in (w.id, w.slug)), None)
        if found is None:
            return Response(404, error_body(404, "Workspace not found"))
        return Response(200, {"data": found.to_json()})


def _check_key_fields(body: dict[str, Any]) -> str | None:
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
        return "limit must be a number or null"
    if body.get("limit_reset") not in (None, *WINDOWS):
        return "limit_reset must be daily, weekly, monthly or null"
    if "include_byok_in_limit" in body and not isinstance(body["include_byok_in_limit"], bool):
        return "include_byok_in_limit must be a boolean"
    return None


def _expires_at(raw: Any) -> tuple[datetime | None, str | None]:
    """Parse ``expires_at`` as OpenRouter does: a UTC timestamp with seconds, in the future."""
    if raw is None:
        return None, None
    if not isinstance(raw, str) or not _EXPIRES_AT.fullmatch(raw):
        return None, (
            "expires_at must be an ISO 8601 UTC timestamp with seconds "
            "(YYYY-MM-DDTHH:MM:SSZ); minute precision is not accepted"
        )
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    except ValueError:
        return None, "expires_at is not a valid ISO 8601 timestamp"
    if moment <= _now():
        return None, "expires_at must be in the future"
    return moment, None
