"""``POST /github/events``: ``/rotate-openrouter [rotation] [reason]`` in an issue or PR comment.

Only a *created* comment from a person, on a repository some rotation lives in, whose first line
is the command, is acted on; every other delivery is acknowledged and ignored (a webhook on an
organization sees every comment). The commenter's permission comes from GitHub's collaborator
permission endpoint, which counts team and organization grants, and must reach the rotation's
``min_permission``.

Every authentic delivery is answered 2xx with the decision and its reason in the body, refusals
included: GitHub counts any other status as a failed delivery. Deliveries are deduplicated on
what GitHub signs, the comment id and the action, not on the unsigned ``X-GitHub-Delivery``
(a copy of a delivery under a new id is the same comment); the claim outlives GitHub Enterprise
Server's 7 days of redelivery.

The permission check is a GitHub call, and GitHub may be slow: the request waits for it at most
:data:`VERDICT_WAIT` seconds. If GitHub is slower, the request is queued with the check still
to do (the worker does it before dispatching) and answered 202; the verdict then reaches the
comment as a reaction and a reply.
"""

from __future__ import annotations

import json
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, request

from .common import answer, parse_command, raw_body, rotations
from .rotations import REPLAY_TTL, Rotations, Verdict, clean_text
from .signatures import verify_github

__all__ = ["COMMAND", "bp", "parse_comment_command"]

bp = Blueprint("github_events", __name__)
DOOR = "github"
COMMAND = "/rotate-openrouter"
VERDICT_WAIT = 2.0


def parse_comment_command(body: str) -> str | None:
    """The text after the command on the comment's first line, or None if it is no command."""
    first = body.lstrip().split("\n", 1)[0].strip()
    if first == COMMAND:
        return ""
    if first.startswith(COMMAND) and first[len(COMMAND)].isspace():
        return first[len(COMMAND) :].strip()
    return None


