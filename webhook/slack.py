"""``POST /slack/commands``: the ``/rotate-openrouter <rotation> [reason]`` slash command.

Slack gives a command 3 seconds. The answer is Slack's ephemeral JSON right away, and the
outcome of the dispatch is posted to the request's ``response_url`` afterwards. Refusals keep
SPEC §6's status codes; since Slack shows its own generic error for a non-200 answer, the same
explanation is also posted to ``response_url`` so the person sees why.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, request

from .common import answer, parse_command, post_json, raw_body, rotations
from .rotations import DispatchOutcome, Verdict, clean_text
from .signatures import verify_slack

__all__ = ["bp"]

bp = Blueprint("slack", __name__)
DOOR = "slack"


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _tell(response_url: str | None, text: str) -> None:
    if response_url:
        post_json(response_url, _ephemeral(text))


@bp.post("/slack/commands")
def command() -> tuple[Response, int]:
    state = rotations()
    body = raw_body()
    secret = state.settings.slack_signing_secret or ""
    problem = verify_slack(
        secret,
        request.headers.get("X-Slack-Request-Timestamp"),
        request.headers.get("X-Slack-Signature"),
        body,
        state.clock(),
    )
    if problem:
        return answer(DOOR, Verdict(401, "rejected", problem, "Request signature rejected."))

    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        form = {}
    user_id = (form.get("user_id") or [""])[0].strip()
    if not user_id:
        return answer(DOOR, Verdict(400, "rejected", "malformed", "Not a slash command payload."))
    text = (form.get("text") or [""])[0]
    user_name = clean_text((form.get("user_name") or [""])[0], 80)
    channel = clean_text((form.get("channel_name") or form.get("channel_id") or [""])[0], 80)
    response_url = (form.get("response_url") or [""])[0].strip() or None
    fields: dict[str, Any] = {"actor": user_id, "channel": channel or None}

    # The signature covers the timestamp, so signature + timestamp identify this exact request.
    signature = request.headers.get("X-Slack-Signature", "")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    ident = hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
    if not state.first_time(DOOR, ident):
        verdict = Verdict(200, "duplicate", "replay", "This request was already received.")
        return answer(DOOR, verdict, _ephemeral(verdict.message), **fields)

    name, reason = parse_command(text, state.settings.rotations)
    rotation = state.lookup(name) if name else None
    if rotation is None:
        known = ", ".join(f"`{n}`" for n in sorted(state.settings.rotations))
        verdict = Verdict(
            404,
            "rejected",
            "unknown_rotation",
            f"Unknown rotation `{clean_text(name or '', 64)}`. "
            f"Usage: /rotate-openrouter <rotation> [reason]; rotations: {known}.",
        )
        return _refuse(
            verdict, response_url, fields | {"rotation_requested": clean_text(name or "", 64)}
        )
    fields["rotation"] = rotation.name
    if user_id not in rotation.slack_users:
        verdict = Verdict(
            403,
            "rejected",
            "not_allowed",
            f"You are not allowed to rotate `{rotation.name}` from Slack; ask an admin to add "
            "your user id to its slack_users.",
        )
        return _refuse(verdict, response_url, fields)

    who = f"{user_name} ({user_id})" if user_name else user_id
    where = f" in #{channel}" if channel else ""
    full_reason = f"Slack: {who}{where}: {clean_text(reason) or 'no reason given'}"

    def report(outcome: DispatchOutcome) -> None:
        _tell(response_url, outcome.sentence())

    verdict = state.request(rotation, full_reason, report=report, fields=fields)
    if verdict.status != 202:
        return _refuse(verdict, response_url, fields)
    # Slack wants 200 with its JSON; 202 would be shown as an error.
    accepted = Verdict(200, verdict.decision, verdict.reason, verdict.message)
    return answer(
        DOOR, accepted, _ephemeral(verdict.message + " I'll post the run link here."), **fields
    )


def _refuse(
    verdict: Verdict, response_url: str | None, fields: dict[str, Any]
) -> tuple[Response, int]:
    if response_url:
        rotations().background.submit(lambda: _tell(response_url, verdict.message))
    return answer(DOOR, verdict, _ephemeral(verdict.message), **fields)
