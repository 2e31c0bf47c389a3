"""A rotated key keeps what the old key had beyond the key spec (SPEC §7): its workspace and its
guardrail assignments. Against the sandbox, whose answers the official SDK validates."""

from __future__ import annotations

import pytest

from openrouter_rotator.errors import (
    OpenRouterPolicyError,
    OpenRouterResponseError,
    RotatorError,
)
from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.sandbox.openrouter import DEFAULT_WORKSPACE

from .engine import (
    FakeClock,
    assert_converged,
    assert_targets_work,
    load_state,
    make_rotator,
    target_values,
)


def first_key_moved(box: Sandbox, clock: FakeClock) -> tuple[str, str, str]:
    """Issue the first key, then do what an admin does in the dashboard: move it to a team
    workspace and put it under a guardrail. Returns (key hash, workspace, guardrail)."""
    make_rotator(box, clock).run()
    state = load_state(box)
    assert state is not None and state.active is not None
    team = box.openrouter.add_workspace("Team")
    guardrail = box.openrouter.add_guardrail(
        "team cap", workspace_id=team, limit_usd=5.0, reset_interval="daily"
    )
    record = box.openrouter.keys[state.active.hash]
    record.workspace_id = team
    box.openrouter.assign(guardrail, record.hash)
    return record.hash, team, guardrail


def test_the_new_key_is_made_in_the_old_keys_workspace_under_its_guardrails(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    old, team, guardrail = first_key_moved(sandbox, clock)
    result = make_rotator(sandbox, clock, force=True).run()
    assert result.rotated and result.previous_key_hash == old
    new = sandbox.openrouter.keys[result.key_hash]
    assert new.workspace_id == team
    assert sandbox.openrouter.guardrails_of(new.hash, ids=True) == [guardrail]
    # The guardrail's budget applies to the new key from its first request on.
    assert [b["scope"] for b in sandbox.openrouter.budgets(new)] == ["api_key"]
    assert_converged(sandbox, clock())


def test_a_first_key_goes_to_the_default_workspace_without_guardrails(sandbox: Sandbox) -> None:
    result = make_rotator(sandbox, FakeClock()).run()
    new = sandbox.openrouter.keys[result.key_hash]
    assert new.workspace_id == DEFAULT_WORKSPACE
    assert sandbox.openrouter.guardrails_of(new.hash) == []


def test_a_failed_assignment_leaves_no_unguarded_key_anywhere(sandbox: Sandbox) -> None:
    clock = FakeClock()
    old, _, _ = first_key_moved(sandbox, clock)
    sandbox.fault(r"/guardrails/[^/]+/assignments/keys$", method="POST", status=500, times=None)
    with pytest.raises(RotatorError):
        make_rotator(sandbox, clock, force=True).run()
    # The new key was never published and is gone; every target still holds the old one.
    assert [k.hash for k in sandbox.openrouter.live_keys()] == [old]
    assert_targets_work(sandbox)
    sandbox.clear_faults()
    result = make_rotator(sandbox, clock, force=True).run()
    assert result.rotated and sandbox.openrouter.guardrails_of(result.key_hash) != []


def test_an_old_key_that_is_gone_hands_nothing_on(sandbox: Sandbox) -> None:
    clock = FakeClock()
    old, _, _ = first_key_moved(sandbox, clock)
    sandbox.openrouter.keys.pop(old)  # deleted in the dashboard
    result = make_rotator(sandbox, clock, force=True).run()
    assert sandbox.openrouter.keys[result.key_hash].workspace_id == DEFAULT_WORKSPACE


# -- account policies and answers read defensively (SPEC §7, issue 12) ----------------------


def test_an_account_that_requires_expiry_is_told_to_set_expires_after(sandbox: Sandbox) -> None:
    sandbox.openrouter.require_expiration = True
    with pytest.raises(OpenRouterPolicyError) as raised:
        make_rotator(sandbox, FakeClock()).run()
    assert "expires-after" in str(raised.value)
    assert sandbox.openrouter.live_keys() == []
    result = make_rotator(sandbox, FakeClock(), expires_after="90d").run()
    assert result.rotated and sandbox.openrouter.keys[result.key_hash].expires_at is not None


def test_an_ip_allowlist_is_named_not_taken_for_a_wrong_key(sandbox: Sandbox) -> None:
    sandbox.openrouter.ip_allowlist = ["203.0.113.7"]
    with pytest.raises(RotatorError) as raised:
        make_rotator(sandbox, FakeClock()).run()
    text = str(raised.value)
    assert "allowlist" in text and "use an OpenRouter management key" not in text
    assert sandbox.openrouter.live_keys() == []


def test_a_create_answer_without_the_key_publishes_nothing_and_is_swept() -> None:
    """If OpenRouter moved the plaintext, the run stops before any target is touched; the key
    it made is held by nobody and the next run deletes it. (A sandbox of its own: the answer
    is off the SDK's contract on purpose.)"""
    with Sandbox() as box:
        clock = FakeClock()
        first = make_rotator(box, clock).run()
        assert first.key_hash is not None
        before = target_values(box)
        box.fault(
            r"/api/v1/keys$",
            method="POST",
            status=201,
            when="after",
            body={"data": {"hash": "0" * 64, "name": "moved"}, "api_key": "elsewhere"},
        )
        with pytest.raises(OpenRouterResponseError, match="nothing was published"):
            make_rotator(box, clock, force=True).run()
        assert target_values(box) == before
        assert len(box.openrouter.live_keys()) == 2  # the old key and the one nobody holds
        assert_targets_work(box)
        clock.advance(minutes=1)
        make_rotator(box, clock).run()
        live = {k.hash for k in box.openrouter.live_keys()}
        state = assert_converged(box, clock())
        assert live == {state.active.hash} | {r.hash for r in state.retiring}
