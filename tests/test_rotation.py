"""The rotation engine end to end against the sandbox, in process, with a simulated clock."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

from openrouter_rotator.errors import ConfigError, GitHubError, RotatorError
from openrouter_rotator.lock import lock_name
from openrouter_rotator.rotation import RotationFailed
from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.sandbox.openrouter import DEFAULT_WORKSPACE
from openrouter_rotator.state import iso

from .engine import (
    KEY_NAME,
    STATE_REPO,
    TARGETS,
    VARIABLE,
    FakeClock,
    assert_converged,
    assert_targets_work,
    digest,
    load_state,
    make_rotator,
)


def writes(box: Sandbox) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in box.requests()
        if r.method != "GET" and r.path.startswith(("/api", "/github"))
    ]


def test_first_run_issues_a_key_everywhere(sandbox: Sandbox) -> None:
    clock = FakeClock()
    result = make_rotator(sandbox, clock).run()
    assert result.rotated and result.reason == "first key issued"
    assert result.previous_key_hash is None
    assert [t.status for t in result.targets] == ["updated"] * 3
    state = assert_converged(sandbox, clock())
    assert result.key_hash == state.active.hash
    assert state.last_rotation is not None and state.last_rotation.trigger == "cli"
    assert result.next_rotation_at is not None
    assert result.next_rotation_at - clock() <= timedelta(days=30)


def test_first_key_is_issued_even_with_auto_rotation_off(sandbox: Sandbox) -> None:
    result = make_rotator(sandbox, auto_rotation=False).run()
    assert result.rotated and result.next_rotation_at is None


def test_a_run_that_is_not_due_writes_nothing(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    clock.advance(hours=1)
    sandbox.reset_requests()
    result = make_rotator(sandbox, clock).run()
    assert not result.rotated and result.reason == "not due"
    assert writes(sandbox) == []
    # the state read and the key listing (every workspace: the active key's usage, and any
    # untracked key of this rotation a killed run left), then the budgets over the key that a
    # management key can see (its workspace's default guardrail, named by the workspace
    # listing already read, and the guardrails assigned to it), so that usage is the budget
    # that blocks first (SPEC §7); nothing more
    default_guardrail = sandbox.openrouter.workspaces[DEFAULT_WORKSPACE].default_guardrail_id
    assert [f"{r.method} {r.path}" for r in sandbox.requests()] == [
        f"GET /github/repos/{STATE_REPO}/actions/variables/{VARIABLE}",
        "GET /api/v1/workspaces",
        "GET /api/v1/keys",
        f"GET /api/v1/guardrails/{default_guardrail}",
        "GET /api/v1/guardrails/assignments/keys",
    ]
    assert result.usage is not None


def test_due_rotation_runs_at_rotate_at_in_the_time_zone(sandbox: Sandbox) -> None:
    clock = FakeClock()
    options = {"interval_days": "1", "rotate_at": "03:00", "timezone": "America/New_York"}
    first = make_rotator(sandbox, clock, **options).run()
    due = first.next_rotation_at
    assert due is not None
    clock.moment = due - timedelta(seconds=1)
    assert not make_rotator(sandbox, clock, **options).run().rotated
    clock.moment = due
    second = make_rotator(sandbox, clock, **options).run()
    assert second.rotated and second.reason == "due"
    assert second.previous_key_hash == first.key_hash


def test_forced_rotation_keeps_the_old_key_for_the_grace_period(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    clock.advance(hours=1)
    second = make_rotator(sandbox, clock, force=True, reason="leak drill").run()
    assert second.rotated and second.reason == "forced: leak drill"
    assert second.previous_key_hash == first.key_hash
    assert [r.hash for r in second.retiring] == [first.key_hash]
    assert second.retiring[0].revoke_at == clock() + timedelta(hours=6)
    assert second.revoked == ()
    assert {k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)} == {
        first.key_hash,
        second.key_hash,
    }

    clock.advance(hours=5, minutes=59)
    assert make_rotator(sandbox, clock).run().revoked == ()
    clock.advance(minutes=1)
    third = make_rotator(sandbox, clock).run()
    assert not third.rotated and third.revoked == (first.key_hash,)
    assert third.retiring == ()
    assert_converged(sandbox, clock())
    assert [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)] == [second.key_hash]


def test_revoke_after_zero_revokes_in_the_same_run(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    second = make_rotator(sandbox, clock, force=True, revoke_after="0").run()
    assert second.revoked == (first.key_hash,)
    assert_converged(sandbox, clock())
    assert len(sandbox.openrouter.live_keys(KEY_NAME)) == 1


def test_next_rotation_mode_keeps_exactly_one_previous_key(sandbox: Sandbox) -> None:
    clock = FakeClock()
    keys = [make_rotator(sandbox, clock, revoke_after="next-rotation").run().key_hash]
    for _ in range(3):
        clock.advance(days=1)
        result = make_rotator(sandbox, clock, revoke_after="next-rotation", force=True).run()
        keys.append(result.key_hash)
        assert [r.hash for r in result.retiring] == [keys[-2]]
        assert result.retiring[0].revoke_at is None
    live = {k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)}
    assert live == set(keys[-2:])
    assert_converged(sandbox, clock())


def test_dry_run_changes_nothing(sandbox: Sandbox) -> None:
    sandbox.reset_requests()
    result = make_rotator(sandbox, dry_run=True).run()
    assert result.dry_run and not result.rotated
    assert result.reason.startswith("would rotate")
    assert writes(sandbox) == []
    assert load_state(sandbox) is None and sandbox.openrouter.live_keys() == []


def test_a_second_run_respects_the_lock(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    state = load_state(sandbox)
    assert state is not None
    holder = lock_name(VARIABLE, state.generation)
    sandbox.github.set_variable(
        STATE_REPO,
        holder,
        json.dumps(
            {
                "schema": "openrouter-rotator/lock",
                "holder": "someone-else",
                "expires_at": iso(clock() + timedelta(minutes=10)),
                "run_url": None,
            }
        ),
    )
    sandbox.reset_requests()
    result = make_rotator(sandbox, clock, force=True).run()
    assert not result.rotated and "another run holds the lock" in result.reason
    assert writes(sandbox) == [f"POST /github/repos/{STATE_REPO}/actions/variables"]  # the 409
    clock.advance(minutes=11)  # a lock expires, so a killed run never blocks later ones
    assert make_rotator(sandbox, clock, force=True).run().rotated
    state = assert_converged(sandbox, clock())
    assert state.locks == (holder, f"{holder}_2")  # the expired slot goes with the next session


def test_a_run_that_read_the_state_before_another_session_ended_never_acts_on_it(
    sandbox: Sandbox,
) -> None:
    """The race of issue 11: B reads the state, A rotates and ends its session, then B takes
    the lock. B contends for the generation it read, whose lock A left in place: B stops."""
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    b = make_rotator(sandbox, clock, force=True)
    stale = b.store.load()
    assert stale is not None
    a = make_rotator(sandbox, clock, force=True).run()
    assert a.rotated
    b.store.load = lambda: stale  # type: ignore[method-assign]  # B's read came first
    result = b.run()
    assert not result.rotated and "another run holds the lock" in result.reason
    state = assert_converged(sandbox, clock())
    assert state.active is not None and state.active.hash == a.key_hash


def test_concurrent_forced_runs_rotate_once_and_leave_no_untracked_key(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    sandbox.latency = 0.01  # let the two runs interleave request by request
    results: list[object] = []

    def run() -> None:
        results.append(make_rotator(sandbox, clock, force=True).run())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rotated = [r for r in results if getattr(r, "rotated", False)]
    assert len(results) == 2 and len(rotated) == 1
    loser = next(r for r in results if r not in rotated)
    assert "another run holds the lock" in getattr(loser, "reason", "")
    state = assert_converged(sandbox, clock())
    live = {k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)}
    assert live <= state.known_hashes()


def test_a_key_left_by_a_killed_run_is_swept_by_its_mark_and_a_hand_made_one_is_not(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    rotator = make_rotator(sandbox, clock)
    rotator.run()
    # What a run killed between the create and the record leaves: a marked, untracked key.
    orphan = sandbox.openrouter.add_key(rotator._marked_name())
    # A forged mark: a real one with its tag's last digit changed (always changed: a tag that
    # happens to end in "00" must not make the forgery a real mark, 1 run in 256).
    real = rotator._marked_name()
    forged = real[:-2] + ("1" if real[-2] == "0" else "0") + "]"
    copied = sandbox.openrouter.add_key(forged)
    by_hand = sandbox.openrouter.add_key(KEY_NAME)
    result = make_rotator(sandbox, clock, force=True).run()
    assert result.rotated
    live = {k.hash for k in sandbox.openrouter.live_keys()}
    assert digest(orphan) not in live
    assert {digest(copied), digest(by_hand)} <= live


def test_a_new_target_gets_a_key_by_rotation(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    more = [*TARGETS, "dependabot:octo-org/app"]
    result = make_rotator(sandbox, clock, targets=more).run()
    assert result.rotated and "dependabot:octo-org/app" in result.reason
    assert_converged(sandbox, clock(), more)


def test_active_key_deleted_outside_is_replaced(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    assert first.key_hash
    sandbox.openrouter.keys.pop(first.key_hash)
    result = make_rotator(sandbox, clock).run()
    assert result.rotated and "no longer exists" in result.reason
    assert_converged(sandbox, clock())


def test_an_inference_key_is_refused_before_anything_changes(sandbox: Sandbox) -> None:
    plain = sandbox.openrouter.add_key("inference")
    with pytest.raises(ConfigError, match="management key"):
        make_rotator(sandbox, env={"OPENROUTER_MANAGEMENT_KEY": plain}).run()
    assert load_state(sandbox) is None
    assert [k.name for k in sandbox.openrouter.live_keys()] == ["inference"]


def test_a_missing_environment_stops_the_run_before_a_key_exists(sandbox: Sandbox) -> None:
    with pytest.raises(GitHubError, match="staging"):
        make_rotator(sandbox, targets=["repo:octo-org/app", "env:octo-org/app/staging"]).run()
    assert sandbox.openrouter.live_keys() == []
    assert load_state(sandbox) is None


def test_read_only_token_stops_the_run_with_the_fix(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    before = {k.hash for k in sandbox.openrouter.live_keys()}
    with pytest.raises(GitHubError) as info:
        make_rotator(
            sandbox, clock, force=True, env={"GITHUB_TOKEN": sandbox.github.readonly_token}
        ).run()
    assert "GITHUB_TOKEN" in str(info.value) or "permission" in str(info.value).lower()
    assert {k.hash for k in sandbox.openrouter.live_keys()} == before
    assert_targets_work(sandbox)


def test_a_failed_target_keeps_every_target_working_and_the_next_run_converges(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    sandbox.fault(
        r"/environments/production/secrets/OPENROUTER_API_KEY$",
        method="PUT",
        status=500,
        times=None,
    )
    with pytest.raises(RotationFailed) as info:
        make_rotator(sandbox, clock, force=True).run()
    statuses = {t.target: t.status for t in info.value.result.targets}
    assert statuses["env:octo-org/app/production"] == "failed"
    assert statuses["repo:octo-org/app"] == "updated"
    assert_targets_work(sandbox)
    assert first.key_hash in {k.hash for k in sandbox.openrouter.live_keys()}
    state = load_state(sandbox)
    assert state is not None and state.in_flight is not None

    sandbox.clear_faults()
    clock.advance(minutes=5)
    result = make_rotator(sandbox, clock).run()
    assert result.rotated and "did not complete" in result.reason
    state = assert_converged(sandbox, clock())
    # both the old active key and the half-published one wait out the grace period
    assert len(state.retiring) == 2
    assert all(r.revoke_at == clock() + timedelta(hours=6) for r in state.retiring)
    clock.advance(hours=6)
    make_rotator(sandbox, clock).run()
    assert [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)] == [state.active.hash]


def test_a_new_key_that_does_not_work_is_deleted(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    sandbox.fault(r"/api/v1/key$", status=401, times=3)
    with pytest.raises(RotatorError):
        make_rotator(sandbox, clock, force=True).run()
    assert [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)] == [first.key_hash]
    state = assert_converged(sandbox, clock())
    assert state.active is not None and state.active.hash == first.key_hash


def test_revoke_failure_is_retried_by_the_next_run(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    sandbox.fault(r"/api/v1/keys/[0-9a-f]+$", method="DELETE", status=503, times=None)
    result = make_rotator(sandbox, clock, force=True, revoke_after="0").run()
    assert result.rotated and not result.ok and result.revoked == ()
    assert "next run" in result.problems[0]
    sandbox.clear_faults()
    again = make_rotator(sandbox, clock, revoke_after="0").run()
    assert again.revoked == (first.key_hash,)
    assert_converged(sandbox, clock())


def test_an_emergency_rotation_revokes_every_older_key(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    second = make_rotator(sandbox, clock, force=True).run()  # first retires for 6h
    third = make_rotator(sandbox, clock, force=True, revoke_after="0").run()
    assert set(third.revoked) == {first.key_hash, second.key_hash}
    assert third.retiring == ()
    assert [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)] == [third.key_hash]


def test_status_reports_what_a_scheduled_run_would_find(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    assert make_rotator(sandbox, clock, force=True).status().reason == "not due"


def test_a_create_that_lands_late_is_swept_by_a_later_run(sandbox: Sandbox) -> None:
    """The request reaches OpenRouter only after the client gave up and had settled the lost
    answer by listing: the key it makes is held by nobody. The next run's key listing finds it
    by its mark, and a locked session revokes it."""
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    sandbox.fault(r"/api/v1/keys$", method="POST", latency=1.2)  # before the handler runs
    result = make_rotator(sandbox, clock, force=True, revoke_after="0", timeout=0.5).run()
    assert result.rotated
    time.sleep(1.0)  # the late request lands
    live = {k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)}
    assert len(live) == 2 and result.key_hash in live

    clock.advance(minutes=5)
    later = make_rotator(sandbox, clock).run()
    assert not later.rotated and "untracked" in later.reason
    assert len(later.revoked) == 1 and later.revoked[0] != result.key_hash
    assert [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)] == [result.key_hash]
    assert_converged(sandbox, clock())
