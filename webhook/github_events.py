"""``POST /github/events``: ``/rotate-openrouter [rotation] [reason]`` in an issue or PR comment.

Only a *created* comment from a person, on a repository some rotation lives in, whose first line
is the command, is acted on; every other delivery is acknowledged and ignored (a webhook on an
organization sees every comment). The commenter's permission comes from GitHub's collaborator
permission endpoint, which counts team and organization grants, and must reach the rotation's
``min_permission``.

The permission check is a GitHub call, and GitHub may be slow: it runs in the background and
the request waits for its verdict at most :data:`VERDICT_WAIT` seconds. Usually the answer then
carries the real status (202, 403, 409); if GitHub is slow the answer is 202 and the verdict is
still delivered where people read it: a reaction on the comment and a reply.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, request

from .common import answer, parse_command, raw_body, rotations
from .config import RotationConfig
from .logs import log_event
from .rotations import DispatchOutcome, Rotations, Verdict, clean_text
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
        return answer(
            DOOR,
            Verdict(400, "rejected", "malformed", "Not an issue_comment payload."),
            delivery=delivery,
        )

    fields: dict[str, Any] = {
        "delivery": delivery,
        "actor": clean_text(login, 60),
        "repository": clean_text(repo, 140),
        "issue": number,
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
        verdict = Verdict(404, "rejected", "unknown_repository", "No rotation lives here.")
        return answer(DOOR, verdict, **fields)
    if delivery is None:
        return answer(
            DOOR,
            Verdict(400, "rejected", "missing_delivery", "X-GitHub-Delivery is missing."),
            **fields,
        )
    if not state.first_time(DOOR, delivery):
        return answer(
            DOOR,
            Verdict(200, "duplicate", "replay", "This delivery was already received."),
            **fields,
        )

    name, reason = parse_command(command, (r.name for r in candidates))
    rotation = next((r for r in candidates if r.name == name), None)
    comment = _Comment(state, repo, number, comment_id, login)
    if rotation is None:
        known = ", ".join(f"`{n}`" for n in sorted(r.name for r in candidates))
        verdict = Verdict(
            404,
            "rejected",
            "unknown_rotation",
            f"@{login} unknown rotation `{clean_text(name or '', 64)}`; "
            f"rotations in this repository: {known}. Nothing was dispatched.",
        )
        state.background.submit(lambda: comment.refuse(verdict))
        return answer(DOOR, verdict, **fields)
    fields["rotation"] = rotation.name

    verdict_future: Future[Verdict] = Future()
    full_reason = f"GitHub: @{login} on {repo}#{number}: {clean_text(reason) or 'no reason given'}"

    def job() -> None:
        try:
            _decide(state, rotation, comment, full_reason, verdict_future, fields)
        except BaseException as exc:
            if not verdict_future.done():
                verdict_future.set_exception(exc)
            raise

    state.background.submit(job, urgent=True)
    try:
        verdict = verdict_future.result(timeout=VERDICT_WAIT)
    except FutureTimeout:
        verdict = Verdict(
            202,
            "accepted",
            "checking",
            "Checking the commenter's permission; the outcome will be replied.",
        )
    except Exception:  # noqa: BLE001 - the job logged it; the sender may redeliver
        verdict = Verdict(503, "rejected", "internal_error", "Try again later.")
    return answer(DOOR, verdict, **fields)


class _Comment:
    """Reactions and replies on the comment that carried the command."""

    def __init__(self, state: Rotations, repo: str, number: int, comment_id: int, login: str):
        self.state, self.repo, self.number, self.comment_id = state, repo, number, comment_id
        self.login = login

    def reply(self, reaction: str, text: str) -> None:
        client = self.state.github(self.repo)
        # The reaction first: it is the cheap signal people notice, even if the reply fails.
        client.add_reaction(self.repo, self.comment_id, reaction)
        client.create_issue_comment(self.repo, self.number, text)

    def refuse(self, verdict: Verdict) -> None:
        self.reply("-1", verdict.message)

    def report(self, outcome: DispatchOutcome) -> None:
        self.reply("rocket" if outcome.ok else "confused", f"@{self.login} {outcome.sentence()}")


def _decide(
    state: Rotations,
    rotation: RotationConfig,
    comment: _Comment,
    reason: str,
    verdict_future: Future[Verdict],
    fields: dict[str, Any],
) -> None:
    def decided(verdict: Verdict, **extra: Any) -> None:
        # The request may have been answered "checking" already: this line is the decision.
        log_event(
            "webhook.comment",
            door=DOOR,
            status=verdict.status,
            decision=verdict.decision,
            reason=verdict.reason,
            **extra,
            **fields,
        )
        verdict_future.set_result(verdict)

    try:
        permission = state.github(rotation.repository).collaborator_permission(
            rotation.repository, comment.login
        )
    except Exception:  # noqa: BLE001 - any failure to check means "not allowed", reported
        verdict = Verdict(
            502,
            "rejected",
            "permission_check_failed",
            f"@{comment.login} could not check your permission on "
            f"{rotation.repository}; nothing was dispatched. Try again later.",
        )
        decided(verdict)
        state.background.submit(lambda: comment.reply("confused", verdict.message))
        return
    if not rotation.permits(permission):
        verdict = Verdict(
            403,
            "rejected",
            "not_allowed",
            f"@{comment.login} rotating `{rotation.name}` needs "
            f"`{rotation.min_permission}` permission on {rotation.repository} "
            f"(you have `{clean_text(permission, 20)}`). Nothing was dispatched.",
        )
        decided(verdict, permission=clean_text(permission, 20))
        state.background.submit(lambda: comment.refuse(verdict))
        return
    verdict = state.request(rotation, reason, report=comment.report, fields=fields)
    decided(verdict, permission=permission)
    if verdict.status == 409:
        # Replies are paced writes: they go to the ordinary pool, so this urgent thread is
        # free for the next request's permission check.
        refusal = Verdict(409, "rejected", "cooldown", f"@{comment.login} {verdict.message}")
        state.background.submit(lambda: comment.refuse(refusal))
