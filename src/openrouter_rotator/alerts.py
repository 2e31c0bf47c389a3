"""The usage-alert signature, shared by the sender (the engine) and the receiver (the webhook).

An alert is a JSON body POSTed with two headers::

    X-Rotator-Timestamp: <unix seconds>
    X-Rotator-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{body}">

keyed with ``ROTATOR_ALERT_WEBHOOK_SECRET``. The timestamp is inside the signed text so a
captured request cannot be replayed after the receiver's window; the body is signed as raw bytes
so the receiver verifies before it parses anything. Both sides import :func:`sign_alert` from
here, so there is exactly one definition of the scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "build_alert_headers",
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
