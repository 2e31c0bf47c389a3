"""The usage alert, shared by the sender (the engine) and the receiver (the webhook).

An alert is a JSON body (:class:`UsageAlert`: :meth:`~UsageAlert.to_body` writes it,
:func:`parse_alert` reads and validates it)::

    {"rotation": str, "key_hash": str, "limit": num|null, "limit_remaining": num|null,
     "percent_used": num, "threshold": num, "at": iso8601}

POSTed with two headers::

    X-Rotator-Timestamp: <unix seconds>
    X-Rotator-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{body}">

keyed with ``ROTATOR_ALERT_WEBHOOK_SECRET``. The timestamp is inside the signed text so a
captured request cannot be replayed after the receiver's window; the body is signed as raw bytes
so the receiver verifies before it parses anything. Both sides import the body and
:func:`sign_alert` from here, so there is exactly one definition of each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .schedule import iso, parse_timestamp

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "UsageAlert",
    "build_alert_headers",
    "parse_alert",
    "sign_alert",
]

SIGNATURE_VERSION = "v1"
SIGNATURE_HEADER = "X-Rotator-Signature"
TIMESTAMP_HEADER = "X-Rotator-Timestamp"


def sign_alert(secret: str, timestamp: int, body: bytes) -> str:
    """Return ``"v1=<hex>"`` for ``body`` sent at ``timestamp`` (unix seconds)."""
    message = f"{SIGNATURE_VERSION}:{int(timestamp)}:".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def build_alert_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers for POSTing ``body`` as a signed usage alert (``now`` defaults to the clock)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_alert(secret, timestamp, body),
    }


@dataclass(frozen=True)
class UsageAlert:
    rotation: str
    key_hash: str
    limit: float | None
    limit_remaining: float | None
    percent_used: float
    threshold: float
    at: datetime

    @property
    def window(self) -> str:
        return self.at.astimezone(timezone.utc).date().isoformat()

    def to_body(self) -> bytes:
        """The JSON body the sender signs and POSTs."""
        return json.dumps(
            {
                "rotation": self.rotation,
                "key_hash": self.key_hash,
                "limit": self.limit,
                "limit_remaining": self.limit_remaining,
                "percent_used": self.percent_used,
                "threshold": self.threshold,
                "at": iso(self.at),
            }
        ).encode()

    def sentence(self) -> str:
        limit = f" of its ${self.limit:g} limit" if self.limit is not None else ""
        left = f", ${self.limit_remaining:g} left" if self.limit_remaining is not None else ""
        return (
            f"OpenRouter key `{self.key_hash[:12]}` of rotation `{self.rotation}` is at "
            f"{self.percent_used:g}%{limit}{left} (threshold {self.threshold:g}%)."
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(name)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(name)
    return number


def _number_or_null(data: dict[str, Any], name: str) -> float | None:
    # Present and null means "unlimited"; absent is a malformed alert.
    if name in data and data[name] is None:
        return None
    return _number(data, name)


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(name)
    return value.strip()


def parse_alert(body: bytes) -> UsageAlert:
    """Validate an alert body; ``ValueError`` names the first bad field."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("body") from None
    if not isinstance(data, dict):
        raise ValueError("body")
    try:
        at = parse_timestamp(_text(data, "at", 64))
    except ValueError:
        raise ValueError("at") from None
    return UsageAlert(
        rotation=_text(data, "rotation", 64),
        key_hash=_text(data, "key_hash", 128),
        limit=_number_or_null(data, "limit"),
        limit_remaining=_number_or_null(data, "limit_remaining"),
        percent_used=_number(data, "percent_used"),
        threshold=_number(data, "threshold"),
        at=at,
    )
