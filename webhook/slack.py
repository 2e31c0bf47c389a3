"""``POST /slack/commands``: the ``/rotate-openrouter <rotation> [reason]`` slash command.

Slack gives a command 3 seconds. The answer is Slack's ephemeral JSON right away, once the
request is stored, and the outcome of the dispatch is posted to the request's ``response_url``
afterwards. Refusals keep SPEC §6's status codes; since Slack shows its own generic error for a
non-200 answer, the same explanation is also posted to ``response_url`` so the person sees why.

A request is known by its signed content: the body (whose ``trigger_id`` is unique per
invocation) and the timestamp as a number, so ``X-Slack-Request-Timestamp: 0<ts>`` is the same
request as ``<ts>``. Slack's ``ssl_check=1`` probe is answered 200 before anything else.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, request

from .common import answer, parse_command, raw_body, rotations
from .replies import ephemeral, post_json
from .rotations import REPLAY_TTL, Verdict, clean_text
from .signatures import verify_slack

__all__ = ["bp"]

bp = Blueprint("slack", __name__)
DOOR = "slack"


def _tell(response_url: str | None, text: str) -> None:
    if response_url:
        post_json(response_url, ephemeral(text))


@bp.post("/slack/commands")
def command() -> tuple[Response, int]:
    state = rotations()
    body = raw_body()
    if parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]:
        # Slack's certificate probe: unsigned, and it wants a 200 and nothing else.
        return answer(DOOR, Verdict(200, "ignored", "ssl_check", "ok"))
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

    # The signed content identifies the request, not the header's spelling of the timestamp.
    timestamp = int(request.headers.get("X-Slack-Request-Timestamp", "").strip())
    ident = hashlib.sha256(f"{timestamp}:".encode() + body).hexdigest()
    replay_key = f"replay:{DOOR}:{ident}"
    replay_token = state.claim(replay_key, REPLAY_TTL[DOOR])
    if replay_token is None:
        verdict = Verdict(200, "duplicate", "replay", "This request was already received.")
        return answer(DOOR, verdict, ephemeral(verdict.message), **fields)

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

    verdict = state.request(
        rotation,
        full_reason,
        reply={"to": "slack", "url": response_url},
        claims=((replay_key, replay_token),),
        fields=fields,
    )
    if verdict.status != 202:
        if verdict.status == 503:
            # Not kept: the same request, sent again, must be able to act.
            state.release(replay_key, replay_token)
        return _refuse(verdict, response_url, fields)
    # Slack wants 200 with its JSON; 202 would be shown as an error.
    accepted = Verdict(200, verdict.decision, verdict.reason, verdict.message)
    return answer(
        DOOR,
        accepted,
        ephemeral(verdict.message + " I'll post the run link here."),
        request_id=verdict.request_id,
        **fields,
    )


def _refuse(
    verdict: Verdict, response_url: str | None, fields: dict[str, Any]
) -> tuple[Response, int]:
    if response_url:
        rotations().background.submit(lambda: _tell(response_url, verdict.message))
    return answer(DOOR, verdict, ephemeral(verdict.message), **fields)
