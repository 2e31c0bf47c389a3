"""``POST /alerts/usage``: a key reached its usage threshold (SPEC §6).

Body::

    {"rotation": str, "key_hash": str, "limit": num|null, "limit_remaining": num|null,
     "percent_used": num, "threshold": num, "at": iso8601}

signed per :mod:`openrouter_rotator.alerts`. The scheduled workflow runs hourly and reports the
same key again on every run, so an alert acts once per key per usage window (OpenRouter's
windows reset at midnight UTC: the window is the UTC day of ``at``). ``on_usage_alert =
"notify"`` forwards it to Slack (``ROTATOR_SLACK_ALERT_WEBHOOK_URL``); ``"rotate"`` also
dispatches an emergency rotation, which revokes the previous key at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, request

from openrouter_rotator.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER

from .common import answer, post_json, raw_body, rotations
from .rotations import DispatchOutcome, Verdict, clean_text
from .signatures import verify_alert

__all__ = ["UsageAlert", "bp", "parse_alert"]

bp = Blueprint("alerts", __name__)
DOOR = "alerts"
# Long enough to cover the rest of the UTC day named in the key, whatever the clock skew.
WINDOW_TTL = 2 * 86400.0


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
    at_text = _text(data, "at", 64)
    try:
        # Python 3.10's fromisoformat does not know the "Z" suffix everyone sends.
        at = datetime.fromisoformat(at_text[:-1] + "+00:00" if at_text.endswith("Z") else at_text)
    except ValueError:
        raise ValueError("at") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return UsageAlert(
        rotation=_text(data, "rotation", 64),
        key_hash=_text(data, "key_hash", 128),
        limit=_number_or_null(data, "limit"),
        limit_remaining=_number_or_null(data, "limit_remaining"),
        percent_used=_number(data, "percent_used"),
        threshold=_number(data, "threshold"),
        at=at,
    )


@bp.post("/alerts/usage")
def usage() -> tuple[Response, int]:
    state = rotations()
    body = raw_body()
    signature = request.headers.get(SIGNATURE_HEADER)
    problem = verify_alert(
        state.settings.alert_secret or "",
        request.headers.get(TIMESTAMP_HEADER),
        signature,
        body,
        state.clock(),
    )
    if problem:
        return answer(DOOR, Verdict(401, "rejected", problem, "Request signature rejected."))
    try:
        alert = parse_alert(body)
    except ValueError as exc:
        field = clean_text(str(exc), 40)
        return answer(DOOR, Verdict(400, "rejected", "malformed", f"Invalid alert field: {field}."))

    fields: dict[str, Any] = {
        "rotation": clean_text(alert.rotation, 64),
        "key_hash": clean_text(alert.key_hash, 128),
        "percent_used": alert.percent_used,
        "window": alert.window,
    }
    # The signature covers timestamp and body: the same signature is the same request.
    if not state.first_time(DOOR, (signature or "").strip()[:100]):
        return answer(
            DOOR, Verdict(200, "duplicate", "replay", "This alert was already received."), **fields
        )
    rotation = state.lookup(alert.rotation)
    if rotation is None:
        return answer(
            DOOR, Verdict(404, "rejected", "unknown_rotation", "Unknown rotation."), **fields
        )

    window_key = f"alert:{rotation.name}:{clean_text(alert.key_hash, 128)}:{alert.window}"
    window_token = state.claim(window_key, WINDOW_TTL)
    if window_token is None:
        verdict = Verdict(
            200,
            "duplicate",
            "already_handled",
            "This key's alert was already handled in this usage window.",
        )
        return answer(DOOR, verdict, action=rotation.on_usage_alert, **fields)

    slack_url = state.settings.slack_alert_webhook_url

    def tell_slack(text: str) -> None:
        if slack_url:
            post_json(slack_url, {"text": text})

    if rotation.on_usage_alert == "rotate":
        reason = f"usage alert: {alert.sentence()} Emergency rotation."

        def report(outcome: DispatchOutcome) -> None:
            tell_slack(f":rotating_light: {alert.sentence()} {outcome.sentence()}")

        verdict = state.request(
            rotation,
            reason,
            emergency=True,
            report=report,
            release_on_failure=((window_key, window_token),),
            fields=fields,
        )
        if verdict.status != 202:
            # The cooldown refused it: this key's window is not spent, a later alert may act.
            state.release(window_key, window_token)
        return answer(DOOR, verdict, action="rotate", **fields)

    def forward() -> None:
        try:
            tell_slack(f":warning: {alert.sentence()}")
        except Exception:
            # Not delivered: let the next alert for this key (the next hourly run) try again.
            state.release(window_key, window_token)
            raise

    state.background.submit(forward)
    verdict = Verdict(
        202,
        "accepted",
        "notify" if slack_url else "logged",
        "Alert forwarded to Slack." if slack_url else "Alert logged (no Slack webhook set).",
    )
    return answer(DOOR, verdict, action="notify", **fields)
