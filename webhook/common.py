"""Helpers the doors share: the raw body, the JSON answer with its log line, command parsing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, current_app, jsonify, request

from .logs import log_event
from .rotations import Rotations, Verdict

__all__ = ["answer", "parse_command", "raw_body", "rotations"]

EXTENSION = "openrouter_rotator"


def rotations() -> Rotations:
    value: Rotations = current_app.extensions[EXTENSION]
    return value


def raw_body() -> bytes:
    """The body exactly as sent, for signature checks (Flask enforces MAX_CONTENT_LENGTH here)."""
    # parse_form_data=False: Slack posts a form, and letting Flask parse it first would consume
    # the stream and leave nothing to verify.
    return request.get_data(cache=True, as_text=False, parse_form_data=False)


def answer(
    door: str, verdict: Verdict, body: dict[str, Any] | None = None, **fields: Any
) -> tuple[Response, int]:
    """Log the decision as one line and answer with it."""
    log_event(
        "webhook.request",
        door=door,
        path=request.path,
        status=verdict.status,
        decision=verdict.decision,
        reason=verdict.reason,
        **fields,
    )
    return jsonify(body if body is not None else verdict.body()), verdict.status


def parse_command(text: str, names: Iterable[str]) -> tuple[str | None, str]:
    """Split ``"[rotation] [reason]"``: ``(rotation name or None, reason)``.

    The first word is the rotation if it names one; with exactly one rotation to choose from the
    name may be left out and the whole text is the reason. Otherwise the first word is returned
    as an unknown name (None when there is no text), for a 404 that lists the choices.
    """
    known = sorted(names)
    words = text.strip().split(maxsplit=1)
    first = words[0] if words else None
    rest = words[1] if len(words) > 1 else ""
    if first is not None and first in known:
        return first, rest.strip()
    if len(known) == 1:
        return known[0], text.strip()
    return first, rest.strip()
