"""What every door shares once a request is authentic: replay claims, the cooldown, and handing
the accepted request to the durable queue.

The doors (``slack.py``, ``github_events.py``, ``api.py``, ``alerts.py``) authenticate and parse;
:class:`Rotations` decides. The HTTP answer never waits for GitHub's dispatch:
:meth:`Rotations.request` claims the cooldown, writes a :class:`~webhook.store.Job` to the store
and returns 202 with the job's request id; a worker (:mod:`webhook.worker`) carries the job out
and tells the requester the outcome (Slack's ``response_url``, a GitHub reply comment, the API's
status URL). A store that cannot be written answers 503: nothing is accepted that is not kept.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import RotationConfig, WebhookSettings
from .logs import log_event
from .store import Job, Store
from .worker import Worker, describe

__all__ = [
    "Background",
    "GitHubFactory",
    "GitHubPort",
    "Rotations",
    "Verdict",
    "clean_text",
    "default_github_factory",
]

# How long a replay claim is held, per door. Slack and alert requests are signed with a timestamp
# valid for 5 minutes either side, so 11 minutes outlives any replayable copy. GitHub lets an
# admin redeliver a delivery for 3 days on github.com and 7 days on GitHub Enterprise Server.
REPLAY_TTL = {"slack": 11 * 60.0, "alerts": 11 * 60.0, "github": 8 * 86400.0, "api": 86400.0}

MAX_REASON = 500


class GitHubPort(Protocol):
    """What the webhook calls on GitHub (:class:`~webhook.github_api.WebhookGitHub`)."""

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: dict[str, str]
    ) -> str | None: ...

    def find_run(
        self, repo: str, workflow: str, title_part: str, created_since: float
    ) -> str | None: ...

    def collaborator_permission(self, repo: str, username: str) -> str: ...

    def create_issue_comment(self, repo: str, number: int, body: str) -> None: ...

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None: ...


# repository -> a client for it.
GitHubFactory = Callable[[str], GitHubPort]

# An installation token lives an hour; a cached App client is replaced well before.
APP_CLIENT_TTL = 45 * 60.0


def default_github_factory(settings: WebhookSettings) -> GitHubFactory:
    """Token or GitHub App clients from the engine, pointed at ``[github] api_url``.

    One client per process (per repository with an App), shared by every job: its
    ``write_interval`` then paces all of this process's writes, as GitHub asks ("at least one
    second between writes"), rather than each job's.
    """
    from .github_api import WebhookGitHub

    base_url = settings.github_api_url
    app_id, private_key = settings.github_app_id, settings.github_app_private_key
    # Short timeout and few retries: a person is waiting for the outcome, and a job that fails
    # is reported back, not hidden. (Dispatches are never retried by the client anyway.)
    options: dict[str, Any] = {
        "timeout": 10,
        "retries": 2,
        "write_interval": settings.github_write_interval,
    }
    clients: dict[str, tuple[float, WebhookGitHub]] = {}
    lock = threading.Lock()

    def client(repo: str) -> GitHubPort:
        key = repo.lower() if app_id is not None else ""
        with lock:
            cached = clients.get(key)
            if cached is not None and time.monotonic() - cached[0] < APP_CLIENT_TTL:
                return cached[1]
            if app_id is not None and private_key is not None:
                made = WebhookGitHub.from_app(app_id, private_key, repo, base_url, **options)
            else:
                made = WebhookGitHub(settings.github_token or "", base_url, **options)
            clients[key] = (time.monotonic(), made)
            return made

    return client


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_text(text: str, limit: int = MAX_REASON) -> str:
    """User text made safe for a workflow input and a log line: one line, bounded length."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Verdict:
    """A door's decision: the HTTP status and a human sentence."""

    status: int
    decision: str  # accepted | rejected | duplicate | ignored
    reason: str  # machine-readable, for the log and the JSON answer
    message: str
    request_id: str | None = None

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"status": self.decision, "reason": self.reason, "message": self.message, **extra}


