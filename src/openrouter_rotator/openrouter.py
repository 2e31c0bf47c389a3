"""httpx client for OpenRouter's key-management API (``/key``, ``/keys``, ``/credits``,
key assignments of ``/guardrails``, ``/workspaces``), as the official SDK 1.3.84 describes it.

Every call has an explicit timeout. Idempotent calls (GET, PATCH, DELETE) are retried on 429,
5xx and transport errors with exponential backoff and full jitter, honouring ``Retry-After``,
a bounded number of times. ``POST /keys`` is never retried blindly, because the API has no
idempotency key: a 429 is retried (the request was refused, nothing was made), but a 5xx or a
lost answer leaves the outcome unknown, and that is settled by listing the keys. A key that
the lost answer created is one whose plaintext nobody will ever see, so it is deleted before
the create is tried once more: the account never ends up with a duplicate.

Errors come from :mod:`openrouter_rotator.errors` and carry the method, path, status and
OpenRouter's own message, never a key. Account policies are told apart from a wrong key: an
account that requires keys to expire, and a management key used from outside its IP allowlist.

Answers are read defensively: a field the client needs that is missing or of the wrong type is
an :class:`~openrouter_rotator.errors.OpenRouterResponseError`, never a ``KeyError`` or a
silently wrong value.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from .config import DEFAULT_OPENROUTER_URL
from .errors import (
    CreateOutcomeUnknown,
    OpenRouterAuthError,
    OpenRouterError,
    OpenRouterPolicyError,
    OpenRouterResponseError,
    OpenRouterStatusError,
    OpenRouterTransportError,
)
from .retry import RetryPolicy, retry_after
from .schedule import parse_timestamp

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_RETRY_AFTER = 60.0  # a longer wait is a failure to report, not to sit through in CI
# Clock skew allowed between this machine and OpenRouter when matching a lost create.
CREATE_SKEW = timedelta(minutes=5)

AUTH_HINT = (
    "use an OpenRouter management key (Settings > Management API Keys at "
    "https://openrouter.ai/settings/management-keys) in OPENROUTER_MANAGEMENT_KEY; "
    "an ordinary inference key cannot manage keys"
)
IP_ALLOWLIST_HINT = (
    "the account's IP allowlist refuses this runner's address: allow it in OpenRouter's "
    "settings, or run the rotation from an allowed network (a self-hosted runner)"
)
EXPIRATION_HINT = (
    "this OpenRouter account requires every key to expire: set expires-after "
    "(--expires-after / ROTATOR_EXPIRES_AFTER), e.g. 90d, longer than the rotation interval"
)


@dataclass(frozen=True)
class Budget:
    """One budget layer that applies to a key (``KeyBudget`` in the SDK)."""

    scope: str  # api_key, workspace_default_key, ..., key_limit (the key's own limit)
    limit_usd: float
    spend_usd: float
    remaining_usd: float
    reset_interval: str | None  # daily | weekly | monthly; None: lifetime
    resets_at: datetime | None  # when the window rolls over; None: lifetime
    guardrail_id: str | None = None

    @property
    def percent_used(self) -> float | None:
        if self.limit_usd <= 0:
            return None
        return round(max(0.0, min(100.0, self.spend_usd / self.limit_usd * 100.0)), 2)


def blocking_budget(budgets: Iterable[Budget]) -> Budget | None:
    """The layer that blocks first, as OpenRouter picks ``effective_budget``: one already
    spent (in the order enforcement checks them), else the one with the least left."""
    layers = list(budgets)
    for budget in layers:
        if budget.remaining_usd <= 0:
            return budget
    return min(layers, key=lambda b: b.remaining_usd, default=None)


def window_reset(interval: str | None, now: datetime) -> datetime | None:
    """When a UTC ``daily``/``weekly`` (Monday)/``monthly`` window rolls over; None: lifetime."""
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "daily":
        return day + timedelta(days=1)
    if interval == "weekly":
        return day + timedelta(days=7 - day.weekday())
    if interval == "monthly":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return None


@dataclass(frozen=True)
class Usage:
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    byok_usage: float = 0.0
    byok_usage_daily: float = 0.0
    byok_usage_weekly: float = 0.0
    byok_usage_monthly: float = 0.0

    def in_window(self, interval: str | None) -> float:
        """Usage in a ``daily``/``weekly``/``monthly`` window, or all time (None)."""
        return {
            "daily": self.usage_daily,
            "weekly": self.usage_weekly,
            "monthly": self.usage_monthly,
        }.get(interval or "", self.usage)

    @property
    def window_usage(self) -> float:
        """Usage in the window the limit applies to (the whole life when it never resets)."""
        return self.in_window(self.limit_reset)

    @property
    def window_byok(self) -> float:
        """BYOK usage in the limit's window."""
        return {
            "daily": self.byok_usage_daily,
            "weekly": self.byok_usage_weekly,
            "monthly": self.byok_usage_monthly,
        }.get(self.limit_reset or "", self.byok_usage)

    @property
    def percent_used(self) -> float | None:
        if self.limit is None or self.limit <= 0:
            return None
        if self.limit_remaining is not None:
            used = self.limit - self.limit_remaining
        else:
            used = self.window_usage
        return round(max(0.0, min(100.0, used / self.limit * 100.0)), 2)


