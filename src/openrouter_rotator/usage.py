"""Usage of the active key against the budget that blocks it first, and the signed alert sent
when it runs high.

OpenRouter checks several budgets for a key (guardrail budgets, its workspace's, its own limit)
and names the one that blocks first ``effective_budget``; a guardrail's $5 a day can stop a key
long before its own $100 a month. The report is about that budget, and an alert belongs to that
budget's window (until its ``resets_at``): it is sent once per window, not once per run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from .alerts import UsageAlert, build_alert_headers
from .openrouter import Budget, Usage
from .schedule import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsageReport:
    limit: float | None
    limit_remaining: float | None
    percent_used: float | None
    # Which budget this is ("key_limit": the key's own; "api_key": a guardrail on the key ...),
    # and when its window rolls over (None: a lifetime budget, or the key's own usage only).
    budget: str | None = None
    resets_at: datetime | None = None
    guardrail_id: str | None = None

    @classmethod
    def of(cls, usage: Usage) -> UsageReport:
        return cls(usage.limit, usage.limit_remaining, usage.percent_used)

    @classmethod
    def of_budget(cls, budget: Budget) -> UsageReport:
        return cls(
            budget.limit_usd,
            max(budget.remaining_usd, 0.0),
            budget.percent_used,
            budget.scope,
            budget.resets_at,
            budget.guardrail_id,
        )

    @classmethod
    def blocking(cls, usage: Usage, effective: Budget | None) -> UsageReport:
        """The budget that blocks first, or the key's own usage when nothing is budgeted."""
        return cls.of(usage) if effective is None else cls.of_budget(effective)

    def window(self, key_hash: str) -> str:
        """Names one window of one budget of one key: an alert is sent once per window."""
        ends = iso(self.resets_at) or "lifetime"
        return f"{key_hash[:16]}/{self.budget or 'usage'}/{self.guardrail_id or '-'}/{ends}"

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
