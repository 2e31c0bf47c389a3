"""``POST /alerts/usage``: a key reached its usage threshold (SPEC §6).

The body and its signature are defined once, in :mod:`openrouter_rotator.alerts` (the engine
sends what this receives). The scheduled workflow runs hourly and reports the
same key again on every run, so an alert acts once per key per usage window (OpenRouter's
windows reset at midnight UTC: the window is the UTC day of ``at``). ``on_usage_alert =
"notify"`` forwards it to Slack (``ROTATOR_SLACK_ALERT_WEBHOOK_URL``); ``"rotate"`` also
dispatches an emergency rotation, which revokes the previous key at once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from openrouter_rotator.alerts import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_alert,
)

from .common import answer, raw_body, rotations
from .rotations import Verdict, clean_text
from .signatures import verify_alert
from .store import Job

__all__ = ["bp"]

bp = Blueprint("alerts", __name__)
DOOR = "alerts"
# Long enough to cover the rest of the UTC day named in the key, whatever the clock skew.
WINDOW_TTL = 2 * 86400.0


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
    claims = ((window_key, window_token),)
    if rotation.on_usage_alert == "rotate":
        verdict = state.request(
            rotation,
            f"usage alert: {alert.sentence()} Emergency rotation.",
            emergency=True,
            reply={"to": "alerts", "prefix": f":rotating_light: {alert.sentence()}"},
            claims=claims,
            fields=fields,
        )
        if verdict.status != 202:
            # The cooldown refused it: this key's window is not spent, a later alert may act.
            state.release(window_key, window_token)
        return answer(DOOR, verdict, action="rotate", request_id=verdict.request_id, **fields)

    # Forwarding is queued like a dispatch: kept before the answer, done by any worker; if it
    # fails the window's claim is given back so that the next hourly alert tries again.
    job = Job(
        id=state.new_request_id(),
        rotation=rotation.name,
        reason=alert.sentence(),
        action="notify",
        reply={"to": "alerts", "prefix": ":warning:"},
        claims=claims,
        fields=fields,
        created=state.clock(),
    )
    refused = state.enqueue(job) if slack_url else None
    if refused is not None:
        state.release(window_key, window_token)
        return answer(DOOR, refused, action="notify", **fields)
    verdict = Verdict(
        202,
        "accepted",
        "notify" if slack_url else "logged",
        "Alert forwarded to Slack." if slack_url else "Alert logged (no Slack webhook set).",
    )
    return answer(DOOR, verdict, action="notify", **fields)
