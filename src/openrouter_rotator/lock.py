"""Mutual exclusion between runs, on the one atomic test-and-set the Actions API has.

Creating a repository variable answers 409 when it already exists, so ``POST`` of a lock
variable is a test-and-set: exactly one of two runs gets 201. Reading the state back after
writing a lease into it is not (both runs can read their own write).

The lock variable's name carries the state's *generation* (a counter every locked session
bumps when it ends): ``<STATE_VARIABLE>_LOCK_<generation>``. A run reads the state once, and
contends for the lock of the generation it read. So a run that read the state before another
run's session changed it contends for an old generation's lock, which that session left in
place (409): it can never act on a stale read. The next session deletes the previous one's lock,
so at most two lock variables exist at a time.

A lock expires (:data:`LOCK_TTL`, well under SPEC's hour) so a killed run blocks nothing for
long; a long run renews it (:meth:`Lock.keep`). An expired lock is never taken over in place
(two runs could both decide to): the next contender creates the next *slot* of the same
generation (``..._LOCK_<generation>_2``), again with the 409 test-and-set.

The one window this cannot close: a run stalled (not killed) between two consecutive
requests for longer than :data:`LOCK_TTL` loses its lock to another run without knowing it. The
renewal notices that and stops the run (:class:`~openrouter_rotator.errors.LockLost`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from .errors import (
    GitHubStatusError,
    GitHubTransportError,
    LockHeld,
    LockLost,
    StateError,
    VariableExists,
)
from .state import iso, parse_iso

log = logging.getLogger(__name__)

SCHEMA = "openrouter-rotator/lock"
# Long enough that one request, with its longest rate-limit waits (secondary limits: 1 + 2 + 4
# minutes), fits between two renewals; short enough that a killed run blocks the next one for
# at most this (SPEC: at most one hour).
LOCK_TTL = timedelta(minutes=30)
# Renew when less than this is left: renewals happen between steps, at most every 10 minutes.
RENEW_BELOW = timedelta(minutes=20)
MAX_SLOTS = 20  # 20 killed runs in a row on one generation means something else is wrong


class LockClient(Protocol):
    def get_variable(self, repo: str, name: str) -> str | None: ...

    def create_variable(self, repo: str, name: str, value: str) -> None: ...

    def update_variable(self, repo: str, name: str, value: str) -> None: ...

    def delete_variable(self, repo: str, name: str) -> bool: ...


def lock_name(state_variable: str, generation: int, slot: int = 1) -> str:
    name = f"{state_variable}_LOCK_{generation}"
    return name if slot == 1 else f"{name}_{slot}"


def _record(holder: str, expires_at: datetime, run_url: str | None) -> str:
    return json.dumps(
        {"schema": SCHEMA, "holder": holder, "expires_at": iso(expires_at), "run_url": run_url},
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class _Seen:
    holder: str
    expires_at: datetime
    run_url: str | None


def _parse(value: str, where: str) -> _Seen:
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise StateError(
            f"{where} holds something that is not an openrouter-rotator lock; it was left as "
            "it is: delete it, or give another --state-variable"
        )
    try:
        expires_at = parse_iso(data.get("expires_at"), "expires_at")
    except StateError:
        expires_at = None
    if expires_at is None:
        raise StateError(f"{where} holds a damaged lock; delete it if no run is in progress")
    run_url = data.get("run_url")
    return _Seen(str(data.get("holder")), expires_at, run_url if isinstance(run_url, str) else None)


@dataclass
class Lock:
    """A lock this run holds. ``keep`` renews it when little time is left."""

    client: LockClient
    repository: str
    name: str
    holder: str
    expires_at: datetime
    now: Callable[[], datetime]
    run_url: str | None = None
    ttl: timedelta = LOCK_TTL
    abandoned: tuple[str, ...] = ()  # expired slots of killed runs, for the session to delete
    renewals: int = field(default=0, init=False)
    lost: bool = field(default=False, init=False)

    def keep(self) -> None:
        """Renew the lock if less than RENEW_BELOW is left; stop if it was lost meanwhile."""
        now = self.now()
        if self.expires_at - now > min(RENEW_BELOW, self.ttl * 2 / 3):
            return
        if now >= self.expires_at:
            # Stalled past the expiry: another run may have taken over; never overwrite it.
            seen = self.client.get_variable(self.repository, self.name)
            if seen is None or _parse(seen, self.name).holder != self.holder:
                self.lost = True
                raise LockLost(
                    f"this run's lock {self.name} expired while it was stalled and another "
                    "run took over; this run stops without writing the state"
                )
        self.expires_at = now + self.ttl
        self.client.update_variable(
            self.repository, self.name, _record(self.holder, self.expires_at, self.run_url)
        )
        self.renewals += 1
        log.info("renewed lock %s until %s", self.name, iso(self.expires_at))

    def release(self) -> None:
        """Delete the lock: only for a session that left the state as it found it."""
        self.client.delete_variable(self.repository, self.name)


def acquire(
    client: LockClient,
    repository: str,
    state_variable: str,
    generation: int,
    now: Callable[[], datetime],
    *,
    run_url: str | None = None,
    ttl: timedelta = LOCK_TTL,
    holder: str | None = None,
) -> Lock:
    """Take the lock of ``generation`` or raise :class:`LockHeld` (one POST when uncontended)."""
    holder = holder or uuid.uuid4().hex
    abandoned: list[str] = []
    slot, unsure = 1, 0
    while slot <= MAX_SLOTS:
        name = lock_name(state_variable, generation, slot)
        expires_at = now() + ttl
        try:
            client.create_variable(repository, name, _record(holder, expires_at, run_url))
        except (VariableExists, GitHubTransportError, GitHubStatusError) as exc:
            lost = not isinstance(exc, VariableExists)
            if lost and (isinstance(exc, GitHubStatusError) and (exc.status or 0) < 500):
                raise
            if lost and unsure >= 2:
                raise
            # 409, or no definite answer (the create may have landed): look at the lock.
            value = client.get_variable(repository, name)
            if value is None:
                if lost:  # it did not land: try again
                    unsure += 1
                    continue
                # Deleted between our POST and GET: its session ended and the state moved on,
                # so the state this run read is stale. Another run is (or was) at work.
                raise LockHeld(None) from None
            seen = _parse(value, f"variable {name} in {repository}")
            if seen.holder == holder:  # our create landed; its answer was lost
                expires_at = seen.expires_at
            elif seen.expires_at > now():
                raise LockHeld(seen.expires_at, seen.run_url) from None
            else:
                log.warning("lock %s expired (its run was killed); taking the next slot", name)
                abandoned.append(name)
                slot += 1
                continue
        log.info("took lock %s until %s", name, iso(expires_at))
        return Lock(
            client, repository, name, holder, expires_at, now, run_url, ttl, tuple(abandoned)
        )
    raise StateError(
        f"{MAX_SLOTS} expired locks for generation {generation} of {state_variable} in "
        f"{repository}: delete the {state_variable}_LOCK_* variables if no run is in progress"
    )
