"""``verify``: the secret a job reads must hold the active, working key; a failure holds back
every revocation until a verification passes. Against the sandbox, with a simulated clock."""

from __future__ import annotations

import json

import pytest

from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.verify import VerifyResult, verify

from .cli_helpers import run_cli
from .engine import FakeClock, digest, load_state, make_rotator, next_lock_free, secret_now

ENV = "OPENROUTER_API_KEY"


def plaintext_of(box: Sandbox, key_hash: str | None) -> str:
    (record,) = [k for k in box.openrouter.live_keys() if k.hash == key_hash]
    return record.plaintext


def check(box: Sandbox, clock: FakeClock, plaintext: str, **options: object) -> VerifyResult:
    return verify(make_rotator(box, clock, **options), plaintext, ENV)


def test_the_secret_a_job_reads_is_verified_and_recorded(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    clock.advance(minutes=5)
    result = check(sandbox, clock, secret_now(sandbox))
    assert result.to_json() == {
        "verified": True,
        "key_hash": first.key_hash,
        "active_key_hash": first.key_hash,
        "hold": False,
    }
    state = load_state(sandbox)
    assert state is not None and state.verification is not None
    assert state.verification.verified and state.verification.at == clock()
    assert not state.hold and next_lock_free(sandbox)


def test_a_stale_secret_holds_every_revocation_until_a_verification_passes(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    stale = secret_now(sandbox)  # e.g. an environment secret the rotation no longer reaches
    clock.advance(days=1)
    second = make_rotator(sandbox, clock, force=True, revoke_after="6h").run()
    result = check(sandbox, clock, stale)
    assert result.to_json() == {
        "verified": False,
        "key_hash": first.key_hash,
        "active_key_hash": second.key_hash,
        "hold": True,
    }
    assert result.cause == "stale"
    assert f"holds the previous key {first.key_hash[:12]}" in result.message
    assert "an environment secret wins over a repository secret" in result.message

    # Past the revoke time: the scheduled run revokes nothing while the hold stands.
    clock.advance(hours=7)
    sandbox.reset_requests()
    quiet = make_rotator(sandbox, clock, revoke_after="6h").run()
    assert quiet.revoked == () and sandbox.openrouter.works(stale)
    # Nothing to do: no OpenRouter change (at most the gate's hours are rewritten once).
    assert [r for r in sandbox.requests() if r.method != "GET" and r.path.startswith("/api")] == []

    # Fixed: the job now reads the active key; the hold is lifted and the next run revokes.
    assert check(sandbox, clock, secret_now(sandbox)).to_json()["hold"] is False
    done = make_rotator(sandbox, clock, revoke_after="6h").run()
    assert done.revoked == (first.key_hash,) and not sandbox.openrouter.works(stale)


def test_a_revoked_key_fails_with_the_cause(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    old = secret_now(sandbox)
    clock.advance(days=1)
    make_rotator(sandbox, clock, force=True, revoke_after="0").run()
    result = check(sandbox, clock, old)
    assert not result.verified and result.hold and result.cause == "revoked"
    assert result.key_hash is None
    assert result.message.startswith(f"the key in {ENV} does not work (OpenRouter: ")
    assert old not in result.message


def test_a_key_of_another_rotation_is_named(sandbox: Sandbox) -> None:
    clock = FakeClock()
    mine = make_rotator(sandbox, clock).run()
    other = sandbox.openrouter.add_key("octo-org/api staging")
    result = check(sandbox, clock, other)
    assert not result.verified and result.hold and result.cause == "foreign"
    assert result.active_key_hash == mine.key_hash
    assert result.key_hash is not None and result.key_hash != mine.key_hash
    assert "named 'octo-org/api staging'" in result.message


def test_an_empty_variable_is_a_failure_not_a_pass(sandbox: Sandbox) -> None:
    clock = FakeClock()
    make_rotator(sandbox, clock).run()
    result = check(sandbox, clock, "")
    assert not result.verified and result.hold and result.cause == "empty"
    assert f"{ENV} is empty in this job" in result.message


def test_the_hold_survives_a_forced_run_with_revoke_after_zero(sandbox: Sandbox) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    stale = secret_now(sandbox)
    clock.advance(days=1)
    second = make_rotator(sandbox, clock, force=True).run()
    assert check(sandbox, clock, stale).hold

    clock.advance(minutes=10)
    emergency = make_rotator(sandbox, clock, force=True, revoke_after="0").run()
    assert emergency.rotated and emergency.revoked == ()
    assert {r.hash for r in emergency.retiring} == {first.key_hash, second.key_hash}
    assert sandbox.openrouter.works(stale)
    state = load_state(sandbox)
    assert state is not None and state.hold and next_lock_free(sandbox)

    assert check(sandbox, clock, secret_now(sandbox)).verified
    clock.advance(minutes=1)
    after = make_rotator(sandbox, clock, revoke_after="0").run()
    assert set(after.revoked) == {first.key_hash, second.key_hash}
    assert [k.hash for k in sandbox.openrouter.live_keys()] == [emergency.key_hash]


def test_no_state_yet_is_a_failure_that_records_nothing(sandbox: Sandbox) -> None:
    result = check(sandbox, FakeClock(), "sk-or-v1-" + "0" * 64)
    assert not result.verified and not result.recorded and result.cause == "no-active-key"
    assert load_state(sandbox) is None


def test_verify_through_the_cli(sandbox: Sandbox) -> None:
    assert run_cli(sandbox, "rotate").returncode == 0
    good = run_cli(sandbox, "verify", "--json", **{ENV: secret_now(sandbox)})
    assert good.returncode == 0, good.stderr
    assert set(json.loads(good.stdout)) == {"verified", "key_hash", "active_key_hash", "hold"}

    other = sandbox.openrouter.add_key("someone else")
    bad = run_cli(sandbox, "verify", "--key-env", "APP_KEY", APP_KEY=other)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0].startswith("not verified: APP_KEY holds key ")
    assert lines[1].startswith("hold: every revocation is held")
    assert other not in bad.stdout + bad.stderr


@pytest.mark.parametrize("value", ["1BAD", "has-dash", "a b"])
def test_a_bad_key_env_is_a_usage_error(sandbox: Sandbox, value: str) -> None:
    sandbox.reset_requests()
    done = run_cli(sandbox, "verify", "--key-env", value)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"openrouter-rotator: error: invalid --key-env {value!r}")
    assert sandbox.requests() == []


def test_a_verify_without_the_schedule_inputs_keeps_the_gates_hours(sandbox: Sandbox) -> None:
    """The verify job may not be given rotate-at and the interval: the hours the rotation wrote
    for the gate stay, or the gate would skip the tick of a due rotation."""
    from datetime import datetime, timezone

    clock = FakeClock(datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc))
    make_rotator(sandbox, clock, interval_days="1", rotate_at="15:00").run()
    clock.advance(days=1)  # the rotation is due at 15:00 today: the daily run lists its hour
    make_rotator(sandbox, clock, interval_days="1", rotate_at="15:00").run()
    before = load_state(sandbox)
    assert before is not None and before.wake is not None and 15 in before.wake
    assert check(sandbox, clock, secret_now(sandbox)).verified  # default rotate-at 00:00
    after = load_state(sandbox)
    assert after is not None and after.wake is not None
    assert set(before.wake) <= set(after.wake)


def test_a_stale_key_in_another_workspace_is_named(sandbox: Sandbox) -> None:
    """Listings show the default workspace unless asked: the rotation's own workspace is
    searched too, so a stale key there is named as stale, not as unknown."""
    from datetime import datetime, timezone

    from openrouter_rotator.openrouter import OpenRouterClient
    from openrouter_rotator.state import ActiveKey, RetiringKey, State
    from openrouter_rotator.verify import check_key

    team = sandbox.openrouter.add_workspace("Team")
    old = sandbox.openrouter.add_key("octo-org/app ci", workspace_id=team)
    new = sandbox.openrouter.add_key("octo-org/app ci", workspace_id=team)
    now = datetime.now(timezone.utc)
    state = State(
        active=ActiveKey(digest(new), now, now),
        retiring=(RetiringKey(digest(old), now, None),),
    )
    with OpenRouterClient(sandbox.management_key, sandbox.openrouter_url) as client:
        stale = check_key(client, state, old, ENV, "the state")
        right = check_key(client, state, new, ENV, "the state")
    assert stale.cause == "stale" and stale.key_hash == digest(old)
    assert right.verified and right.key_hash == digest(new)
