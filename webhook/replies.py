"""Telling the requester: Slack messages, GitHub reactions and replies, the alert channel.

A queued job names where its outcome goes (``Job.reply``); :func:`make_reply` builds the
function the worker calls with the outcome. The doors use :func:`post_json` for their immediate
refusals too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import httpx

from openrouter_rotator.errors import SlackError

from .store import Job
from .worker import Outcome

__all__ = ["ephemeral", "make_reply", "post_json"]

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
    """POST a JSON message (Slack ``response_url`` or incoming webhook); SlackError on failure."""
    # The URL is a credential: errors name the status or the failure's kind, never the URL.
    try:
        response = _http().post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SlackError(f"no answer from the Slack URL ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise SlackError("the Slack URL refused the message", status=response.status_code)


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def make_reply(
    github: Callable[[str], Any], slack_alert_url: str | None
) -> Callable[[Job, Outcome], None]:
    def reply(job: Job, outcome: Outcome) -> None:
        to = job.reply.get("to")
        if to == "slack" and job.reply.get("url"):
            post_json(str(job.reply["url"]), ephemeral(outcome.sentence))
        elif to == "github":
            repo = str(job.reply["repo"])
            client = github(repo)
            refused = outcome.error in ("not_allowed", "cooldown", "unknown_rotation")
            reaction = (
                "rocket" if outcome.status == "dispatched" else "-1" if refused else "confused"
            )
            # The reaction first: it is the cheap signal people notice, even if the reply fails.
            client.add_reaction(repo, int(job.reply["comment_id"]), reaction)
            text = f"@{job.reply['login']} {outcome.sentence}"
            client.create_issue_comment(repo, int(job.reply["number"]), text)
        elif to == "alerts" and slack_alert_url:
            text = f"{job.reply.get('prefix', '')} {outcome.sentence}".strip()
            post_json(slack_alert_url, {"text": text})

    return reply