@dataclass(frozen=True)
class ApiKey:
    """A key as the listing describes it. Never holds the plaintext."""

    hash: str
    name: str
    label: str
    disabled: bool
    created_at: datetime | None
    expires_at: datetime | None
    include_byok_in_limit: bool
    usage: Usage
    workspace_id: str | None = None

    def own_budget(self, now: datetime) -> Budget | None:
        """The key's own limit as a budget layer (``key_limit``), None when unlimited."""
        usage = self.usage
        if usage.limit is None:
            return None
        spent = usage.window_usage + (usage.window_byok if self.include_byok_in_limit else 0.0)
        return Budget(
            "key_limit",
            usage.limit,
            spent,
            usage.limit - spent,
            usage.limit_reset,
            window_reset(usage.limit_reset, now),
        )


@dataclass(frozen=True)
class CreatedKey:
    """The answer to a create: the only moment the plaintext exists."""

    key: str
    info: ApiKey
    # An earlier attempt got no definite answer. Its request may still reach OpenRouter after
    # the listing that settled it, and make a key nobody holds: the caller sweeps again later.
    uncertain: bool = False

    def __repr__(self) -> str:  # the plaintext must not leak through a repr in a traceback
        return f"CreatedKey(hash={self.info.hash!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class CurrentKey:
    label: str
    is_management_key: bool
    is_free_tier: bool
    expires_at: datetime | None
    usage: Usage
    budgets: tuple[Budget, ...] = ()
    effective_budget: Budget | None = None  # the layer that blocks first; None: no budget
    workspace_id: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True)
class Guardrail:
    id: str
    name: str
    workspace_id: str | None
    limit_usd: float | None
    reset_interval: str | None
    include_byok_in_budgets: bool

    def budget(self, key: ApiKey, scope: str, now: datetime) -> Budget | None:
        """This guardrail's layer for ``key``, from the key's own usage counters."""
        if self.limit_usd is None:
            return None
        usage = key.usage
        spent = usage.in_window(self.reset_interval)
        if self.include_byok_in_budgets:
            spent += usage.window_byok
        return Budget(
            scope,
            self.limit_usd,
            spent,
            self.limit_usd - spent,
            self.reset_interval,
            window_reset(self.reset_interval, now),
            self.id,
        )


@dataclass(frozen=True)
class Workspace:
    id: str
    default_guardrail_id: str | None  # the guardrail every key of the workspace is under


@dataclass(frozen=True)
class Credits:
    total_credits: float
    total_usage: float


