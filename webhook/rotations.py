"""What every door shares once a request is authentic: replay claims, the cooldown, and the
dispatch of the rotation workflow in the background.

The doors (``slack.py``, ``github_events.py``, ``api.py``, ``alerts.py``) authenticate and parse;
:class:`Rotations` decides and dispatches. The HTTP answer never waits for GitHub's dispatch:
:meth:`Rotations.request` claims the cooldown, hands the dispatch to a small thread pool and
returns, and the door's ``report`` callback tells the requester the outcome later (Slack's
``response_url``, a GitHub reply comment). A failed dispatch gives its cooldown claim back, so
the requester can simply try again.
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
from .store import Store

__all__ = [
    "Background",
    "DispatchOutcome",
    "GitHubFactory",
    "GitHubPort",
    "Rotations",
    "Verdict",
    "clean_text",
    "default_github_factory",
]

# How long a replay claim is held, per door. Slack and alert requests are signed with a timestamp
# valid for 5 minutes either side, so 11 minutes outlives any replayable copy. GitHub lets an
# admin redeliver a delivery for 3 days, with the same X-GitHub-Delivery.
REPLAY_TTL = {"slack": 11 * 60.0, "alerts": 11 * 60.0, "github": 4 * 86400.0, "api": 86400.0}

MAX_REASON = 500


class GitHubPort(Protocol):
    """The part of :class:`openrouter_rotator.github.GitHubClient` the webhook uses."""

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: dict[str, str]
    ) -> str | None: ...

    def collaborator_permission(self, repo: str, username: str) -> str: ...

    def create_issue_comment(self, repo: str, number: int, body: str) -> None: ...

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None: ...


# repository -> a client for it. A factory rather than one client: a GitHub App needs an
# installation token per repository, and a fresh client per job keeps threads from sharing one.
GitHubFactory = Callable[[str], GitHubPort]


def default_github_factory(settings: WebhookSettings) -> GitHubFactory:
    """Token or GitHub App clients from the engine, pointed at ``[github] api_url``."""
    from openrouter_rotator.github import GitHubClient

    base_url = settings.github_api_url
    app_id, private_key = settings.github_app_id, settings.github_app_private_key
    # Short timeout and few retries: a person is waiting for the outcome, and a job that fails
    # is reported back, not hidden. (Dispatches are never retried by the client anyway.)
    options: dict[str, Any] = {"timeout": 10, "retries": 2}
    if app_id is not None and private_key is not None:
        return lambda repo: GitHubClient.from_app(app_id, private_key, repo, base_url, **options)
    token = settings.github_token or ""
    return lambda repo: GitHubClient(token, base_url, **options)


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

    def body(self, **extra: Any) -> dict[str, Any]:
        return {"status": self.decision, "reason": self.reason, "message": self.message, **extra}


@dataclass(frozen=True)
class DispatchOutcome:
    rotation: RotationConfig
    ok: bool
    run_url: str | None = None
    actions_url: str | None = None
    error: str | None = None

    def sentence(self) -> str:
        if not self.ok:
            return (
                f"Rotation `{self.rotation.name}` could not be dispatched: {self.error}. "
                "Nothing was rotated; the cooldown was released, so you can try again."
            )
        where = self.run_url or self.actions_url
        return f"Rotation `{self.rotation.name}` dispatched: {where}"


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
            log_event("webhook.background", outcome="failed", error=_describe(error))

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


def _actions_url(api_url: str, rotation: RotationConfig) -> str:
    # Where people see the run when GitHub does not return its URL. api.github.com serves
    # github.com; GitHub Enterprise Server serves its API under /api/v3 of the web host.
    if api_url.rstrip("/") == "https://api.github.com":
        web = "https://github.com"
    else:
        web = re.sub(r"/api/v3/?$", "", api_url.rstrip("/"))
    return f"{web}/{rotation.repository}/actions/workflows/{rotation.workflow}"


@dataclass
class Rotations:
    settings: WebhookSettings
    store: Store
    github: GitHubFactory
    background: Background
    clock: Callable[[], float] = time.time
    _tokens: Callable[[], str] = field(default=lambda: secrets.token_hex(16))

    # -- claims ------------------------------------------------------------------------------
    def first_time(self, door: str, ident: str) -> bool:
        """Claim a replay key; False means this exact request was seen before."""
        return self.store.claim(f"replay:{door}:{ident}", REPLAY_TTL[door], self._tokens())

    def claim(self, key: str, ttl: float) -> str | None:
        """Claim ``key``; the token to release it with, or None if it is held."""
        token = self._tokens()
        return token if self.store.claim(key, ttl, token) else None

    def release(self, key: str, token: str) -> None:
        self.store.release(key, token)

    def lookup(self, name: str) -> RotationConfig | None:
        return self.settings.rotations.get(name)

    # -- the decision ------------------------------------------------------------------------
    def request(
        self,
        rotation: RotationConfig,
        reason: str,
        *,
        emergency: bool = False,
        report: Callable[[DispatchOutcome], None] | None = None,
        release_on_failure: tuple[tuple[str, str], ...] = (),
        fields: dict[str, Any] | None = None,
    ) -> Verdict:
        """Claim the cooldown and dispatch in the background, or refuse with 409."""
        key = f"cooldown:{rotation.name}"
        token = self.claim(key, rotation.cooldown) if rotation.cooldown > 0 else ""
        if token is None:
            minutes = max(1, round(rotation.cooldown / 60))
            return Verdict(
                409,
                "rejected",
                "cooldown",
                f"Rotation `{rotation.name}` was requested less than {minutes} min ago "
                "(cooldown); not dispatching again.",
            )
        claims = ((key, token), *release_on_failure) if token else release_on_failure
        self.background.submit(
            lambda: self._dispatch(rotation, reason, emergency, report, claims, fields or {})
        )
        return Verdict(
            202,
            "accepted",
            "dispatching",
            f"Rotation `{rotation.name}` accepted; dispatching the "
            f"`{rotation.workflow}` workflow in {rotation.repository}.",
        )

    def _dispatch(
        self,
        rotation: RotationConfig,
        reason: str,
        emergency: bool,
        report: Callable[[DispatchOutcome], None] | None,
        claims: tuple[tuple[str, str], ...],
        fields: dict[str, Any],
    ) -> None:
        inputs = {
            "force": "true",
            "reason": clean_text(reason),
            "emergency": "true" if emergency else "false",
        }
        started = time.monotonic()
        try:
            client = self.github(rotation.repository)
            run_url = client.dispatch_workflow(
                rotation.repository, rotation.workflow, rotation.ref, inputs
            )
            outcome = DispatchOutcome(
                rotation,
                True,
                run_url=run_url,
                actions_url=_actions_url(self.settings.github_api_url, rotation),
            )
        except Exception as exc:  # noqa: BLE001 - a background job must report, never vanish
            for claim_key, claim_token in claims:
                self.release(claim_key, claim_token)
            outcome = DispatchOutcome(rotation, False, error=_describe(exc))
        log_event(
            "webhook.dispatch",
            **{
                **fields,
                "rotation": rotation.name,
                "repository": rotation.repository,
                "workflow": rotation.workflow,
                "outcome": "dispatched" if outcome.ok else "failed",
                "emergency": emergency,
                "run_url": outcome.run_url,
                "error": outcome.error,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        if report is not None:
            try:
                report(outcome)
            except Exception as exc:  # noqa: BLE001 - reporting is best effort, and logged
                log_event(
                    "webhook.report",
                    **{**fields, "rotation": rotation.name, "outcome": "failed"},
                    error=_describe(exc),
                )


def _describe(exc: BaseException) -> str:
    # The engine's errors are written to be shown (no tokens, no headers, see errors.py); any
    # other exception is named by type only, since its text could carry anything.
    from openrouter_rotator.errors import RotatorError

    if isinstance(exc, RotatorError):
        return clean_text(str(exc), 300)
    return type(exc).__name__