class Background:
    """A small thread pool whose jobs tests can wait for.

    Threads, not a queue service: a job is one or two HTTP calls, and a worker that is shut down
    gracefully finishes its jobs (the pool's threads are joined at interpreter exit).
    """

    def __init__(self, workers: int = 4, urgent_workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rotator-bg")
        # Jobs a request is waiting for (the commenter's permission check) get their own
        # threads: behind dispatches and replies, which GitHub's write pacing keeps a second
        # or more each, they would hold the request, and with it a sync worker.
        self._urgent = ThreadPoolExecutor(
            max_workers=urgent_workers, thread_name_prefix="rotator-check"
        )
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], Any], *, urgent: bool = False) -> Future[Any]:
        future = (self._urgent if urgent else self._pool).submit(job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log_event("webhook.background", outcome="failed", error=describe(error))

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until every job submitted so far (and any they submitted) has finished."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait_futures(pending, timeout=remaining)


@dataclass
class Rotations:
    settings: WebhookSettings
    store: Store
    github: GitHubFactory
    background: Background
    clock: Callable[[], float] = time.time
    worker: Worker | None = None
    _tokens: Callable[[], str] = field(default=lambda: secrets.token_hex(16))

    # -- claims ------------------------------------------------------------------------------
    def first_time(self, door: str, ident: str) -> bool:
        """Claim a replay key; False means this exact request was seen before."""
        return self.store.claim(f"replay:{door}:{ident}", REPLAY_TTL[door], self._tokens())

    def claim(self, key: str, ttl: float, token: str | None = None) -> str | None:
        """Claim ``key``; the token to release it with, or None if it is held."""
        token = token or self._tokens()
        return token if self.store.claim(key, ttl, token) else None

    def release(self, key: str, token: str) -> None:
        self.store.release(key, token)

    def lookup(self, name: str) -> RotationConfig | None:
        return self.settings.rotations.get(name)

    # -- the decision ------------------------------------------------------------------------
    def new_request_id(self) -> str:
        # Searched for in run titles: long enough never to be a substring of another.
        return "rq-" + secrets.token_hex(10)

    def request(
        self,
        rotation: RotationConfig,
        reason: str,
        *,
        reply: dict[str, Any],
        emergency: bool = False,
        claims: tuple[tuple[str, str], ...] = (),
        fields: dict[str, Any] | None = None,
        check_login: str | None = None,
        request_id: str | None = None,
    ) -> Verdict:
        """Claim the cooldown and queue the dispatch, or refuse (409 cooldown, 503 no store).

        ``claims`` are given back if the dispatch fails for certain; with ``check_login`` the
        commenter's permission and the cooldown are left to the worker.
        """
        request_id = request_id or self.new_request_id()
        key = f"cooldown:{rotation.name}"
        if rotation.cooldown > 0 and check_login is None:
            if not self.store.claim(key, rotation.cooldown, request_id):
                minutes = max(1, round(rotation.cooldown / 60))
                return Verdict(
                    409,
                    "rejected",
                    "cooldown",
                    f"Rotation `{rotation.name}` was requested less than {minutes} min ago "
                    "(cooldown); not dispatching again.",
                )
            claims = ((key, request_id), *claims)
        job = Job(
            id=request_id,
            rotation=rotation.name,
            reason=clean_text(reason),
            emergency=emergency,
            reply=reply,
            claims=claims,
            check_login=check_login,
            fields=fields or {},
            created=self.clock(),
        )
        refused = self.enqueue(job)
        if refused is not None:
            if rotation.cooldown > 0 and check_login is None:
                self.store.release(key, request_id)
            return refused
        return Verdict(
            202,
            "accepted",
            "queued",
            f"Rotation `{rotation.name}` accepted; dispatching the "
            f"`{rotation.workflow}` workflow in {rotation.repository}.",
            request_id=request_id,
        )

    def enqueue(self, job: Job) -> Verdict | None:
        """Keep ``job`` durably and wake this process's worker; a 503 verdict if it could not."""
        try:
            self.store.enqueue(job)
        except Exception as exc:  # noqa: BLE001 - not kept means not accepted
            log_event("webhook.queue", outcome="enqueue_failed", error=describe(exc))
            return Verdict(
                503, "rejected", "store_unavailable", "Cannot record the request now; try again."
            )
        if self.worker is not None:
            self.worker.wake()
        return None

    def wait(self, timeout: float = 10.0) -> bool:
        """Tests: wait for background replies, then run every queued job that is free now."""
        if not self.background.wait(timeout):
            return False
        if self.worker is not None:
            self.worker.drain()
        return self.background.wait(timeout)
