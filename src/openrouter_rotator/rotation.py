"""The rotation step machine: intent -> create -> record -> verify -> publish -> commit -> revoke.

Each step checks whether its work is already done, so a run that resumes after a crash never
repeats it (the shape of the AWS Secrets Manager rotation templates). The order of SPEC §2 is
never broken: a key that may have reached any target is deleted only after a newer key has
reached *all* targets and its revoke time has come; a key that provably reached none (its hash
unknown, or recorded but never published) is deleted as an orphan.

A run with nothing to do reads the state and the active key's usage and writes nothing.

The engine knows no door: it takes a :class:`~openrouter_rotator.config.Config` and clients,
and returns a :class:`RunResult` that the CLI and the action render.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from . import carryover, schedule
from .carryover import CarryPlan
from .config import Config
from .errors import (
    ConfigError,
    OpenRouterAuthError,
    OpenRouterError,
    RotatorError,
    StateError,
)
from .github import GitHubClient, PublishPlan
from .openrouter import CREATE_SKEW, OpenRouterClient
from .state import (
    SWEEP_DELAY,
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
    new_holder,
    with_lease,
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


class RotationFailed(RotatorError):
    """The run failed after it started changing things; the result says what stands."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Plan:
    """What a run is going to do, decided from the state alone (pure, tested without I/O)."""

    rotate: bool
    reason: str
    cleanup: bool
    revoke: tuple[RetiringKey, ...]
    sweep: bool = False  # look for keys a late create made (see State.sweep_since)
    carry: bool = False  # the active key's limit changes (spend carry-over, see carryover.py)

    @property
    def mutates(self) -> bool:
        return self.rotate or self.cleanup or bool(self.revoke) or self.sweep or self.carry


def plan_run(state: State, config: Config, now: datetime) -> Plan:
    plan = _plan(state, config, now)
    if state.sweep_since is not None and now >= state.sweep_since + SWEEP_DELAY:
        plan = replace(plan, sweep=True)
    return plan


