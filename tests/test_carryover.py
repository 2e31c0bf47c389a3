"""Spend carry-over: a rotation never resets the spending cap.

The rules as pure functions (windows, cents), then the engine against the sandbox with one
simulated clock for both the engine and the OpenRouter stand-in, whose usage windows (UTC day,
week from Monday, month) follow it: keys spend, the clock crosses resets, runs happen.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrouter_rotator.carryover import cents_down
from openrouter_rotator.openrouter import OpenRouterClient
from openrouter_rotator.openrouter import window_reset as window_end
from openrouter_rotator.sandbox import Sandbox

from .cli_helpers import run_cli
from .engine import FakeClock, load_state, make_rotator, secret_now

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reset", "now", "end"),
    [
        ("daily", "2026-01-20 13:45", "2026-01-21 00:00"),
        ("daily", "2026-01-31 23:59:59", "2026-02-01 00:00"),
        ("weekly", "2026-01-20 13:45", "2026-01-26 00:00"),  # a Tuesday -> next Monday
        ("weekly", "2026-01-26 00:00", "2026-02-02 00:00"),  # Monday 00:00 starts a week
        ("weekly", "2026-01-25 23:59", "2026-01-26 00:00"),  # Sunday
        ("monthly", "2026-01-20 13:45", "2026-02-01 00:00"),
        ("monthly", "2026-12-31 23:00", "2027-01-01 00:00"),
        ("monthly", "2028-02-29 12:00", "2028-03-01 00:00"),
        (None, "2026-01-20 13:45", None),  # a lifetime limit never resets
    ],
)
def test_windows_end_at_openrouters_utc_resets(
    reset: str | None, now: str, end: str | None
) -> None:
    assert window_end(reset, at(now)) == (at(end) if end else None)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_window_ends_after_now_within_its_length(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    for reset, longest in (("daily", 1), ("weekly", 7), ("monthly", 31)):
        end = window_end(reset, now)
        assert end is not None and now < end <= now + timedelta(days=longest)
        assert (end.hour, end.minute, end.second) == (0, 0, 0)
    weekly, monthly = window_end("weekly", now), window_end("monthly", now)
    assert weekly is not None and weekly.weekday() == 0
    assert monthly is not None and monthly.day == 1


@pytest.mark.parametrize(
    ("left", "cents"),
    [("61.33", 61.33), ("61.339", 61.33), ("0.009", 0.0), ("-5", 0.0), ("100", 100.0)],
)
def test_whole_cents_rounded_down_never_below_zero(left: str, cents: float) -> None:
    assert cents_down(Decimal(left)) == cents


# -- the engine ------------------------------------------------------------------------------------


def limit_of(box: Sandbox, key_hash: str | None) -> float | None:
    (record,) = [k for k in box.openrouter.live_keys() if k.hash == key_hash]
    return record.limit


def test_a_monthly_cap_holds_across_a_rotation_and_is_restored_after_the_reset(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock(at("2026-01-10 12:00"))
    sandbox.openrouter.clock = clock
    options = {"limit": "100", "limit_reset": "monthly"}
    first = make_rotator(sandbox, clock, **options).run()
    assert limit_of(sandbox, first.key_hash) == 100
    sandbox.openrouter.spend(first.key_hash, 38.679)

    clock.moment = at("2026-01-20 12:00")
    second = make_rotator(sandbox, clock, force=True, **options).run()
    assert limit_of(sandbox, second.key_hash) == 61.32  # 100 - 38.679, whole cents down

    # The old key is live for its 6 h of grace, and spends: the next run lowers the new cap.
    clock.moment = at("2026-01-20 14:00")
    sandbox.openrouter.spend(first.key_hash, 5)
    during = make_rotator(sandbox, clock, **options).run()
    assert limit_of(sandbox, second.key_hash) == 56.32
    assert during.reason == "not due; carrying older keys' spend over to the active key's limit"
    state = load_state(sandbox)
    assert state is not None and state.carry_over is not None
    assert state.carry_over.limit_now == 56.32
    assert state.carry_over.resets_at == at("2026-02-01 00:00")

    # The old key is revoked; what it spent still counts until the month ends.
    clock.moment = at("2026-01-20 18:17")
    revoke = make_rotator(sandbox, clock, **options).run()
    assert revoke.revoked == (first.key_hash,)
    assert limit_of(sandbox, second.key_hash) == 56.32
    state = load_state(sandbox)
    assert state is not None and state.carry_over is not None
    assert state.carry_over.spent_gone == pytest.approx(43.679)

    # The new key can spend what is left of the month's 100, and no more.
    assert sandbox.openrouter.spend(second.key_hash, 56.32)
    assert not sandbox.openrouter.spend(second.key_hash, 0.01)

    # A run later in January changes nothing and writes nothing.
    clock.moment = at("2026-01-25 09:17")
    sandbox.reset_requests()
    quiet = make_rotator(sandbox, clock, **options).run()
    assert quiet.reason == "not due"
    assert [r for r in sandbox.requests() if r.method != "GET"] == []

    # The first run after the reset gives the key the full limit back.
    clock.moment = at("2026-02-01 00:17")
    restored = make_rotator(sandbox, clock, **options).run()
    assert restored.reason == (
        "not due; the limit's window has reset: the active key gets its full limit back"
    )
    assert limit_of(sandbox, second.key_hash) == 100
    assert restored.carry_over is None
    state = load_state(sandbox)
    assert state is not None and state.carry_over is None
    assert sandbox.openrouter.spend(second.key_hash, 0.01)


@pytest.mark.parametrize("reset", ["daily", "weekly", "monthly"])
def test_the_restore_time_is_the_reset_openrouter_reports_in_budgets(
    sandbox: Sandbox, reset: str
) -> None:
    """The management API does not return ``budgets`` for other keys, so the restore time is
    computed; it must be the ``resets_at`` that the key itself is told (``GET /key``)."""
    clock = FakeClock(at("2026-02-27 22:30"))  # a Friday, near the end of a short month
    sandbox.openrouter.clock = clock
    first = make_rotator(sandbox, clock, limit="10", limit_reset=reset).run()
    sandbox.openrouter.spend(first.key_hash, 1)
    clock.advance(minutes=5)
    second = make_rotator(sandbox, clock, force=True, limit="10", limit_reset=reset).run()
    assert second.carry_over is not None
    plaintext = secret_now(sandbox)
    with OpenRouterClient(plaintext, sandbox.openrouter_url) as client:
        (own,) = [b for b in client.current_key().budgets if b.scope == "key_limit"]
    assert own.limit_usd == 9 and own.resets_at == second.carry_over.resets_at


def test_a_weekly_cap_counts_an_old_key_that_lives_into_the_next_week(sandbox: Sandbox) -> None:
    clock = FakeClock(at("2026-01-11 20:00"))  # a Sunday
    sandbox.openrouter.clock = clock
    options = {"limit": "10", "limit_reset": "weekly", "revoke_after": "next-rotation"}
    first = make_rotator(sandbox, clock, **options).run()
    sandbox.openrouter.spend(first.key_hash, 4)
    clock.advance(hours=1)
    second = make_rotator(sandbox, clock, force=True, **options).run()
    assert limit_of(sandbox, second.key_hash) == 6

    clock.moment = at("2026-01-12 00:17")  # Monday: a new week
    make_rotator(sandbox, clock, **options).run()
    assert limit_of(sandbox, second.key_hash) == 10
    sandbox.openrouter.spend(first.key_hash, 3)  # still live in next-rotation mode
    clock.advance(hours=1)
    status = make_rotator(sandbox, clock, **options).run()
    assert limit_of(sandbox, second.key_hash) == 7
    assert status.carry_over is not None
    assert status.to_json(with_targets=False)["carry_over"] == {
        "limit_now": 7.0,
        "restores_at": "2026-01-19T00:00:00Z",
    }


@pytest.mark.parametrize("include_byok", [True, False])
def test_byok_spend_counts_only_when_the_limit_includes_it(
    sandbox: Sandbox, include_byok: bool
) -> None:
    clock = FakeClock(at("2026-03-03 10:00"))
    sandbox.openrouter.clock = clock
    options = {"limit": "20", "limit_reset": "daily", "include_byok_in_limit": include_byok}
    first = make_rotator(sandbox, clock, **options).run()
    sandbox.openrouter.spend(first.key_hash, 2.5)
    sandbox.openrouter.spend(first.key_hash, 4, byok=True)
    clock.advance(hours=1)
    second = make_rotator(sandbox, clock, force=True, **options).run()
    assert limit_of(sandbox, second.key_hash) == (13.5 if include_byok else 17.5)


def test_a_lifetime_limit_is_shared_for_good(sandbox: Sandbox) -> None:
    clock = FakeClock(at("2026-03-03 10:00"))
    sandbox.openrouter.clock = clock
    first = make_rotator(sandbox, clock, limit="50", revoke_after="0").run()
    sandbox.openrouter.spend(first.key_hash, 30)
    clock.advance(days=40)  # no window ends: all-time spend counts
    second = make_rotator(sandbox, clock, force=True, limit="50", revoke_after="0").run()
    assert second.revoked == (first.key_hash,)
    assert limit_of(sandbox, second.key_hash) == 20
    assert second.carry_over is not None and second.carry_over.spent_gone == 30
    assert second.to_json(with_targets=False)["carry_over"] == {
        "limit_now": 20.0,
        "restores_at": None,
    }


def test_the_off_switch_gives_a_new_key_the_full_limit(sandbox: Sandbox) -> None:
    clock = FakeClock(at("2026-01-10 12:00"))
    sandbox.openrouter.clock = clock
    options = {"limit": "100", "limit_reset": "monthly"}
    first = make_rotator(sandbox, clock, **options).run()
    sandbox.openrouter.spend(first.key_hash, 40)
    clock.advance(days=1)
    second = make_rotator(sandbox, clock, force=True, spend_carry_over=False, **options).run()
    assert limit_of(sandbox, second.key_hash) == 100 and second.carry_over is None

    # Turned off while a carry-over is in effect: the next run gives the key its limit back.
    clock.advance(days=1)
    third = make_rotator(sandbox, clock, force=True, **options).run()
    assert limit_of(sandbox, third.key_hash) == 60
    clock.advance(hours=1)
    off = make_rotator(sandbox, clock, spend_carry_over=False, **options).run()
    assert off.reason.endswith(
        "spend carry-over is off: the active key gets its configured limit back"
    )
    assert limit_of(sandbox, third.key_hash) == 100
    state = load_state(sandbox)
    assert state is not None and state.carry_over is None


def test_no_limit_no_carry_over(sandbox: Sandbox) -> None:
    clock = FakeClock()
    sandbox.openrouter.clock = clock
    first = make_rotator(sandbox, clock).run()
    sandbox.openrouter.spend(first.key_hash, 40)
    clock.advance(days=1)
    second = make_rotator(sandbox, clock, force=True).run()
    assert limit_of(sandbox, second.key_hash) is None
    assert second.carry_over is None
    assert second.to_json(with_targets=False)["carry_over"] is None


def test_status_and_the_env_switch_through_the_cli(sandbox: Sandbox) -> None:
    clock = FakeClock()
    sandbox.openrouter.clock = clock
    options = {"limit": "100", "limit_reset": "monthly"}
    first = make_rotator(sandbox, clock, **options).run()
    sandbox.openrouter.spend(first.key_hash, 12.5)
    make_rotator(sandbox, clock, force=True, **options).run()

    env = {"ROTATOR_LIMIT": "100", "ROTATOR_LIMIT_RESET": "monthly"}
    status = run_cli(sandbox, "status", "--json", **env)
    assert status.returncode == 0, status.stderr
    carry = json.loads(status.stdout)["carry_over"]
    assert carry["limit_now"] == 87.5
    assert carry["restores_at"] == window_end("monthly", clock()).isoformat().replace(  # type: ignore[union-attr]
        "+00:00", "Z"
    )
    text = run_cli(sandbox, "status", **env)
    assert (
        "spending cap: $87.50 of $100.00 (older keys of this rotation spent $12.50 this month)"
        in text.stdout
    )

    # ROTATOR_SPEND_CARRY_OVER=false turns it off (the action's input sets that variable).
    forced = run_cli(
        sandbox, "rotate", "--force", "--json", ROTATOR_SPEND_CARRY_OVER="false", **env
    )
    assert forced.returncode == 0, forced.stderr
    assert limit_of(sandbox, json.loads(forced.stdout)["key_hash"]) == 100
    bad = run_cli(sandbox, "rotate", ROTATOR_SPEND_CARRY_OVER="sometimes", **env)
    assert bad.returncode == 2
    assert "ROTATOR_SPEND_CARRY_OVER (--spend-carry-over) 'sometimes'" in bad.stderr


def test_a_management_key_refused_while_reading_spend_is_a_configuration_error(
    sandbox: Sandbox,
) -> None:
    from openrouter_rotator.errors import ConfigError

    clock = FakeClock()
    options = {"limit": "10", "limit_reset": "daily"}
    make_rotator(sandbox, clock, **options).run()
    inference = sandbox.openrouter.add_key("an inference key")
    rotator = make_rotator(
        sandbox, clock, env={"OPENROUTER_MANAGEMENT_KEY": inference}, force=True, **options
    )
    sandbox.reset_requests()
    with pytest.raises(ConfigError, match="OPENROUTER_MANAGEMENT_KEY"):
        rotator.run()
    assert [r for r in sandbox.requests() if r.method != "GET"] == []
