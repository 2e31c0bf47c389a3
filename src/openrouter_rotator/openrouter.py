"""httpx client for OpenRouter's key-management API (``/key``, ``/keys``, ``/credits``).

Every call has an explicit timeout. Idempotent calls (GET, PATCH, DELETE) are retried on 429,
5xx and transport errors with exponential backoff and full jitter, honouring ``Retry-After``,
a bounded number of times. ``POST /keys`` is never retried blindly, because the API has no
idempotency key: a 429 is retried (the request was refused, nothing was made), but a 5xx or a
lost answer leaves the outcome unknown, and that is settled by listing the keys. A key that
the lost answer created is one whose plaintext nobody will ever see, so it is deleted before
the create is tried once more: the account never ends up with a duplicate.

Errors come from :mod:`openrouter_rotator.errors` and carry the method, path, status and
OpenRouter's own message, never a key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .config import DEFAULT_OPENROUTER_URL
from .errors import (
    CreateOutcomeUnknown,
    OpenRouterAuthError,
    OpenRouterError,
    OpenRouterStatusError,
    OpenRouterTransportError,
)

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


@dataclass(frozen=True)
class Usage:
    limit: float | None
    limit_remaining: float | None
    limit_reset: str | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float

    @property
    def window_usage(self) -> float:
        """Usage in the window the limit applies to (the whole life when it never resets)."""
        return {
            "daily": self.usage_daily,
            "weekly": self.usage_weekly,
            "monthly": self.usage_monthly,
        }.get(self.limit_reset or "", self.usage)

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


@dataclass(frozen=True)
class Credits:
    total_credits: float
    total_usage: float


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(
        limit=_number(data.get("limit")),
        limit_remaining=_number(data.get("limit_remaining")),
        limit_reset=data.get("limit_reset"),
        usage=float(data.get("usage") or 0),
        usage_daily=float(data.get("usage_daily") or 0),
        usage_weekly=float(data.get("usage_weekly") or 0),
        usage_monthly=float(data.get("usage_monthly") or 0),
    )


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


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "openrouter-rotator", "Accept": "application/json"},
        )
        self.requests_made = 0

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
        return random.uniform(0, self.backoff * (2**attempt))  # full jitter

    def _raise_for(self, response: httpx.Response, method: str, path: str) -> None:
        message = _error_message(response)
        status = response.status_code
        if status in (401, 403):
            raise OpenRouterAuthError(
                message, method=method, path=path, status=status, hint=AUTH_HINT
            )
        raise OpenRouterStatusError(message, method=method, path=path, status=status)

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
            if attempt >= self.retries or delay > MAX_RETRY_AFTER:
                raise failure
            attempt += 1
            log.info("retrying %s %s in %.1fs after: %s", method, path, delay, failure.detail)
            self._sleep(delay)

    # -- API ---------------------------------------------------------------------------------
    def current_key(self, api_key: str | None = None) -> CurrentKey:
        """``GET /key`` as ``api_key`` (default: this client's key). Verifies that a key works."""
        data = self._request("GET", "/key", api_key=api_key).json()["data"]
        return CurrentKey(
            label=str(data.get("label", "")),
            is_management_key=bool(
                data.get("is_management_key") or data.get("is_provisioning_key")
            ),
            is_free_tier=bool(data.get("is_free_tier", False)),
            expires_at=_parse_time(data.get("expires_at")),
            usage=_usage(data),
        )

    def list_keys(self, include_disabled: bool = False) -> list[ApiKey]:
        """Every key, newest first, following ``offset`` until a short page."""
        keys: list[ApiKey] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"offset": offset}
            if include_disabled:
                params["include_disabled"] = "true"
            page = self._request("GET", "/keys", params=params).json()["data"]
            keys.extend(_api_key(item) for item in page)
            if len(page) < PAGE_SIZE:
                return keys
            offset += len(page)

    def get_key(self, key_hash: str) -> ApiKey:
        return _api_key(self._request("GET", f"/keys/{key_hash}").json()["data"])

    def update_key(self, key_hash: str, **fields: Any) -> ApiKey:
        allowed = {"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        response = self._request("PATCH", f"/keys/{key_hash}", json=fields)
        return _api_key(response.json()["data"])

    def delete_key(self, key_hash: str) -> bool:
        """Delete a key. True if it was deleted now, False if it was already gone (404)."""
        response = self._request("DELETE", f"/keys/{key_hash}", ok=(200, 404))
        return response.status_code == 200

    def credits(self) -> Credits:
        data = self._request("GET", "/credits").json()["data"]
        return Credits(float(data["total_credits"]), float(data["total_usage"]))

    def create_key(
        self,
        name: str,
        *,
        limit: float | None = None,
        limit_reset: str | None = None,
        include_byok_in_limit: bool = False,
        expires_at: datetime | None = None,
        known_hashes: Iterable[str] = (),
    ) -> CreatedKey:
        """Create a key. The outcome of a lost answer is settled by listing, never guessed.

        ``known_hashes`` are keys the caller already owns (it must not delete them when it
        looks for the key a lost answer may have created).
        """
        body: dict[str, Any] = {"name": name, "include_byok_in_limit": include_byok_in_limit}
        if limit is not None:
            body["limit"] = limit
        if limit_reset is not None:
            body["limit_reset"] = limit_reset
        if expires_at is not None:
            body["expires_at"] = expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
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
            if response.status_code == 201:
                payload = response.json()
                return CreatedKey(key=str(payload["key"]), info=_api_key(payload["data"]))
            if response.status_code == 429:
                # Refused before it was processed: safe to try again once we were told when.
                delay = self._delay(attempt, response)
                if attempt >= self.retries or delay > MAX_RETRY_AFTER:
                    self._raise_for(response, "POST", "/keys")
                attempt += 1
                self._sleep(delay)
                continue
            self._raise_for(response, "POST", "/keys")

    def delete_unclaimed(self, name: str, since: datetime, known: Iterable[str]) -> list[str]:
        """Delete keys named ``name``, made at or after ``since``, that nobody holds.

        Such a key came from a create whose answer was lost (or from a run killed before it
        wrote the hash down): its plaintext is gone, so it can never be in use anywhere.
        Returns the hashes deleted.
        """
        owned = set(known)
        deleted: list[str] = []
        for key in self.list_keys(include_disabled=True):
            if key.hash in owned or key.name != name:
                continue
            if key.created_at is not None and key.created_at < since:
                continue
            log.warning("deleting key %s: made by a create whose answer was lost", key.hash[:12])
            self.delete_key(key.hash)
            deleted.append(key.hash)
        return deleted
