"""Usage of the active key against its limit, and the signed alert sent when it runs high."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from .alerts import UsageAlert, build_alert_headers
from .openrouter import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsageReport:
    limit: float | None
    limit_remaining: float | None
    percent_used: float | None

    @classmethod
    def of(cls, usage: Usage) -> UsageReport:
        return cls(usage.limit, usage.limit_remaining, usage.percent_used)

    def over(self, threshold: float) -> bool:
        return self.percent_used is not None and self.percent_used >= threshold

    def to_json(self) -> dict[str, float | None]:
        return {
            "limit": self.limit,
            "limit_remaining": self.limit_remaining,
            "percent_used": self.percent_used,
        }


def alert_body(
    rotation: str, key_hash: str, report: UsageReport, threshold: float, at: datetime
) -> bytes:
    """The signed usage alert's body (SPEC §6; the schema is :class:`UsageAlert`)."""
    if report.percent_used is None:
        raise ValueError("a usage alert needs the percent used")
    return UsageAlert(
        rotation=rotation,
        key_hash=key_hash,
        limit=report.limit,
        limit_remaining=report.limit_remaining,
        percent_used=report.percent_used,
        threshold=threshold,
        at=at,
    ).to_body()


def alert_rotation(url: str, secret_name: str) -> str:
    """The webhook rotation an alert is for: ``?rotation=NAME`` on the URL, else the secret name.

    The engine does not know what the webhook's configuration calls this rotation; the URL is
    the one place the user already points at it.
    """
    names = parse_qs(urlsplit(url).query).get("rotation")
    return names[0] if names and names[0] else secret_name


def send_alert(
    url: str,
    secret: str,
    body: bytes,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """POST a signed alert; returns the HTTP status. Raises httpx errors on transport failure."""
    with httpx.Client(timeout=timeout, transport=transport) as client:
        response = client.post(url, content=body, headers=build_alert_headers(secret, body))
    log.info("usage alert sent to the webhook: HTTP %s", response.status_code)
    return response.status_code