def _plan(state: State, config: Config, now: datetime) -> Plan:
    due_revokes = tuple(r for r in state.retiring if r.revoke_at is not None and r.revoke_at <= now)
    if state.hold:  # a failed verification: no key is revoked until one passes
        due_revokes = ()
    cleanup = state.in_flight is not None
    targets = tuple(t.spec for t in config.targets)
    if state.in_flight is not None:
        reason = f"finishing a {state.in_flight.trigger} rotation that did not complete"
        return Plan(True, reason, cleanup, due_revokes)
    if state.active is None:
        return Plan(True, "first key issued", cleanup, due_revokes)
    if config.force:
        return Plan(
            True, "forced" + (f": {config.reason}" if config.reason else ""), cleanup, due_revokes
        )
    added = [t for t in targets if t not in state.active.targets]
    if state.active.targets and added:
        return Plan(True, f"new target {added[0]} has no key yet", cleanup, due_revokes)
    last = state.last_rotation.at if state.last_rotation else state.active.activated_at
    sched = config.schedule
    if schedule.is_due(
        now, last, sched.interval_days, sched.rotate_at, sched.timezone, sched.auto_rotation
    ):
        return Plan(True, "due", cleanup, due_revokes)
    reason = "auto rotation is off" if not sched.auto_rotation else "not due"
    if due_revokes:
        reason += f"; revoking {len(due_revokes)} retired key(s) whose time has come"
    return Plan(False, reason, cleanup, due_revokes)


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
    holder: str = field(default_factory=new_holder)

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
            sleep=sleep,
        )
        github = GitHubClient(
            config.credentials.github_token,
            config.github_api_url,
            timeout=config.http_timeout,
            write_interval=config.github_write_interval,
            sleep=sleep,
        )
        store = VariableStore(github, config.state_repository, config.state_variable)
        return cls(config, openrouter, github, store, now=now, on_secret=on_secret, sleep=sleep)

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
        lease = state.lease_held_by_other(self.holder, now)
        if lease is not None:
            reason = f"another run holds the lease until {iso(lease.expires_at)}; nothing done"
            return self._result(
                state, rotated=False, reason=reason, usage=None, dry_run=self.config.dry_run
            )
        plan = plan_run(state, self.config, now)

        usage: UsageReport | None = None
        if not plan.rotate and state.active is not None:
            usage, gone = self._usage_or_gone(state)
            if gone:
                plan = replace(
                    plan, rotate=True, reason="the active key no longer exists in OpenRouter"
                )
        carry = self._plan_carry(state, plan, now)
        if carry is not None and carry.patch is not None and not plan.carry:
            plan = replace(plan, carry=True)
            if not plan.rotate and plan.reason == "not due":
                plan = replace(plan, reason="not due; carrying spend over to the active key")
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
        return self._mutate(state, plan, publish_plan, carry)

    def update_state(self, change: Callable[[State], State]) -> State:
        """Apply ``change`` to the stored state under the lease (for ``verify``'s record)."""
        state = self.store.load()
        if state is None:
            raise StateError(f"{self.store.where} does not exist yet: nothing to record")
        now = self.now()
        lease = state.lease_held_by_other(self.holder, now)
        if lease is not None:
            raise StateError(
                f"another run holds the lease until {iso(lease.expires_at)}; run this again "
                "after it"
            )
        self._save_keeping_wake(with_lease(state, self.holder, now), state.wake)
        try:
            self._confirm_lease()
            return self._save_keeping_wake(replace(change(state), lease=None), state.wake)
        except BaseException:
            self._release_lease_quietly()
            raise

    def _save_keeping_wake(self, state: State, before: tuple[int, ...] | None) -> State:
        """A write by ``verify``, whose job may not be given the rotation's schedule inputs:
        the gate's hours it computes are added to those the rotation wrote, never put in
        their place (an hour too many costs a job; one too few misses the work)."""
        if before is None:  # the gate starts every job until a rotation writes the hours
            self.store.save(replace(state, wake=None))
            return replace(state, wake=None)
        hours = set(before) | set(wake_hours(state, self.config, self.now()))
        state = replace(state, wake=tuple(sorted(hours)))
        self.store.save(state)
        return state

    # -- the steps ---------------------------------------------------------------------------
    def _mutate(
        self,
        state: State,
        plan: Plan,
        publish_plan: PublishPlan | None,
        carry: CarryPlan | None = None,
    ) -> RunResult:
        now = self.now()
        state = replace(state, secret_name=self.config.secret_name, key_name=self.config.key.name)
        in_flight_before = state.in_flight
        if plan.rotate and in_flight_before is None:
            # One write takes the lease and records the intent (step 1).
            state = self._save(
                with_lease(
                    replace(state, in_flight=self._intent(now, plan.reason)), self.holder, now
                )
            )
        else:
            state = self._save(with_lease(state, self.holder, now))
        try:
            self._confirm_lease()
            superseded: list[str] = []
            if in_flight_before is not None:
                state, superseded = self._clean_up(state, in_flight_before)
                # plan_run always rotates after a clean-up: the interrupted rotation is redone.
                state = self._save(
                    replace(state, in_flight=self._intent(now, plan.reason, in_flight_before))
                )
            if plan.sweep and state.sweep_since is not None:
                # Before any new key exists, so only keys nobody can hold are in reach; the
                # cleared mark is saved by the next write.
                self.openrouter.delete_unclaimed(
                    self.config.key.name, state.sweep_since, state.known_hashes()
                )
                state = replace(state, sweep_since=None)
            outcomes: tuple[TargetOutcome, ...] = ()
            rotated = False
            previous = state.active.hash if state.active else None
            usage: UsageReport | None = None
            if plan.rotate:
                state, outcomes, usage = self._rotate(state, publish_plan, superseded, carry)
                rotated = True
            elif carry is not None:
                state = self._apply_carry(state, carry)
            revoked: tuple[str, ...] = ()
            problems: tuple[str, ...] = ()
            if state.lease is not None:  # the commit released it when nothing was due
                state, revoked, problems = self._revoke(state)
                state = self._carry_revoked(state, carry, revoked)
                state = self._save(replace(state, lease=None))
        except BaseException:
            self._release_lease_quietly()
            raise
        if usage is None:
            usage = self._usage(state)
        result = self._result(
            state,
            rotated=rotated,
            reason=plan.reason,
            usage=usage,
            dry_run=False,
            targets=outcomes or None,
            revoked=revoked,
            problems=problems,
            previous=previous if rotated else None,
        )
        return self._alert(state, result)

    def _intent(self, now: datetime, reason: str, before: InFlight | None = None) -> InFlight:
        trigger = before.trigger if before else self.config.trigger
        why = before.reason if before else (self.config.reason or reason)
        return InFlight(uuid.uuid4().hex, "intent", now, trigger, why)

    def _clean_up(self, state: State, flight: InFlight) -> tuple[State, list[str]]:
        """Settle what a killed run left (not saved yet) and the keys that await a newer one."""
        pending: list[str] = []
        if flight.step == "intent":
            known = state.known_hashes()
            deleted = self.openrouter.delete_unclaimed(
                self.config.key.name, flight.started_at - CREATE_SKEW, known
            )
            log.info(
                "cleaned up an interrupted rotation: %d unclaimed key(s) deleted", len(deleted)
            )
        elif flight.step == "created" and flight.key_hash:
            self.openrouter.delete_key(flight.key_hash)
            log.info(
                "deleted key %s: created by an interrupted run, never written anywhere",
                flight.key_hash[:12],
            )
        elif flight.key_hash:
            # It may sit in some targets: keep it until a newer key has reached all of them.
            pending.append(flight.key_hash)
            retiring = state.retiring + (
                RetiringKey(flight.key_hash, self.now(), None, pending=True),
            )
            state = replace(state, retiring=retiring)
        return replace(state, in_flight=None), pending

    def _rotate(
        self,
        state: State,
        publish_plan: PublishPlan | None,
        superseded: list[str],
        carry: CarryPlan | None = None,
    ) -> tuple[State, tuple[TargetOutcome, ...], UsageReport]:
        spec = self.config.key
        flight = state.in_flight
        if flight is None or publish_plan is None:  # pragma: no cover - run() sets both first
            raise RotatorError("internal error: rotation without an intent or a pre-flight")
        expires_at = self.now() + spec.expires_after if spec.expires_after else None
        created = self.openrouter.create_key(
            spec.name,
            limit=carry.new_key_limit if carry is not None else spec.limit,
            limit_reset=spec.limit_reset,
            include_byok_in_limit=spec.include_byok_in_limit,
            expires_at=expires_at,
            known_hashes=state.known_hashes(),
        )
        self.on_secret(created.key)
        new_hash = created.info.hash
        log.info("created key %s", new_hash[:12])
        try:
            recorded = replace(state, in_flight=replace(flight, step="created", key_hash=new_hash))
            if created.uncertain:
                recorded = replace(recorded, sweep_since=flight.started_at - CREATE_SKEW)
            state = self._save(recorded)
        except RotatorError:
            # Written nowhere and not on record: delete it now rather than leave it to the
            # next run's listing.
            self._delete_quietly(new_hash)
            raise
        try:
            usage = self._verify(created.key)
        except OpenRouterError:
            self.openrouter.delete_key(new_hash)
            self._save(replace(state, in_flight=None))
            raise
        log.info("verified key %s works", new_hash[:12])
        flight = replace(flight, step="publishing", key_hash=new_hash)
        state = self._save(replace(state, in_flight=flight))

        results = self.github.publish(publish_plan, created.key)
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
            self._save(replace(state, lease=None))
            result = self._result(
                state,
                rotated=False,
                reason=message,
                usage=None,
                dry_run=False,
                targets=outcomes,
                ok=False,
            )
            raise RotationFailed(message, result)

        # Step 6: the new key is active everywhere; older keys start their revoke countdown.
        now = self.now()
        state = replace(
            state,
            retiring=self._supersede(state, now, superseded),
            active=ActiveKey(
                new_hash,
                created.info.created_at or now,
                now,
                tuple(t.spec for t in self.config.targets),
            ),
            in_flight=None,
            last_rotation=LastRotation(now, flight.trigger, flight.reason, self.config.run_url),
            carry_over=replace(carry.record, key_hash=new_hash) if carry and carry.record else None,
        )
        if state.hold or not any(
            r.revoke_at is not None and r.revoke_at <= now for r in state.retiring
        ):
            # Nothing to revoke in this run (the default revoke-after is 6h): the commit write
            # releases the lease too, rather than a second write doing only that.
            state = replace(state, lease=None)
        state = self._save(state)
        return state, outcomes, usage

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

    def _verify(self, plaintext: str) -> UsageReport:
        for attempt in range(VERIFY_ATTEMPTS):
            try:
                return UsageReport.of(self.openrouter.current_key(api_key=plaintext).usage)
            except OpenRouterAuthError:
                if attempt == VERIFY_ATTEMPTS - 1:
                    raise
                self.sleep(VERIFY_WAIT)
        raise AssertionError("unreachable")  # pragma: no cover

    def _revoke(self, state: State) -> tuple[State, tuple[str, ...], tuple[str, ...]]:
        now = self.now()
        revoked: list[str] = []
        problems: list[str] = []
        kept: list[RetiringKey] = []
        for r in state.retiring:
            if r.revoke_at is None or r.revoke_at > now or state.hold:
                kept.append(r)
                continue
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
    def _save(self, state: State) -> State:
        # Every write carries the hours the scheduled workflow must wake up for (wake.py).
        state = replace(state, wake=wake_hours(state, self.config, self.now()))
        self.store.save(state)
        return state

    def _refresh_wake(self, state: State) -> None:
        """A run with nothing to do writes nothing, except when the gate's hours moved: work
        came within a day (about once a rotation interval), or the state predates the field.
        Then one write of the state as it stands, re-read first so that a run that started
        meanwhile is not overwritten."""
        wake = wake_hours(state, self.config, self.now(), overdue=False)
        if self.config.dry_run or state.wake == wake:
            return
        if self.store.load() != state:
            return
        self.store.save(replace(state, wake=wake))

    def _confirm_lease(self) -> None:
        """Variables have no compare-and-swap: read back, and step aside if another run won."""
        current = self.store.load()
        if current is None or current.lease is None or current.lease.holder != self.holder:
            raise RotatorError(
                "another run took the lease at the same moment; this run changed "
                "nothing and stops (the other run does the work)"
            )

    def _delete_quietly(self, key_hash: str) -> None:
        try:
            self.openrouter.delete_key(key_hash)
        except OpenRouterError:
            log.warning("could not delete key %s yet; the next run does", key_hash[:12])

    def _release_lease_quietly(self) -> None:
        try:
            current = self.store.load()
            if current is not None and current.lease and current.lease.holder == self.holder:
                self.store.save(replace(current, lease=None))
        except Exception:  # noqa: BLE001 - the original failure matters more; the lease expires
            log.warning("could not release the lease; it expires by itself")

    def _check_management_key(self) -> None:
        try:
            me = self.openrouter.current_key()
        except OpenRouterAuthError as exc:
            raise ConfigError(
                "OPENROUTER_MANAGEMENT_KEY",
                None,
                f"OpenRouter refused it ({exc.detail}); create a management key "
                "at https://openrouter.ai/settings/management-keys",
            ) from None
        if not me.is_management_key:
            raise ConfigError(
                "OPENROUTER_MANAGEMENT_KEY",
                None,
                "this is an ordinary inference key; rotation needs a management "
                "key from https://openrouter.ai/settings/management-keys",
            )

    def _usage(self, state: State) -> UsageReport | None:
        return self._usage_or_gone(state)[0]

    def _usage_or_gone(self, state: State) -> tuple[UsageReport | None, bool]:
        if state.active is None:
            return None, False
        try:
            key = self.openrouter.get_key(state.active.hash)
        except OpenRouterAuthError as exc:
            raise ConfigError(
                "OPENROUTER_MANAGEMENT_KEY",
                None,
                f"OpenRouter refused it ({exc.detail}); a management key is "
                "needed: https://openrouter.ai/settings/management-keys",
            ) from None
        except OpenRouterError as exc:
            if exc.status == 404:
                return None, True
            log.warning("could not read the active key's usage: %s", exc)
            return None, False
        return UsageReport.of(key.usage), False

    def _finish_quiet(self, state: State, plan: Plan, usage: UsageReport | None) -> RunResult:
        self._refresh_wake(state)
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
        return result

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