def _field(data: Any, *path: str, kind: type | tuple[type, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            raise ValueError("/".join(path))
        data = data[key]
    if isinstance(data, bool) or not isinstance(data, kind):
        raise ValueError("/".join(path))
    return data


def _ignored(reason: str, **fields: Any) -> tuple[Response, int]:
    return answer(DOOR, Verdict(200, "ignored", reason, "Nothing to do."), **fields)


@bp.post("/github/events")
def events() -> tuple[Response, int]:
    state = rotations()
    body = raw_body()
    problem = verify_github(
        state.settings.github_webhook_secret or "",
        request.headers.get("X-Hub-Signature-256"),
        body,
    )
    if problem:
        return answer(DOOR, Verdict(401, "rejected", problem, "Request signature rejected."))

    delivery = request.headers.get("X-GitHub-Delivery", "").strip()[:100] or None
    event = request.headers.get("X-GitHub-Event", "").strip()
    if event == "ping":
        return answer(DOOR, Verdict(200, "ignored", "ping", "pong"), delivery=delivery)
    if event != "issue_comment":
        return _ignored("other_event", delivery=delivery, github_event=clean_text(event, 40))

    try:
        payload = json.loads(body)
        action = _field(payload, "action", kind=str)
        if action != "created":
            # Editing a comment into a command, or deleting one, must not rotate anything.
            return _ignored("comment_" + clean_text(action, 20), delivery=delivery)
        repo = _field(payload, "repository", "full_name", kind=str)
        number = _field(payload, "issue", "number", kind=int)
        comment_id = _field(payload, "comment", "id", kind=int)
        text = _field(payload, "comment", "body", kind=str)
        login = _field(payload, "comment", "user", "login", kind=str)
        sender = payload.get("sender")
        is_bot = login.endswith("[bot]") or "Bot" in (
            sender.get("type") if isinstance(sender, dict) else None,
            payload["comment"]["user"].get("type"),
        )
    except (ValueError, AttributeError, RecursionError):
        return _refused("malformed", "Not an issue_comment payload.", delivery=delivery)

    fields: dict[str, Any] = {
        "delivery": delivery,
        "actor": clean_text(login, 60),
        "repository": clean_text(repo, 140),
        "issue": number,
        "comment": comment_id,
    }
    if is_bot:
        # Bots include this webhook's own replies; answering them could loop.
        return _ignored("bot_sender", **fields)
    command = parse_comment_command(text)
    if command is None:
        return _ignored("no_command", **fields)
    candidates = state.settings.rotations_for(repo)
    if not candidates:
        # Not a repository of ours: stay silent there, but say so in the log.
        return _refused("unknown_repository", "No rotation lives here.", **fields)
    replay_key = f"replay:{DOOR}:{comment_id}:{action}"
    replay_token = state.claim(replay_key, REPLAY_TTL[DOOR])
    if replay_token is None:
        verdict = Verdict(200, "duplicate", "replay", "This comment was already received.")
        return answer(DOOR, verdict, **fields)
    claims = ((replay_key, replay_token),)

    name, reason = parse_command(command, (r.name for r in candidates))
    rotation = next((r for r in candidates if r.name == name), None)
    comment = _Comment(state, repo, number, comment_id, login)
    if rotation is None:
        known = ", ".join(f"`{n}`" for n in sorted(r.name for r in candidates))
        message = (
            f"@{login} unknown rotation `{clean_text(name or '', 64)}`; "
            f"rotations in this repository: {known}. Nothing was dispatched."
        )
        state.background.submit(lambda: comment.reply("-1", message))
        return _refused("unknown_rotation", message, **fields)
    fields["rotation"] = rotation.name
    full_reason = f"GitHub: @{login} on {repo}#{number}: {clean_text(reason) or 'no reason given'}"
    reply = {
        "to": "github",
        "repo": repo,
        "number": number,
        "comment_id": comment_id,
        "login": login,
    }

    check = state.background.submit(
        lambda: state.github(rotation.repository).collaborator_permission(
            rotation.repository, login
        ),
        urgent=True,
    )
    try:
        permission = str(check.result(timeout=VERDICT_WAIT))
    except FutureTimeout:
        # GitHub is slow: keep the request with the check still to do, and answer now.
        verdict = state.request(
            rotation, full_reason, reply=reply, claims=claims, fields=fields, check_login=login
        )
        if verdict.status == 202:
            verdict = Verdict(
                202,
                "accepted",
                "checking",
                "Checking the commenter's permission; the outcome will be replied.",
                request_id=verdict.request_id,
            )
        return _decided(state, verdict, comment, claims, fields)
    except Exception:  # noqa: BLE001 - any failure to check means "not allowed", reported
        message = (
            f"@{login} could not check your permission on {rotation.repository}; nothing was "
            "dispatched. Try again later."
        )
        state.background.submit(lambda: comment.reply("confused", message))
        state.release(replay_key, replay_token)  # a redelivery may succeed
        return _refused("permission_check_failed", message, **fields)
    fields["permission"] = clean_text(permission, 20)
    if not rotation.permits(permission):
        message = (
            f"@{login} rotating `{rotation.name}` needs `{rotation.min_permission}` permission "
            f"on {rotation.repository} (you have `{clean_text(permission, 20)}`). "
            "Nothing was dispatched."
        )
        state.background.submit(lambda: comment.reply("-1", message))
        return _refused("not_allowed", message, **fields)
    verdict = state.request(rotation, full_reason, reply=reply, claims=claims, fields=fields)
    return _decided(state, verdict, comment, claims, fields)


def _refused(reason: str, message: str, **fields: Any) -> tuple[Response, int]:
    # Authentic but refused: still a 2xx, or GitHub marks the delivery failed.
    return answer(DOOR, Verdict(200, "rejected", reason, message), **fields)


def _decided(
    state: Rotations,
    verdict: Verdict,
    comment: _Comment,
    claims: tuple[tuple[str, str], ...],
    fields: dict[str, Any],
) -> tuple[Response, int]:
    if verdict.status == 202:
        return answer(DOOR, verdict, verdict.body(request_id=verdict.request_id), **fields)
    for key, token in claims:
        # Refused before it was kept (cooldown, no store): a redelivery may act later.
        state.release(key, token)
    if verdict.status == 503:
        return answer(DOOR, verdict, **fields)  # not kept: GitHub should count it failed
    message = f"@{comment.login} {verdict.message}"
    state.background.submit(lambda: comment.reply("-1", message))
    return _refused(verdict.reason, message, **fields)


class _Comment:
    """Reactions and replies on the comment that carried the command (refusals made at once)."""

    def __init__(self, state: Rotations, repo: str, number: int, comment_id: int, login: str):
        self.state, self.repo, self.number, self.comment_id = state, repo, number, comment_id
        self.login = login

    def reply(self, reaction: str, text: str) -> None:
        client = self.state.github(self.repo)
        # The reaction first: it is the cheap signal people notice, even if the reply fails.
        client.add_reaction(self.repo, self.comment_id, reaction)
        client.create_issue_comment(self.repo, self.number, text)