def _parse_time(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _usage(data: dict[str, Any]) -> Usage:
    def amount(name: str) -> float:
        return float(data.get(name) or 0)

    return Usage(
        limit=_number(data.get("limit")),
        limit_remaining=_number(data.get("limit_remaining")),
        limit_reset=data.get("limit_reset"),
        usage=amount("usage"),
        usage_daily=amount("usage_daily"),
        usage_weekly=amount("usage_weekly"),
        usage_monthly=amount("usage_monthly"),
        byok_usage=amount("byok_usage"),
        byok_usage_daily=amount("byok_usage_daily"),
        byok_usage_weekly=amount("byok_usage_weekly"),
        byok_usage_monthly=amount("byok_usage_monthly"),
    )


def _budget(data: Any) -> Budget | None:
    if not isinstance(data, dict):
        return None
    try:
        return Budget(
            scope=str(data["scope"]),
            limit_usd=float(data["limit_usd"]),
            spend_usd=float(data["spend_usd"]),
            remaining_usd=float(data["remaining_usd"]),
            reset_interval=_text(data.get("reset_interval")),
            resets_at=_parse_time(data.get("resets_at")),
            guardrail_id=_text(data.get("guardrail_id")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _api_key(data: dict[str, Any]) -> ApiKey:
    return ApiKey(
        hash=str(data["hash"]),
        name=str(data.get("name", "")),
        label=str(data.get("label", "")),
        disabled=bool(data.get("disabled", False)),
        created_at=_parse_time(data.get("created_at")),
        expires_at=_parse_time(data.get("expires_at")),
        include_byok_in_limit=bool(data.get("include_byok_in_limit", False)),
        usage=_usage(data),
        workspace_id=_text(data.get("workspace_id")),
    )


def _guardrail(data: dict[str, Any]) -> Guardrail:
    return Guardrail(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        workspace_id=_text(data.get("workspace_id")),
        limit_usd=_number(data.get("limit_usd")),
        reset_interval=_text(data.get("reset_interval")),
        include_byok_in_budgets=bool(data.get("include_byok_in_budgets", False)),
    )


def _workspace(data: dict[str, Any]) -> Workspace:
    return Workspace(
        id=str(data["id"]), default_guardrail_id=_text(data.get("default_guardrail_id"))
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no message"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    return response.reason_phrase or "no message"


def _created(response: httpx.Response) -> CreatedKey:
    """Read a create's answer defensively: the plaintext must be where the API puts it.

    If it is not (the API changed), the key exists but nobody can hold it: stop here, before
    anything is published; the run's recorded intent makes the next run sweep the key.
    """
    try:
        payload = response.json()
    except ValueError:
        payload = None
    key = payload.get("key") if isinstance(payload, dict) else None
    data = payload.get("data") if isinstance(payload, dict) else None
    if (
        not isinstance(key, str)
        or not key.startswith("sk-or-")
        or not isinstance(data, dict)
        or not isinstance(data.get("hash"), str)
    ):
        raise OpenRouterResponseError(
            "the create answered 201 but the new key is not in 'key' with its 'data.hash'; "
            "nothing was published, and the next run deletes the key it made",
            method="POST",
            path="/keys",
            status=201,
        )
    return CreatedKey(key=key, info=_api_key(data))


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    moment = (now or datetime.now(timezone.utc)).timestamp()
    return retry_after({k.lower(): v for k, v in response.headers.items()}, moment)


class OpenRouterClient:
    """Key management with one API key (a management key for everything but :meth:`current_key`)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_OPENROUTER_URL,
        *,
        timeout: float = 15.0,
        retries: int = 4,
        backoff: float = 0.5,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        # The shared policy (retry.py); without one, the arguments make it.
        self.retry = retry or RetryPolicy(retries, backoff, max_wait=MAX_RETRY_AFTER)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "openrouter-rotator", "Accept": "application/json"},
        )
        self.requests_made = 0

    @property
    def retries(self) -> int:
        return self.retry.retries

    @property
    def backoff(self) -> float:
        return self.retry.backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenRouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, *, api_key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {api_key or self._api_key}"}
        self.requests_made += 1
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise OpenRouterTransportError(
                f"timed out ({type(exc).__name__})", method=method, path=path
            ) from None
        except httpx.TransportError as exc:
            raise OpenRouterTransportError(
                f"connection failed ({type(exc).__name__})", method=method, path=path
            ) from None

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            asked = retry_after_seconds(response)
            if asked is not None:
                return asked
        return self.retry.backoff_for(attempt)

    def _wait(self, seconds: float) -> None:
        self._sleep(seconds * self.retry.scale)

    def _raise_for(
        self, response: httpx.Response, method: str, path: str, *, expiring: bool = True
    ) -> None:
        """Raise the error an answer means. ``expiring``: the request set ``expires_at``."""
        message = _error_message(response)
        status = response.status_code
        lowered = message.lower()
        if status == 403 and ("allowlist" in lowered or "ip address" in lowered):
            raise OpenRouterPolicyError(
                message, method=method, path=path, status=status, hint=IP_ALLOWLIST_HINT
            )
        if status in (401, 403):
            raise OpenRouterAuthError(
                message, method=method, path=path, status=status, hint=AUTH_HINT
            )
        if status in (400, 403, 422) and not expiring and "expir" in lowered:
            raise OpenRouterPolicyError(
                message, method=method, path=path, status=status, hint=EXPIRATION_HINT
            )
        raise OpenRouterStatusError(message, method=method, path=path, status=status)

    def _data(self, response: httpx.Response, method: str, path: str) -> Any:
        """The ``data`` member of an answer; a missing one is an error, not a KeyError."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "data" not in body:
            raise OpenRouterResponseError(
                "the answer has no 'data' member",
                method=method,
                path=path,
                status=response.status_code,
            )
        return body["data"]

    def _request(
        self,
        method: str,
        path: str,
        *,
        ok: Iterable[int] = (200,),
        api_key: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send an idempotent request, retrying what is worth retrying."""
        allowed = set(ok)
        attempt = 0
        while True:
            response: httpx.Response | None = None
            failure: OpenRouterError
            try:
                response = self._send(method, path, api_key=api_key, **kwargs)
            except OpenRouterTransportError as exc:
                failure = exc
            else:
                if response.status_code in allowed:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    self._raise_for(response, method, path)
                failure = OpenRouterStatusError(
                    _error_message(response),
                    method=method,
                    path=path,
                    status=response.status_code,
                )
            delay = self._delay(attempt, response)
            if attempt >= self.retries or delay > self.retry.max_wait:
                raise failure
            attempt += 1
            log.info("retrying %s %s in %.1fs after: %s", method, path, delay, failure.detail)
            self._wait(delay)

    # -- API ---------------------------------------------------------------------------------
    def _get_data(self, path: str, **kwargs: Any) -> Any:
        return self._data(self._request("GET", path, **kwargs), "GET", path)

    def current_key(self, api_key: str | None = None) -> CurrentKey:
        """``GET /key`` as ``api_key`` (default: this client's key). Verifies that a key works."""
        data = self._get_data("/key", api_key=api_key)
        budgets = data.get("budgets")
        return CurrentKey(
            label=str(data.get("label", "")),
            is_management_key=bool(
                data.get("is_management_key") or data.get("is_provisioning_key")
            ),
            is_free_tier=bool(data.get("is_free_tier", False)),
            expires_at=_parse_time(data.get("expires_at")),
            usage=_usage(data),
            budgets=tuple(
                b for b in map(_budget, budgets if isinstance(budgets, list) else []) if b
            ),
            effective_budget=_budget(data.get("effective_budget")),
            workspace_id=_text(data.get("workspace_id")),
            organization_id=_text(data.get("organization_id")),
        )

    def list_keys(
        self,
        include_disabled: bool = False,
        *,
        include_expired: bool = False,
        workspace_id: str | None = None,
    ) -> list[ApiKey]:
        """Every key of a workspace (default: the default one), newest first, page by page."""
        keys: list[ApiKey] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"offset": offset}
            if include_disabled:
                params["include_disabled"] = "true"
            if include_expired:
                params["include_expired"] = "true"
            if workspace_id:
                params["workspace_id"] = workspace_id
            page = self._get_data("/keys", params=params)
            keys.extend(_api_key(item) for item in page)
            if len(page) < PAGE_SIZE:
                return keys
            offset += len(page)

    def every_key(
        self, *, include_expired: bool = False, workspaces: Iterable[Workspace] | None = None
    ) -> list[ApiKey]:
        """Every key of every workspace, disabled ones included (a listing shows one
        workspace, and a rotated key lives in its predecessor's). ``workspaces``: the
        account's, already listed (None: list them)."""
        return [
            key
            for workspace in (self.workspaces() if workspaces is None else workspaces)
            for key in self.list_keys(
                include_disabled=True, include_expired=include_expired, workspace_id=workspace.id
            )
        ]

    def get_key(self, key_hash: str) -> ApiKey:
        return _api_key(self._get_data(f"/keys/{key_hash}"))

    def update_key(self, key_hash: str, **fields: Any) -> ApiKey:
        allowed = {"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"}
        unknown = set(fields) - allowed
        if unknown or not fields:  # OpenRouter answers an empty PATCH with 400
            raise ValueError(f"cannot update {sorted(unknown) or 'nothing'}")
        path = f"/keys/{key_hash}"
        return _api_key(self._data(self._request("PATCH", path, json=fields), "PATCH", path))

    # -- workspaces and guardrails -----------------------------------------------------------
    def workspaces(self) -> list[Workspace]:
        """Every workspace of the account (the keys of each are listed separately)."""
        return [_workspace(w) for w in self._paged("/workspaces")]

    def _paged(self, path: str) -> list[dict[str, Any]]:
        """Every item of a ``{"data": [...], "total_count"}`` listing, 100 at a time."""
        items: list[dict[str, Any]] = []
        while True:
            body = self._request("GET", path, params={"offset": len(items), "limit": 100}).json()
            page = body.get("data") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise OpenRouterResponseError(
                    "the answer has no 'data' list", method="GET", path=path, status=200
                )
            items.extend(page)
            if not page or len(items) >= int(body.get("total_count") or 0):
                return items

    def guardrails_of(self, key_hash: str) -> list[str]:
        """Ids of the guardrails assigned to a key."""
        return [
            str(a["guardrail_id"])
            for a in self._paged("/guardrails/assignments/keys")
            if a.get("key_hash") == key_hash
        ]

    def get_guardrail(self, guardrail_id: str) -> Guardrail:
        return _guardrail(self._get_data(f"/guardrails/{guardrail_id}"))

    def assign_guardrail(self, guardrail_id: str, key_hashes: Iterable[str]) -> int:
        """Assign keys to a guardrail; returns how many were newly assigned."""
        path = f"/guardrails/{guardrail_id}/assignments/keys"
        response = self._request("POST", path, json={"key_hashes": list(key_hashes)})
        body = response.json()
        return int(body.get("assigned_count") or 0) if isinstance(body, dict) else 0

    def key_budgets(
        self, key: ApiKey, now: datetime | None = None, workspaces: Iterable[Workspace] = ()
    ) -> list[Budget]:
        """A key's budget layers as far as a management key can see them, in the order
        enforcement checks them: its workspace's default guardrail, the guardrails assigned
        to it, then its own limit.

        ``GET /key`` reports every layer but only to the key itself; the engine holds the
        plaintext only while it rotates, so between rotations it rebuilds the key-scoped
        layers from the key's usage counters (member and workspace aggregates are not
        visible to it and are left out). ``workspaces``: the account's, if already listed
        (the key's workspace is then not read again).
        """
        now = now or datetime.now(timezone.utc)
        layers: list[Budget | None] = []
        if key.workspace_id:
            listed = {w.id: w for w in workspaces}
            workspace = listed.get(key.workspace_id) or _workspace(
                self._get_data(f"/workspaces/{key.workspace_id}")
            )
            default = workspace.default_guardrail_id
            if default:
                layers.append(self.get_guardrail(default).budget(key, "workspace_default_key", now))
        for guardrail_id in self.guardrails_of(key.hash):
            layers.append(self.get_guardrail(guardrail_id).budget(key, "api_key", now))
        layers.append(key.own_budget(now))
        return [layer for layer in layers if layer is not None]

    def delete_key(self, key_hash: str) -> bool:
        """Delete a key. True if it was deleted now, False if it was already gone (404)."""
        response = self._request("DELETE", f"/keys/{key_hash}", ok=(200, 404))
        return response.status_code == 200

    def credits(self) -> Credits:
        data = self._get_data("/credits")
        return Credits(float(data["total_credits"]), float(data["total_usage"]))

    def create_key(
        self,
        name: str,
        *,
        limit: float | None = None,
        limit_reset: str | None = None,
        include_byok_in_limit: bool = False,
        expires_at: datetime | None = None,
        workspace_id: str | None = None,
        known_hashes: Iterable[str] = (),
    ) -> CreatedKey:
        """Create a key. The outcome of a lost answer is settled by listing, never guessed.

        ``known_hashes`` are keys the caller already owns (it must not delete them when it
        looks for the key a lost answer may have created). ``workspace_id``: create it there
        rather than in the default workspace.
        """
        body: dict[str, Any] = {"name": name, "include_byok_in_limit": include_byok_in_limit}
        if limit is not None:
            body["limit"] = limit
        if limit_reset is not None:
            body["limit_reset"] = limit_reset
        if expires_at is not None:
            # With seconds: OpenRouter refuses minute-precision timestamps.
            body["expires_at"] = expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if workspace_id is not None:
            body["workspace_id"] = workspace_id
        known = set(known_hashes)
        for settle in range(2):
            started = datetime.now(timezone.utc)
            try:
                created = self._create_once(body)
                return replace(created, uncertain=True) if settle else created
            except (OpenRouterTransportError, OpenRouterStatusError) as exc:
                unknown = isinstance(exc, OpenRouterTransportError) or (exc.status or 0) >= 500
                if not unknown:
                    raise
                log.warning("create answered %s; checking whether a key was made", exc.detail)
                self.delete_unclaimed(name, started - CREATE_SKEW, known)
                if settle:
                    raise CreateOutcomeUnknown(
                        "the create failed twice without a definite answer; any key it made "
                        "was deleted, run again later",
                        method="POST",
                        path="/keys",
                        status=exc.status,
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _create_once(self, body: dict[str, Any]) -> CreatedKey:
        attempt = 0
        while True:
            response = self._send("POST", "/keys", json=body)
            expiring = "expires_at" in body
            if response.status_code == 201:
                return _created(response)
            if response.status_code == 429:
                # Refused before it was processed: safe to try again once we were told when.
                delay = self._delay(attempt, response)
                if attempt >= self.retries or delay > self.retry.max_wait:
                    self._raise_for(response, "POST", "/keys", expiring=expiring)
                attempt += 1
                self._wait(delay)
                continue
            self._raise_for(response, "POST", "/keys", expiring=expiring)

    def delete_unclaimed(self, name: str, since: datetime, known: Iterable[str]) -> list[str]:
        """Delete keys named ``name``, made at or after ``since``, that nobody holds.

        Such a key came from a create whose answer was lost (or from a run killed before it
        wrote the hash down): its plaintext is gone, so it can never be in use anywhere.
        Every workspace is searched (a rotated key is made in its predecessor's workspace,
        and a listing shows one workspace). Returns the hashes deleted.
        """
        owned = set(known)
        deleted: list[str] = []
        for key in self.every_key(include_expired=True):
            if key.hash in owned or key.name != name:
                continue
            if key.created_at is not None and key.created_at < since:
                continue
            log.warning("deleting key %s: made by a create whose answer was lost", key.hash[:12])
            self.delete_key(key.hash)
            deleted.append(key.hash)
        return deleted
