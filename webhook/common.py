"""Helpers the doors share: the raw body, the JSON answer with its log line, command parsing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

import httpx
from flask import Response, current_app, jsonify, request

from .logs import log_event
from .rotations import Rotations, Verdict

__all__ = ["answer", "parse_command", "post_json", "raw_body", "rotations"]

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


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One client per process: building one loads the CA bundle (~0.1 s of CPU), which per
    message was the webhook's main cost under a burst."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client()
        return _client


def _forget_client() -> None:
    # A forked gunicorn worker must not share the parent's connection pool.
    global _client
    _client = None


os.register_at_fork(after_in_child=_forget_client)


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST a JSON message (Slack ``response_url`` or incoming webhook); raise on failure."""
    response = _http().post(url, json=payload, timeout=timeout)
    if response.status_code >= 300:
        # The URL is a credential: name the status only.
        raise RuntimeError(f"HTTP {response.status_code} from the Slack URL")
