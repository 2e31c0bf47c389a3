"""The rotation step machine: lock -> create -> record -> verify -> publish -> commit -> revoke.

The steps are named methods, each with a guard on what must already be true, in the shape of
the AWS Secrets Manager rotation templates (createSecret / setSecret / testSecret /
finishSecret). Unlike a secret version there, a new OpenRouter key's plaintext is shown once:
a run that resumes after a crash cannot pick up a half-done step, so it *settles* what the
killed run left (the key it recorded may sit in some targets: it stays, marked pending, until a
newer key reaches them all) and *redoes* the rotation with a new key. The order of SPEC §2 is
never broken: a key that may have reached any target is deleted only after a newer key has
reached *all* targets and its revoke time has come; a key that provably reached none is deleted.

Every locked session (see :mod:`openrouter_rotator.lock`) writes the state and lock variables at
most four times: take the lock (POST), delete the previous session's lock, record the new key
as publishing (its hash, before it goes anywhere), and commit (the new active key, the
revocation results, the next generation). Every key the engine creates carries a mark
(:mod:`openrouter_rotator.marker`); each session first revokes its own keys the state does not
track, so a run killed between a create and its record leaves no live key behind for long.

A run with nothing to do reads the state and the active key's usage and writes nothing.

The engine knows no door: it takes a :class:`~openrouter_rotator.config.Config` and clients,
and returns a :class:`RunResult` that the CLI and the action render.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from . import carryover, marker, schedule
from . import lock as locks
from .carryover import CarryPlan
from .config import Config
from .errors import (
    ConfigError,
    LockHeld,
    OpenRouterAuthError,
    OpenRouterError,
    RotationFailed,
    RotatorError,
    StateError,
)
from .github import GitHubClient, PublishPlan
from .openrouter import (
    CREATE_SKEW,
    ApiKey,
    CreatedKey,
    OpenRouterClient,
    Workspace,
    blocking_budget,
)
from .state import (
    ActiveKey,
    CarryOver,
    InFlight,
    LastRotation,
    RetiringKey,
    State,
    StateStore,
    VariableStore,
    Verification,
    iso,
)
from .usage import UsageReport, alert_body, alert_rotation, send_alert
from .wake import next_rotation_at, wake_hours

log = logging.getLogger(__name__)

VERIFY_ATTEMPTS = 3  # a brand-new key can take a moment to be accepted everywhere
VERIFY_WAIT = 2.0


@dataclass(frozen=True)
class TargetOutcome:
    target: str
    status: str  # "updated" | "unchanged" | "failed"
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    """What a run did. ``to_json`` has exactly the keys of SPEC §4."""

    rotated: bool
    reason: str
    key_hash: str | None
    previous_key_hash: str | None
    revoked: tuple[str, ...]
    retiring: tuple[RetiringKey, ...]
    next_rotation_at: datetime | None
    targets: tuple[TargetOutcome, ...]
    usage: UsageReport | None
    dry_run: bool
    ok: bool = True
    problems: tuple[str, ...] = ()
    usage_alert: bool = False
    in_flight: str | None = None
    last_rotation_at: datetime | None = None
    active_since: datetime | None = None
    # A failed verification holds back every revocation (see verify.py).
    verification: Verification | None = None
    carry_over: CarryOver | None = None  # the active key's cap, lowered by older keys' spend

    def to_json(self, with_targets: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rotated": self.rotated,
            "reason": self.reason,
            "key_hash": self.key_hash,
            "previous_key_hash": self.previous_key_hash,
            "revoked": list(self.revoked),
            "retiring": [{"hash": r.hash, "revoke_at": iso(r.revoke_at)} for r in self.retiring],
            "next_rotation_at": iso(self.next_rotation_at),
            "targets": [
                {"target": t.target, "status": t.status, "error": t.error} for t in self.targets
            ],
            "usage": self.usage.to_json() if self.usage else None,
            "dry_run": self.dry_run,
        }
        if not with_targets:  # status: no targets written; SPEC §7 adds the carry-over
            del data["targets"]
            data["carry_over"] = carryover.to_json(self.carry_over)
        return data


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Plan:
    """What a run is going to do, decided from the state alone (pure, tested without I/O)."""

    rotate: bool  # also whenever a rotation is in flight: it is settled and redone
    reason: str
    revoke: tuple[RetiringKey, ...]
    sweep: bool = False  # revoke keys of this rotation the state does not track
    carry: bool = False  # the active key's limit changes (spend carry-over, see carryover.py)

    @property
    def mutates(self) -> bool:
        return self.rotate or bool(self.revoke) or self.sweep or self.carry


def plan_run(state: State, config: Config, now: datetime) -> Plan:
    due_revokes = tuple(r for r in state.retiring if r.revoke_at is not None and r.revoke_at <= now)
    if state.hold:  # a failed verification: no key is revoked until one passes
        due_revokes = ()
    targets = tuple(t.spec for t in config.targets)
    if state.in_flight is not None:
        reason = f"finishing a {state.in_flight.trigger} rotation that did not complete"
        return Plan(True, reason, due_revokes)
    if state.active is None:
        return Plan(True, "first key issued", due_revokes)
    if config.force:
        return Plan(True, "forced" + (f": {config.reason}" if config.reason else ""), due_revokes)
    added = [t for t in targets if t not in state.active.targets]
    if state.active.targets and added:
        return Plan(True, f"new target {added[0]} has no key yet", due_revokes)
    last = state.last_rotation.at if state.last_rotation else state.active.activated_at
    sched = config.schedule
    if schedule.is_due(
        now, last, sched.interval_days, sched.rotate_at, sched.timezone, sched.auto_rotation
    ):
        return Plan(True, "due", due_revokes)
    reason = "auto rotation is off" if not sched.auto_rotation else "not due"
    if due_revokes:
        reason += f"; revoking {len(due_revokes)} retired key(s) whose time has come"
    return Plan(False, reason, due_revokes)


@dataclass
class Rotator:
    """Runs one rotation (``run``) or reports (``status``) for one configuration."""

    config: Config
    openrouter: OpenRouterClient
    github: GitHubClient
    store: StateStore
    now: Clock = utcnow
    on_secret: Callable[[str], None] = lambda secret: None
    sleep: Callable[[float], None] = time.sleep
    lock_ttl: timedelta = locks.LOCK_TTL
    # The lock of the session in progress (None outside one).
    lock: locks.Lock | None = field(default=None, init=False)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        now: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        on_secret: Callable[[str], None] = lambda secret: None,
    ) -> Rotator:
        """The engine for ``config``, wired the one way every door uses (CLI, demo, tests,
        benchmarks). It owns its clients: :meth:`close` them, or use it in a ``with``.

        ``now`` and ``sleep`` are the clock and the waits (retries, verification), so a test
        can move time and skip the waiting; ``on_secret`` sees each new key first (the action
        masks it there).
        """
        openrouter = OpenRouterClient(
            config.credentials.management_key,
            config.openrouter_base_url,
            timeout=config.http_timeout,
            retry=config.retry,
            sleep=sleep,
        )
        github = GitHubClient(
            config.credentials.github_token,
            config.github_api_url,
            timeout=config.http_timeout,
            write_interval=config.github_write_interval,
            retry=config.retry,
            sleep=sleep,
        )
        store = VariableStore(github, config.state_repository, config.state_variable)
        # The engine's own waits (between verification attempts) follow the retry policy too.
        scale = config.retry.scale
        return cls(
            config,
            openrouter,
            github,
            store,
            now=now,
            on_secret=on_secret,
            sleep=sleep if scale == 1 else lambda seconds: sleep(seconds * scale),
        )

    def close(self) -> None:
        self.openrouter.close()
        self.github.close()

    def __enter__(self) -> Rotator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- entry points ------------------------------------------------------------------------
    def status(self) -> RunResult:
        state = self.store.load() or State()
        # What a scheduled run would find: --force means nothing to a report.
        plan = plan_run(state, replace(self.config, force=False), self.now())
        usage = self._usage(state)
        return self._result(
            state, rotated=False, reason=plan.reason, usage=usage, dry_run=False, targets=()
        )

    def run(self) -> RunResult:
        state = self.store.load() or State()
        now = self.now()
        plan = plan_run(state, self.config, now)

        usage: UsageReport | None = None
        if not plan.rotate:
            usage, gone, orphans = self._inspect(state)
            if gone:
                plan = replace(
                    plan, rotate=True, reason="the active key no longer exists in OpenRouter"
                )
            elif orphans:
                reason = f"{plan.reason}; revoking {orphans} untracked key(s) a killed run left"
                plan = replace(plan, sweep=True, reason=reason)
        carry = self._plan_carry(state, plan, now)
        if carry is not None and carry.patch is not None and not plan.carry:
            plan = replace(plan, carry=True)
            if not plan.rotate and plan.reason == "not due":
                plan = replace(plan, reason="not due; " + carryover.why_patch(carry))
        if not plan.mutates:
            return self._finish_quiet(state, plan, usage)

        if self.config.dry_run:
            if plan.rotate:  # the pre-flight only reads: a bad target fails the dry run too
                self.github.preflight(self.config.targets, self.config.secret_name)
            reason = ("would rotate: " if plan.rotate else "would clean up: ") + plan.reason
            return self._result(state, rotated=False, reason=reason, usage=None, dry_run=True)

        self._check_management_key()
        publish_plan = None
        if plan.rotate:
            # Reads every scope's public key: a missing repository, environment or organization,
            # or a token that cannot see it, stops the run here, before any key exists.
            publish_plan = self.github.preflight(self.config.targets, self.config.secret_name)
        try:
            lock = self._acquire(state)
        except LockHeld as held:
            log.info("%s", held)
            return self._result(state, rotated=False, reason=str(held), usage=None, dry_run=False)
        try:
            return self._session(state, plan, publish_plan, lock, carry)
        finally:
            self.lock = None

    def update_state(self, change: Callable[[State], State]) -> State:
        """Apply ``change`` to the stored state in a locked session of its own (``verify``)."""
        state = self.store.load()
        if state is None:
            raise StateError(f"{self.store.where} does not exist yet: nothing to record")
        try:
            lock = self._acquire(state)
        except LockHeld as held:
            raise StateError(f"{held}; run this again after it") from None
        try:
            work = self._begin(state, lock)
            changed = replace(change(work), generation=state.generation + 1)
            return self._save_keeping_wake(changed, state.wake)
        except BaseException:
            self._end_failed_session(None)
            raise
        finally:
            self.lock = None

    def _save_keeping_wake(self, state: State, before: tuple[int, ...] | None) -> State:
        """A write by ``verify``, whose job may not be given the rotation's schedule inputs:
        the gate's hours it computes are added to those the rotation wrote, never put in
        their place (an hour too many costs a job; one too few misses the work)."""
        self._keep_lock()
        if before is None:  # the gate starts every job until a rotation writes the hours
            self.store.save(replace(state, wake=None))
            return replace(state, wake=None)
        hours = set(before) | set(wake_hours(state, self.config, self.now()))
        state = replace(state, wake=tuple(sorted(hours)))
        self.store.save(state)
        return state

    def _acquire(self, state: State) -> locks.Lock:
        self.lock = locks.acquire(
            self.github,
            self.config.state_repository,
            self.config.state_variable,
            state.generation,
            self.now,
            run_url=self.config.run_url,
            ttl=self.lock_ttl,
        )
        return self.lock

    def _begin(self, state: State, lock: locks.Lock) -> State:
        """Start a session: delete the previous session's lock(s). Ours stay until the next
        session: a run that read the state before this one ends must still find them."""
        ours = (*lock.abandoned, lock.name)
        for stale in state.locks:
            if stale not in ours:
                self.github.delete_variable(self.config.state_repository, stale)
        return replace(
            state, secret_name=self.config.secret_name, key_name=self.config.key.name, locks=ours
        )

    # -- one locked session ------------------------------------------------------------------
    def _session(
        self,
        state: State,
        plan: Plan,
        publish_plan: PublishPlan | None,
        lock: locks.Lock,
        carry: CarryPlan | None = None,
    ) -> RunResult:
        work = state
        written = False  # whether this session wrote the state yet
        previous = state.active.hash if state.active else None
        try:
            work = self._begin(state, lock)
            superseded: list[str] = []
            if state.in_flight is not None:
                work, superseded = self._settle(work, state.in_flight)
            swept, listed = self._sweep(work)
            outcomes: tuple[TargetOutcome, ...] = ()
            usage: UsageReport | None = None
            if plan.rotate:
                if publish_plan is None:
                    raise ValueError("a rotation needs the pre-flight's publish plan")
                before = state.in_flight  # a resumed rotation keeps its trigger and reason
                trigger = before.trigger if before else self.config.trigger
                why = before.reason if before else (self.config.reason or plan.reason)
                workspace, guardrails = self._lineage(work, listed)
                created = self._create(work, carry, workspace)
                work = self._record(work, created, trigger, why)
                written = True
                try:
                    # The old key's guardrails before the new key is used anywhere: it never
                    # runs without the policies and budgets its predecessor had.
                    for guardrail in guardrails:
                        self.openrouter.assign_guardrail(guardrail, [created.info.hash])
                    usage = self._verify(work, created)
                except OpenRouterError:
                    # Written nowhere: delete it, and the session's last write clears the record.
                    self._delete_quietly(created.info.hash)
                    work = replace(work, in_flight=None)
                    raise
                outcomes = self._publish(work, publish_plan, created)
                work = self._commit(work, created, superseded, carry)
            elif carry is not None:
                work = self._apply_carry(work, carry)
            work, revoked, problems = self._revoke(work)
            work = self._carry_revoked(work, carry, revoked)
            revoked = tuple(swept) + revoked
            work = self._save(replace(work, generation=state.generation + 1))
        except BaseException:
            self._end_failed_session(work if written else None)
            raise
        if usage is None:
            usage = self._usage(work)
        result = self._result(
            work,
            rotated=plan.rotate,
            reason=plan.reason,
            usage=usage,
            dry_run=False,
            targets=outcomes or None,
            revoked=revoked,
            problems=problems,
            previous=previous if plan.rotate else None,
        )
        return self._alert(work, result)

    def _end_failed_session(self, written: State | None) -> None:
        """Let the next run in at once: the lock of a session that wrote nothing is deleted; a
        session that wrote ends its generation, keeping what it recorded (best effort: the lock
        expires by itself anyway)."""
        lock = self.lock
        if lock is None or lock.lost:  # a lost lock is another run's business now
            return
        try:
            if written is None:
                lock.release()
            else:
                self._save(replace(written, generation=written.generation + 1))
        except Exception:  # noqa: BLE001 - the original failure matters more
            log.warning("could not end the session cleanly; its lock expires by itself")

    # -- the steps, each with its guard ------------------------------------------------------
    def _settle(self, state: State, flight: InFlight) -> tuple[State, list[str]]:
        """What a killed run left in flight (in memory; the record step saves it).

        Guard: only an in-flight record is settled. The rotation is then redone with a new
        key: the recorded one's plaintext is gone, so its step cannot be resumed.
        """
        pending: list[str] = []
        if flight.step == "intent":  # a first-release state: a key may exist, hash unknown
            deleted = self.openrouter.delete_unclaimed(
                self.config.key.name, flight.started_at - CREATE_SKEW, state.known_hashes()
            )
            log.info("settled an interrupted rotation: %d unclaimed key(s) deleted", len(deleted))
        elif flight.step == "created" and flight.key_hash:  # first release: written nowhere
            self.openrouter.delete_key(flight.key_hash)
            log.info("deleted key %s: created by an interrupted run", flight.key_hash[:12])
        elif flight.key_hash:
            # It may sit in some targets: keep it until a newer key has reached all of them.
            pending.append(flight.key_hash)
            retiring = state.retiring + (
                RetiringKey(flight.key_hash, self.now(), None, pending=True),
            )
            state = replace(state, retiring=retiring)
        return replace(state, in_flight=None), pending

    def _sweep(self, state: State) -> tuple[list[str], list[ApiKey]]:
        """Revoke this rotation's own keys (by their mark) that the state does not track.
        Returns the hashes revoked and the listing of every key (the rotation reads the
        active key's workspace from it).

        Guard: only inside a locked session, whose lock proves that no other run is between a
        create and its record; so every such key is an orphan of a killed run or of a lost
        create that landed late, and nobody holds its plaintext.
        """
        if self.lock is None:
            raise ValueError("the sweep needs the lock")
        known = state.known_hashes()
        swept: list[str] = []
        listed = self.openrouter.every_key(include_expired=True)
        for key in listed:
            if key.hash in known or not self._is_own(key.name):
                continue
            log.warning(
                "revoking key %s: made by this rotation, tracked nowhere (a killed run's)",
                key.hash[:12],
            )
            self.openrouter.delete_key(key.hash)
            swept.append(key.hash)
        return swept, listed

    def _create(
        self, state: State, carry: CarryPlan | None = None, workspace: str | None = None
    ) -> CreatedKey:
        """Create the new key, marked as this rotation's, in ``workspace`` (None: the default
        one). Guard: nothing is in flight."""
        if state.in_flight is not None:
            raise ValueError("settle the in-flight rotation before creating a key")
        spec = self.config.key
        expires_at = self.now() + spec.expires_after if spec.expires_after else None
        created = self.openrouter.create_key(
            self._marked_name(),
            limit=carry.new_key_limit if carry is not None else spec.limit,
            limit_reset=spec.limit_reset,
            include_byok_in_limit=spec.include_byok_in_limit,
            expires_at=expires_at,
            workspace_id=workspace,
            known_hashes=state.known_hashes(),
        )
        self.on_secret(created.key)
        log.info("created key %s", created.info.hash[:12])
        return created

    def _record(self, state: State, created: CreatedKey, trigger: str, why: str) -> State:
        """Record the new key's hash as publishing, before it goes anywhere (one write).

        Guard: the key is not on record yet. If the write fails, the key is deleted at once.
        """
        if created.info.hash in state.known_hashes():
            raise ValueError("the new key is already on record")
        now = self.now()
        flight = InFlight("publishing", now, trigger, why, created.info.hash)
        # A create whose answer was lost and whose request lands late makes a marked key that
        # nobody holds: any later run's key listing finds it and a session revokes it.
        recorded = replace(state, in_flight=flight)
        try:
            return self._save(recorded)
        except Exception:
            # Written nowhere and not on record: delete it now rather than leave it to a sweep.
            self._delete_quietly(created.info.hash)
            raise

    def _verify(self, state: State, created: CreatedKey) -> UsageReport:
        """``GET /key`` with the new key, a few times (a brand-new key can take a moment to be
        accepted everywhere). Guard: it is the key on record."""
        if state.in_flight is None or state.in_flight.key_hash != created.info.hash:
            raise ValueError("verify the key that is on record")
        for attempt in range(VERIFY_ATTEMPTS):
            try:
                # The key itself sees every budget layer; OpenRouter names the blocking one.
                me = self.openrouter.current_key(api_key=created.key)
                usage = UsageReport.blocking(me.usage, me.effective_budget)
            except OpenRouterAuthError:
                if attempt == VERIFY_ATTEMPTS - 1:
                    raise
                self.sleep(VERIFY_WAIT)
                continue
            log.info("verified key %s works", created.info.hash[:12])
            return usage
        raise AssertionError("unreachable")  # pragma: no cover

    def _publish(
        self, state: State, publish_plan: PublishPlan, created: CreatedKey
    ) -> tuple[TargetOutcome, ...]:
        """Write the new key to every target, renewing the lock between writes.

        Guard: the key is on record as publishing. If any target failed, the record stays (the
        key may sit in some targets) and RotationFailed carries what stands.
        """
        flight = state.in_flight
        if flight is None or flight.step != "publishing" or flight.key_hash != created.info.hash:
            raise ValueError("publish only the key recorded as publishing")
        results = self.github.publish(publish_plan, created.key, before_each=self._keep_lock)
        outcomes = tuple(
            TargetOutcome(r.target, "failed" if r.status == "failed" else "updated", r.error)
            for r in results
        )
        for outcome in outcomes:
            log.info("%s %s: %s", self.config.secret_name, outcome.target, outcome.status)
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            message = (
                f"the new key reached {len(outcomes) - len(failed)} of {len(outcomes)} targets; "
                "every target still holds a working key and the previous key was kept; "
                "fix the failed targets and run again"
            )
            result = self._result(
                state, rotated=False, reason=message, usage=None, dry_run=False, targets=outcomes
            )
            raise RotationFailed(message, replace(result, ok=False))
        return outcomes

    def _commit(
        self,
        state: State,
        created: CreatedKey,
        superseded: list[str],
        carry: CarryPlan | None = None,
    ) -> State:
        """The new key is active everywhere; older keys start their revoke countdown (in
        memory: the session's last write saves it with the revocation results).

        Guard: the key in flight is the one that was published.
        """
        flight = state.in_flight
        if flight is None or flight.key_hash != created.info.hash:
            raise ValueError("commit only the key that was published")
        now = self.now()
        return replace(
            state,
            retiring=self._supersede(state, now, superseded),
            active=ActiveKey(
                created.info.hash,
                created.info.created_at or now,
                now,
                tuple(t.spec for t in self.config.targets),
            ),
            in_flight=None,
            last_rotation=LastRotation(now, flight.trigger, flight.reason, self.config.run_url),
            carry_over=(
                replace(carry.record, key_hash=created.info.hash)
                if carry is not None and carry.record is not None
                else None
            ),
        )

    def _lineage(self, state: State, listed: list[ApiKey]) -> tuple[str | None, list[str]]:
        """What the active key has beyond the key spec, for its successor: its workspace
        (None: the default one) and the guardrails assigned to it. ``listed``: every key of
        the account (the sweep's listing). A key that is gone has nothing to hand on."""
        if state.active is None:
            return None, []
        old = next((k for k in listed if k.hash == state.active.hash), None)
        if old is None:
            return None, []
        return old.workspace_id, self.openrouter.guardrails_of(old.hash)

    def _supersede(
        self, state: State, now: datetime, pending: list[str]
    ) -> tuple[RetiringKey, ...]:
        revoke_after = self.config.revoke_after
        fresh = [state.active.hash] if state.active else []
        fresh += [r.hash for r in state.retiring if r.pending]
        fresh += [h for h in pending if h not in fresh]
        kept: list[RetiringKey] = []
        for r in state.retiring:
            if r.hash in fresh:
                continue
            if r.revoke_at is None:  # next-rotation mode: this rotation is its end
                r = replace(r, revoke_at=now)
            elif revoke_after is not None and r.revoke_at > now + revoke_after:
                # revoke-after is the longest any old key may outlive this rotation: an
                # emergency rotation with 0 revokes every older key too, not just the last.
                r = replace(r, revoke_at=now + revoke_after)
            kept.append(r)
        for key_hash in fresh:
            revoke_at = now + revoke_after if revoke_after is not None else None
            kept.append(RetiringKey(key_hash, now, revoke_at))
        return tuple(kept)

    def _revoke(self, state: State) -> tuple[State, tuple[str, ...], tuple[str, ...]]:
        """Delete retiring keys whose time has come (in memory until the session's last write).

        Guard: nothing is in flight (a half-published key is pending, never due) and a key is
        due only once a newer key reached every target (its revoke time is set then).
        """
        if state.in_flight is not None:
            raise ValueError("revoke only when nothing is in flight")
        now = self.now()
        revoked: list[str] = []
        problems: list[str] = []
        kept: list[RetiringKey] = []
        for r in state.retiring:
            if r.revoke_at is None or r.revoke_at > now or state.hold:
                kept.append(r)
                continue
            self._keep_lock()
            try:
                gone_now = self.openrouter.delete_key(r.hash)
            except OpenRouterError as exc:
                problems.append(
                    f"could not revoke key {r.hash[:12]} ({exc}); the next run tries again"
                )
                kept.append(replace(r, attempts=r.attempts + 1))
                continue
            log.info("revoked key %s%s", r.hash[:12], "" if gone_now else " (already gone)")
            revoked.append(r.hash)
        return replace(state, retiring=tuple(kept)), tuple(revoked), tuple(problems)

    # -- spend carry-over (the rules are in carryover.py) --------------------------------------
    def _plan_carry(self, state: State, plan: Plan, now: datetime) -> CarryPlan | None:
        """Read what older keys spent, when it matters, and decide the active key's limit."""
        spec = self.config.key
        on = carryover.applies(spec, self.config.spend_carry_over)
        if plan.rotate:
            if not on or state.active is None:
                return None
            older = [state.active.hash] + [r.hash for r in state.retiring]
            spends = self._spends(older)
            new_key = carryover.carry(spec, state.carry_over, "", sum(spends.values()), now)
            return CarryPlan(new_key, spends)
        record = state.carry_over
        if record is None or state.active is None or record.key_hash != state.active.hash:
            return None
        if not on:  # turned off: the active key gets the configured limit back
            return CarryPlan(None, {}, patch=spec.limit)
        window_over = record.resets_at is not None and now >= record.resets_at
        if not state.retiring and not window_over:
            return CarryPlan(record, {})
        spends = self._spends([r.hash for r in state.retiring])
        fresh = carryover.carry(spec, record, record.key_hash, sum(spends.values()), now)
        patch = fresh.limit_now if fresh.limit_now != record.limit_now else None
        return CarryPlan(fresh, spends, patch)

    def _spends(self, hashes: list[str]) -> dict[str, float]:
        include_byok = self.config.key.include_byok_in_limit
        spends: dict[str, float] = {}
        for key_hash in hashes:
            try:
                usage = self.openrouter.get_key(key_hash).usage
            except OpenRouterAuthError as exc:
                raise self._refused(exc) from None
            except OpenRouterError as exc:
                if exc.status != 404:
                    raise
                continue  # deleted outside: its spend can no longer be read
            spends[key_hash] = carryover.spend_in_window(usage, include_byok)
        return spends

    def _apply_carry(self, state: State, carry: CarryPlan) -> State:
        if carry.patch is not None and state.active is not None:
            self.openrouter.update_key(state.active.hash, limit=carry.patch)
            log.info("limit of key %s set to %.2f", state.active.hash[:12], carry.patch)
        return replace(state, carry_over=carry.record)

    def _carry_revoked(
        self, state: State, carry: CarryPlan | None, revoked: tuple[str, ...]
    ) -> State:
        record = state.carry_over
        if carry is not None and record is not None and revoked:
            gone = sum(carry.spends.get(h, 0.0) for h in revoked)
            record = carryover.after_revoke(record, gone)
        return replace(state, carry_over=carryover.settled(record, state))

    # -- helpers -----------------------------------------------------------------------------
    @property
    def _owner(self) -> str:
        return f"{self.config.state_repository}/{self.config.state_variable}"

    def _marked_name(self) -> str:
        return marker.marked_name(
            self.config.credentials.management_key, self._owner, self.config.key.name
        )

    def _is_own(self, name: str) -> bool:
        return marker.is_own(
            self.config.credentials.management_key, self._owner, self.config.key.name, name
        )

    def _keep_lock(self) -> None:
        if self.lock is not None:
            self.lock.keep()

    def _save(self, state: State) -> State:
        self._keep_lock()
        # Every write carries the hours the scheduled workflow must wake up for (wake.py).
        state = replace(state, wake=wake_hours(state, self.config, self.now()))
        self.store.save(state)
        return state

    def _refresh_wake(self, state: State) -> State:
        """A run with nothing to do writes nothing, except when the gate's hours moved: work
        came within a day (about once a rotation interval), or the state predates the field.
        Then one write of the state as it stands (see :meth:`_quiet_write`)."""
        wake = wake_hours(state, self.config, self.now(), overdue=False)
        if self.config.dry_run or state.wake == wake:
            return state
        return self._quiet_write(state, wake=wake)

    def _quiet_write(self, state: State, **changes: Any) -> State:
        """One write of the state as it stands plus ``changes``, in a locked session of its
        own (every state write is under the lock); if another run holds the lock, nothing is
        written (that run writes the state itself). Returns the state as it now stands."""
        try:
            lock = self._acquire(state)
        except LockHeld:
            return state
        try:
            work = self._begin(state, lock)
            written = replace(work, generation=state.generation + 1, **changes)
            self.store.save(written)
        except BaseException:
            self._end_failed_session(None)
            raise
        finally:
            self.lock = None
        return written

    def _delete_quietly(self, key_hash: str) -> None:
        try:
            self.openrouter.delete_key(key_hash)
        except OpenRouterError:
            log.warning("could not delete key %s yet; a later run's sweep does", key_hash[:12])

    def _check_management_key(self) -> None:
        try:
            me = self.openrouter.current_key()
        except OpenRouterAuthError as exc:
            raise self._refused(exc) from None
        if not me.is_management_key:
            raise ConfigError(
                "OPENROUTER_MANAGEMENT_KEY",
                None,
                "this is an ordinary inference key; rotation needs a management "
                "key from https://openrouter.ai/settings/management-keys",
            )

    def _inspect(self, state: State) -> tuple[UsageReport | None, bool, int]:
        """One key listing: the active key's usage, whether it is gone, and how many keys of
        this rotation the state does not track (a run killed between a create and its record
        leaves one; the lock variable it left is not something a quiet run reads)."""
        try:
            workspaces = self.openrouter.workspaces()
            keys = self.openrouter.every_key(workspaces=workspaces)
        except OpenRouterAuthError as exc:
            raise self._refused(exc) from None
        except OpenRouterError as exc:
            log.warning("could not list the keys: %s", exc)
            return None, False, 0
        known = state.known_hashes()
        orphans = sum(1 for k in keys if k.hash not in known and self._is_own(k.name))
        if state.active is None:
            return None, False, orphans
        active = next((k for k in keys if k.hash == state.active.hash), None)
        if active is None:
            return None, True, orphans
        return self._blocking_usage(active, workspaces), False, orphans

    def _usage(self, state: State) -> UsageReport | None:
        if state.active is None:
            return None
        try:
            key = self.openrouter.get_key(state.active.hash)
        except OpenRouterAuthError as exc:
            raise self._refused(exc) from None
        except OpenRouterError as exc:
            log.warning("could not read the active key's usage: %s", exc)
            return None
        return self._blocking_usage(key)

    def _blocking_usage(self, key: ApiKey, workspaces: Iterable[Workspace] = ()) -> UsageReport:
        """The active key's usage against the budget that blocks it first, from the budgets a
        management key can see (the key's plaintext is not at hand between rotations)."""
        try:
            blocking = blocking_budget(self.openrouter.key_budgets(key, self.now(), workspaces))
        except OpenRouterError as exc:
            log.warning("could not read the active key's guardrail budgets: %s", exc)
            blocking = key.own_budget(self.now())
        return UsageReport.blocking(key.usage, blocking)

    @staticmethod
    def _refused(exc: OpenRouterAuthError) -> ConfigError:
        return ConfigError(
            "OPENROUTER_MANAGEMENT_KEY",
            None,
            f"OpenRouter refused it ({exc.detail}); create a management key "
            "at https://openrouter.ai/settings/management-keys",
        )

    def _finish_quiet(self, state: State, plan: Plan, usage: UsageReport | None) -> RunResult:
        state = self._refresh_wake(state)
        result = self._result(
            state, rotated=False, reason=plan.reason, usage=usage, dry_run=self.config.dry_run
        )
        return self._alert(state, result)

    def _alert(self, state: State, result: RunResult) -> RunResult:
        if result.usage is None or not result.usage.over(self.config.usage_alert_threshold):
            return result
        result = replace(result, usage_alert=True)
        url, secret = self.config.alert_webhook_url, self.config.credentials.alert_webhook_secret
        if url and secret and state.active and result.usage and not self.config.dry_run:
            window = result.usage.window(state.active.hash)
            if state.alerted == window:
                log.info("usage alert for this budget window already sent")
                return result
            body = alert_body(
                alert_rotation(url, self.config.secret_name),
                state.active.hash,
                result.usage,
                self.config.usage_alert_threshold,
                self.now(),
            )
            try:
                status = send_alert(url, secret, body)
            except Exception as exc:  # noqa: BLE001 - an alert must not fail the rotation
                problem = f"usage alert not delivered ({type(exc).__name__})"
                return replace(result, ok=False, problems=result.problems + (problem,))
            if status >= 300:
                problem = f"usage alert answered HTTP {status}"
                return replace(result, ok=False, problems=result.problems + (problem,))
            self._mark_alerted(state, window)
        return result

    def _mark_alerted(self, state: State, window: str) -> None:
        """Remember the window alerted for, so later runs in it stay quiet: one locked write
        (:meth:`_quiet_write`). If it cannot be written, at worst a second alert goes out."""
        try:
            self._quiet_write(state, alerted=window)
        except (RotatorError, LockHeld) as exc:
            log.warning("could not record the usage alert: %s", exc)

    def _result(
        self,
        state: State,
        *,
        rotated: bool,
        reason: str,
        usage: UsageReport | None,
        dry_run: bool,
        targets: tuple[TargetOutcome, ...] | None = None,
        revoked: tuple[str, ...] = (),
        problems: tuple[str, ...] = (),
        previous: str | None = None,
        ok: bool = True,
    ) -> RunResult:
        if targets is None:
            targets = tuple(TargetOutcome(t.spec, "unchanged") for t in self.config.targets)
        flight = state.in_flight
        return RunResult(
            rotated=rotated,
            reason=reason,
            key_hash=state.active.hash if state.active else None,
            previous_key_hash=previous,
            revoked=revoked,
            retiring=state.retiring,
            next_rotation_at=next_rotation_at(state, self.config),
            targets=targets,
            usage=usage,
            dry_run=dry_run,
            ok=ok and not problems,
            problems=problems,
            in_flight=f"{flight.step} since {iso(flight.started_at)}" if flight else None,
            last_rotation_at=state.last_rotation.at if state.last_rotation else None,
            active_since=state.active.activated_at if state.active else None,
            verification=state.verification,
            carry_over=state.carry_over,
        )
