"""Request authentication for every webhook door, over the raw body bytes.

Each ``verify_*`` function is pure: it takes the secret, the raw header values (``None`` when the
header is absent), the raw body and the current time, and returns ``None`` when the request is
authentic or a short machine-readable reason (``"missing_signature"``, ``"stale_timestamp"``,
``"bad_signature"`` ...) when it is not. Nothing here parses a body, so an unauthenticated
request never reaches a parser. Digests are compared with :func:`hmac.compare_digest` so the
time taken does not reveal how much of a forged signature was right.

The ``sign_*`` functions produce what Slack, GitHub and the engine send; the webhook itself
never signs anything, tests and senders do.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from openrouter_rotator.alerts import sign_alert

__all__ = [
    "TIMESTAMP_WINDOW",
    "sign_alert",
    "sign_github",
    "sign_slack",
    "verify_alert",
    "verify_bearer",
    "verify_github",
    "verify_slack",
]

# Slack's documented replay window, and the one SPEC §6 sets for alerts.
TIMESTAMP_WINDOW = 5 * 60

# A unix timestamp has 10 digits until the year 2286; anything longer is not a timestamp and
# must not reach int() (Python refuses very long digit strings with a ValueError anyway).
_MAX_TIMESTAMP_DIGITS = 12


def _to_bytes(value: str) -> bytes:
    # Header values arrive as str decoded by the server (latin-1 for WSGI); encoding them with
    # "replace" keeps any garbage comparable instead of raising.
    return value.encode("utf-8", "replace")


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(_to_bytes(expected), _to_bytes(given))


def _parse_timestamp(value: str) -> int | None:
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_TIMESTAMP_DIGITS:
        return None
    return int(value)


def _check_timestamp(value: str | None, now: float) -> tuple[int, str | None]:
    """Return ``(timestamp, None)`` inside the window, else ``(0, reason)``."""
    if value is None or value == "":
        return 0, "missing_timestamp"
    timestamp = _parse_timestamp(value)
    if timestamp is None:
        return 0, "bad_timestamp"
    # Both directions: a timestamp from the future is as suspicious as a stale one.
    if abs(now - timestamp) > TIMESTAMP_WINDOW:
        return 0, "stale_timestamp"
    return timestamp, None


def sign_slack(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's signing v0: ``v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">``."""
    message = f"v0:{int(timestamp)}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _verify_timestamped(
    sign: Callable[[str, int, bytes], str],
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
) -> str | None:
    """A signature over ``timestamp`` and ``body``, the timestamp inside the window."""
    if not signature:
        return "missing_signature"
    when, problem = _check_timestamp(timestamp, now)
    if problem:
        return problem
    return None if _equal(sign(secret, when, body), signature.strip()) else "bad_signature"


def verify_slack(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """Check ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``."""
    return _verify_timestamped(sign_slack, secret, timestamp, signature, body, now)


def sign_github(secret: str, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256``: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github(secret: str, signature: str | None, body: bytes) -> str | None:
    """Check ``X-Hub-Signature-256``. GitHub signs no timestamp; deliveries are deduplicated."""
    if not signature:
        return "missing_signature"
    return None if _equal(sign_github(secret, body), signature.strip()) else "bad_signature"


def verify_alert(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """Check ``X-Rotator-Timestamp`` and ``X-Rotator-Signature`` (SPEC §6)."""
    return _verify_timestamped(sign_alert, secret, timestamp, signature, body, now)


def verify_bearer(token: str, authorization: str | None) -> str | None:
    """Check ``Authorization: Bearer <token>``."""
    if not authorization:
        return "missing_token"
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "missing_token"
    return None if _equal(token, given.strip()) else "bad_token"
