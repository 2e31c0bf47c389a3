"""The drainer: every worker process takes accepted requests from the store and carries them out.

One thread per process leases the oldest free :class:`~webhook.store.Job`, runs it, and records
the outcome; the jobs of every process and instance share the store, so whichever worker is
alive finishes what another left. A job is run so that running it again is harmless:

1. a commenter whose permission the request did not wait for is checked now, and the cooldown
   claimed with the job's id as token (claiming it again after a crash finds our own token);
2. an attempt after the first (the earlier worker died, or GitHub's answer was lost) first looks
   for the run: the dispatch carries input ``request-id``, the workflow puts it in its
   ``run-name``, so :meth:`~webhook.github_api.WebhookGitHub.find_run` finds a run that landed
   by its title;
3. only then is the workflow dispatched. A 4xx is a definite failure: it is told to the
   requester and the job's claims (cooldown, replay) are given back so that a retry can succeed.
   A timeout, a lost connection or a 5xx may have dispatched: the job waits one lease and goes
   back to step 2; after :data:`MAX_ATTEMPTS` it is reported as unconfirmed and keeps the
   cooldown (a second rotation is worse than a late answer).

The lease is renewed every third of its length while a job runs, so only a dead worker's job is
taken over. On SIGTERM gunicorn lets a worker finish; this thread then finishes the job in hand
and leaves the rest of the backlog in the store for the next start (:meth:`Worker.stop`).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openrouter_rotator.config import DEFAULT_GITHUB_API_URL
from openrouter_rotator.errors import GitHubError, RotatorError

from .config import RotationConfig, WebhookSettings
from .logs import log_event
from .store import Job, JobStatus, Leased, Store

__all__ = ["MAX_ATTEMPTS", "Outcome", "Worker", "describe", "is_definite"]

MAX_ATTEMPTS = 5


def describe(exc: BaseException) -> str:
    """An error as a requester may read it: the engine's errors are written to be shown (no
    tokens, no headers); any other exception is named by type only."""
    if isinstance(exc, RotatorError):
        text = " ".join(str(exc).split())
        return text if len(text) <= 300 else text[:299] + "…"
    return type(exc).__name__


def is_definite(exc: BaseException) -> bool:
    """Whether GitHub certainly did not act: a 4xx other than rate limiting. Timeouts, lost
    connections and 5xx may have dispatched."""
    if not isinstance(exc, GitHubError) or exc.status is None:
        return isinstance(exc, RotatorError) and not isinstance(exc, GitHubError)
    if exc.status in (403, 429) and "rate limit" in str(exc).lower():
        return False
    return 400 <= exc.status < 500


@dataclass(frozen=True)
class Outcome:
    """What a job ended with, and the sentence the requester reads."""

    status: str  # dispatched | failed
    sentence: str
    run_url: str | None = None
    error: str | None = None
    release_claims: bool = False


class _Postpone(Exception):
    """The outcome is unknown: try again once the lease has run out."""


Reply = Callable[[Job, Outcome], None]


class Worker:
    def __init__(
        self,
        store: Store,
        settings: WebhookSettings,
        github: Callable[[str], Any],
        reply: Reply,
        *,
        clock: Callable[[], float] = time.time,
        lease: float | None = None,
        poll: float = 0.5,
    ) -> None:
        self.store, self.settings, self.github, self.reply = store, settings, github, reply
        self.clock = clock
        self.lease = settings.lease if lease is None else lease
        self.poll = poll
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store_down = False

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        # Not a daemon: at interpreter exit (a gunicorn worker told to stop) Python joins it,
        # after the hook below has asked it to stop, so the job in hand is finished.
        self._thread = threading.Thread(target=self._run, name="rotator-drain", daemon=False)
        self._thread.start()
        threading._register_atexit(self.stop)  # type: ignore[attr-defined]

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        if not self._stop.is_set():
            try:
                backlog: int | None = self.store.backlog()
            except Exception:  # noqa: BLE001 - the line matters more than the count
                backlog = None
            # Said once, so that an operator sees what a restart will pick up.
            log_event("webhook.queue", outcome="stopping", backlog_left_in_store=backlog)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_one()
            except Exception as exc:  # noqa: BLE001 - the store is down: log once, keep trying
                if not self._store_down:
                    log_event("webhook.queue", outcome="store_unavailable", error=describe(exc))
                self._store_down = True
                busy = False
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    def drain(self) -> int:
        """Run every job that is free now, in this thread (tests, and a last pass)."""
        done = 0
        while self.run_one():
            done += 1
        return done

    # -- one job -------------------------------------------------------------------------------
    def run_one(self) -> bool:
        leased = self.store.lease(self.owner, self.lease)
        if self._store_down:
            log_event("webhook.queue", outcome="store_available")
            self._store_down = False
        if leased is None:
            return False
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(leased, done), daemon=True)
        renewer.start()
        started = time.monotonic()
        claims = list(leased.job.claims)  # the job's, and the cooldown if this attempt took it
        try:
            outcome = self._carry_out(leased, claims)
        except _Postpone as unknown:
            done.set()
            renewer.join()
            # The lease starts over and is left to run out: then any worker tries again.
            self.store.renew(leased, self.owner, self.lease)
            self._log(leased, "unknown", time.monotonic() - started, error=str(unknown))
            return True
        finally:
            done.set()
        renewer.join()
        if outcome.release_claims:
            for key, token in claims:
                self.store.release(key, token)
        try:
            self.reply(leased.job, outcome)
        except Exception as exc:  # noqa: BLE001 - telling is best effort, and logged
            log_event(
                "webhook.report",
                **leased.job.fields,
                request_id=leased.job.id,
                outcome="failed",
                error=describe(exc),
            )
            if leased.job.action == "notify":
                # Telling was the whole job: give its claim back so the next alert tries again.
                outcome = Outcome("failed", outcome.sentence, error=describe(exc))
                for key, token in claims:
                    self.store.release(key, token)
        self.store.finish(leased, JobStatus(outcome.status, outcome.run_url, outcome.error))
        seconds = time.monotonic() - started
        self._log(leased, outcome.status, seconds, outcome.run_url, outcome.error)
        return True

    def _renew(self, leased: Leased, done: threading.Event) -> None:
        while not done.wait(self.lease / 3):
            try:
                if not self.store.renew(leased, self.owner, self.lease):
                    log_event("webhook.queue", request_id=leased.job.id, outcome="lease_lost")
                    return
            except Exception as exc:  # noqa: BLE001 - the next renewal may get through
                log_event("webhook.queue", request_id=leased.job.id, error=describe(exc))

    def _log(
        self,
        leased: Leased,
        outcome: str,
        seconds: float,
        run_url: str | None = None,
        error: str | None = None,
    ) -> None:
        job = leased.job
        log_event(
            "webhook.dispatch" if job.action == "dispatch" else "webhook.notify",
            **{
                **job.fields,
                "request_id": job.id,
                "rotation": job.rotation,
                "outcome": outcome,
                "attempt": leased.attempts,
                "emergency": job.emergency,
                "run_url": run_url,
                "error": error,
                "seconds": round(seconds, 3),
            },
        )

    def _carry_out(self, leased: Leased, claims: list[tuple[str, str]]) -> Outcome:
        job = leased.job
        if job.action == "notify":
            return Outcome("dispatched", job.reason)
        rotation = self.settings.rotations.get(job.rotation)
        if rotation is None:
            return Outcome(
                "failed",
                f"Rotation `{job.rotation}` is no longer configured; nothing was dispatched.",
                error="unknown_rotation",
                release_claims=True,
            )
        if job.check_login is not None:
            refusal = self._check(job, rotation, claims)
            if refusal is not None:
                return refusal
        client = self.github(rotation.repository)
        if leased.attempts > 1:
            try:
                found = client.find_run(rotation.repository, rotation.workflow, job.id, job.created)
            except Exception as exc:  # noqa: BLE001 - cannot tell yet: try again later
                return self._unknown(leased, rotation, exc)
            if found is not None:
                return self._dispatched(rotation, found)
        inputs = {
            "force": "true",
            "reason": job.reason,
            "emergency": "true" if job.emergency else "false",
            "request-id": job.id,
        }
        try:
            run_url = client.dispatch_workflow(
                rotation.repository, rotation.workflow, rotation.ref, inputs
            )
        except Exception as exc:  # noqa: BLE001 - sorted into definite and unknown below
            if is_definite(exc):
                error = describe(exc)
                return Outcome(
                    "failed",
                    f"Rotation `{rotation.name}` could not be dispatched: {error}. Nothing was "
                    "rotated; the cooldown was released, so you can try again.",
                    error=error,
                    release_claims=True,
                )
            return self._unknown(leased, rotation, exc)
        return self._dispatched(rotation, run_url)

    def _dispatched(self, rotation: RotationConfig, run_url: str | None) -> Outcome:
        where = run_url or actions_url(self.settings.github_api_url, rotation)
        return Outcome(
            "dispatched", f"Rotation `{rotation.name}` dispatched: {where}", run_url=run_url
        )

    def _unknown(self, leased: Leased, rotation: RotationConfig, exc: BaseException) -> Outcome:
        if leased.attempts < MAX_ATTEMPTS:
            raise _Postpone(describe(exc))
        error = describe(exc)
        where = actions_url(self.settings.github_api_url, rotation)
        return Outcome(
            "failed",
            f"Rotation `{rotation.name}`: GitHub did not confirm the dispatch ({error}) and no "
            f"run titled with request id {leased.job.id} was found after {leased.attempts} "
            f"attempts. It may still start: check {where} before asking again (the cooldown is "
            "kept).",
            error=f"outcome unknown: {error}",
        )

    def _check(
        self, job: Job, rotation: RotationConfig, claims: list[tuple[str, str]]
    ) -> Outcome | None:
        login = job.check_login or ""
        try:
            permission = self.github(rotation.repository).collaborator_permission(
                rotation.repository, login
            )
        except Exception as exc:  # noqa: BLE001 - reported; nothing was dispatched
            error = describe(exc)
            return Outcome(
                "failed",
                f"could not check your permission on {rotation.repository} ({error}); nothing "
                "was dispatched. Try again later.",
                error=error,
                release_claims=True,
            )
        if not rotation.permits(permission):
            return Outcome(
                "failed",
                f"rotating `{rotation.name}` needs `{rotation.min_permission}` permission on "
                f"{rotation.repository} (you have `{permission}`). Nothing was dispatched.",
                error="not_allowed",
                release_claims=True,
            )
        if rotation.cooldown > 0:
            key = f"cooldown:{rotation.name}"
            # The job's id as token: a second attempt of this job finds its own claim.
            if not self.store.claim(key, rotation.cooldown, job.id):
                if self.store.holder(key) != job.id:
                    minutes = max(1, round(rotation.cooldown / 60))
                    return Outcome(
                        "failed",
                        f"Rotation `{rotation.name}` was requested less than {minutes} min ago "
                        "(cooldown); not dispatching again.",
                        error="cooldown",
                        release_claims=True,
                    )
            # Given back with the others on a definite failure; kept when it may have run.
            claims.append((key, job.id))
        return None


def actions_url(api_url: str, rotation: RotationConfig) -> str:
    """Where people see the rotation's runs. api.github.com serves github.com; GitHub Enterprise
    Server serves its API under /api/v3 of the web host."""
    base = api_url.rstrip("/")
    web = "https://github.com" if base == DEFAULT_GITHUB_API_URL else base.removesuffix("/api/v3")
    return f"{web}/{rotation.repository}/actions/workflows/{rotation.workflow}"
