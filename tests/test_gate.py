"""The example workflow's gate: few billed jobs, rotations and revocations on time (SPEC §7).

The gate is the real ``if:`` of .github/workflows/rotate-openrouter-key.yml, evaluated against
the state variable the engine wrote (tests/billing.py runs the days; tests/expressions.py
evaluates GitHub's expression language).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from openrouter_rotator.config import parse_config
from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.state import (
    ActiveKey,
    CarryOver,
    InFlight,
    RetiringKey,
    State,
    parse_wake,
    wake_text,
)
from openrouter_rotator.wake import wake_hours

from .billing import ROOT, contexts, cron_lines, gate, hour_of, load_workflow, simulate
from .engine import KEY_NAME, STATE_REPO, VARIABLE, FakeClock, load_state, make_rotator
from .expressions import ExpressionError, evaluate

UTC = timezone.utc
WORKFLOW = load_workflow()
DAILY = "17 3 * * *"
# Before: the first release's hourly schedule started a job at every tick.
HOURLY_TICKS_30_DAYS = 30 * 24


def runs(variable: str | None, cron: str, event: str = "schedule") -> bool:
    return gate(WORKFLOW, "rotate", contexts(event, variable, schedule=cron))


def state_with(wake: tuple[int, ...] | None) -> str:
    return State(wake=wake).to_json()


# -- the expression evaluator itself ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'a' == 'A'", True),
        ("'it''s'", "it's"),
        ("null || 'x'", "x"),
        ("'' && 'x'", ""),
        ("!contains('', 'x')", True),
        ("contains('ABC', 'b')", True),
        ("format('|{0}|{1}|{{', 3, null)", "|3||{"),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
        ("fromJSON('{\"a\": 1}')['b'] || 'none'", "none"),
        ("github.event.missing.deeper", None),
        ("(1 == 1) && !false", True),
    ],
)
def test_the_evaluator_follows_githubs_rules(expression: str, expected: Any) -> None:
    assert evaluate(expression, {"github": {"event": {}}}) == expected


def test_the_evaluator_refuses_what_it_does_not_know() -> None:
    for expression in ("hashFiles('x')", "unknown.context", "fromJSON('not json')", "1 +"):
        with pytest.raises(ExpressionError):
            evaluate(expression, {})


# -- the gate --------------------------------------------------------------------------------


def test_one_cron_line_per_utc_hour_at_one_odd_minute() -> None:
    lines = cron_lines(WORKFLOW)
    assert sorted(hour_of(line) for line in lines) == list(range(24))
    (minute,) = {line.split()[0] for line in lines}
    assert int(minute) % 2 == 1
    assert DAILY in lines


@pytest.mark.parametrize("line", cron_lines(load_workflow()))
def test_every_cron_line_is_known_to_the_gate(line: str) -> None:
    """The gate maps each line to its hour: a listed hour runs, every other hour does not."""
    hour = hour_of(line)
    assert runs(state_with((hour,)), line)
    assert runs(state_with(((hour + 1) % 24, hour, (hour + 5) % 24)), line)
    if line != DAILY:
        assert not runs(state_with(((hour + 1) % 24,)), line)
        assert not runs(state_with(()), line)


@pytest.mark.parametrize(
    "variable",
    [
        None,  # the variable does not exist yet
        "",
        "not json at all {",
        '{"schema":"something else"}',
        # openrouter-rotator state from a version without the field
        '{"schema":"openrouter-rotator/state","version":1,"active":null}',
        '{"schema":"openrouter-rotator/state","version":1,"wake":null}',
    ],
)
def test_a_variable_without_a_readable_field_runs_every_hour(variable: str | None) -> None:
    assert all(runs(variable, line) for line in cron_lines(WORKFLOW))


def test_the_button_and_the_webhook_always_run() -> None:
    inputs = {"force": True, "reason": "x", "emergency": False, "request-id": "r1"}
    ctx = contexts("workflow_dispatch", state_with(()), inputs=inputs)
    assert gate(WORKFLOW, "rotate", ctx)


def test_the_daily_line_always_runs() -> None:
    assert runs(state_with(()), DAILY)
    assert runs(state_with((5,)), DAILY)


def test_a_cron_line_the_gate_does_not_know_does_not_run() -> None:
    assert not runs(state_with(()), "42 7 * * *")


# -- the field the gate reads ------------------------------------------------------------------


@given(st.frozensets(st.integers(0, 23)))
def test_the_field_round_trips_and_matches_only_its_hours(hours: frozenset[int]) -> None:
    wake = tuple(sorted(hours))
    text = wake_text(wake)
    assert parse_wake(text) == wake
    assert State.from_json(State(wake=wake).to_json(), "test").wake == wake
    for hour in range(24):
        assert (f"|{hour:02d}|" in (text or "")) == (hour in hours)


@pytest.mark.parametrize("text", [None, 3, "", "03|", "|24|", "|x|", "|3a|"])
def test_a_field_that_does_not_parse_reads_as_unknown(text: Any) -> None:
    assert parse_wake(text) is None


def config(**options: str) -> Any:
    args: dict[str, object] = {
        "state_repository": STATE_REPO,
        "key_name": "k",
        "targets": [f"repo:{STATE_REPO}"],
        **options,
    }
    env = {"OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-x", "GITHUB_TOKEN": "ghp_x"}
    return parse_config(args, env)


NOW = datetime(2026, 3, 10, 3, 17, 40, tzinfo=UTC)


def active(at: datetime) -> ActiveKey:
    return ActiveKey("a" * 64, at, at, ())


def test_a_rotation_due_within_a_day_wakes_its_hour_and_two_spare_ones() -> None:
    cfg = config(rotate_at="05:30", interval_days="1")
    state = State(active=active(NOW - timedelta(days=1)))  # due today at 05:30
    assert wake_hours(state, cfg, NOW) == (5, 6, 7)
    late = config(rotate_at="23:00", interval_days="1")
    assert wake_hours(state, late, NOW) == (0, 1, 23)


def test_a_rotation_more_than_a_day_away_waits_for_the_daily_run() -> None:
    state = State(active=active(NOW - timedelta(hours=1)))
    assert wake_hours(state, config(interval_days="30"), NOW) == ()
    day_before = NOW + timedelta(days=29)  # the daily run the day before it is due
    # 03:00 tomorrow is within the day; 04:00 and 05:00 tomorrow are not ('04' would mean today).
    assert wake_hours(state, config(interval_days="30", rotate_at="03:00"), day_before) == (3,)


def test_revocations_wake_their_hours_unless_a_verification_holds_them() -> None:
    retiring = (RetiringKey("b" * 64, NOW, NOW + timedelta(hours=6)),)
    state = State(active=active(NOW), retiring=retiring)
    assert wake_hours(state, config(), NOW) == (9, 10, 11)
    from openrouter_rotator.state import Verification

    held = replace(state, verification=Verification(NOW, False, None, "a" * 64))
    assert wake_hours(held, config(), NOW) == ()


def test_work_left_undone_wakes_the_next_tick_but_not_a_quiet_run() -> None:
    retiring = (RetiringKey("b" * 64, NOW - timedelta(hours=2), NOW - timedelta(hours=1)),)
    state = State(active=active(NOW - timedelta(days=1)), retiring=retiring)
    assert wake_hours(state, config(), NOW) == (3, 4, 5)
    assert wake_hours(state, config(), NOW, overdue=False) == ()


def test_the_record_a_killed_run_left_wakes_the_next_ticks() -> None:
    """Its lock expires within 30 minutes (lock.py): one of the next ticks settles it."""
    flight = InFlight("publishing", NOW, "schedule", "due", "c" * 64)
    state = State(active=active(NOW - timedelta(days=1)), in_flight=flight)
    assert wake_hours(state, config(), NOW) == (3, 4, 5)


def test_a_carry_over_restore_wakes_the_hour_the_window_resets() -> None:
    resets = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    carry = CarryOver("a" * 64, 10.0, 7.5, "daily", resets)
    state = State(active=active(NOW - timedelta(days=1)), carry_over=carry)
    assert wake_hours(state, config(), NOW) == (0, 1, 2)


# -- the engine writes it ----------------------------------------------------------------------


def test_every_write_carries_the_field_and_a_quiet_run_writes_only_when_it_moved(
    sandbox: Sandbox,
) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 14, 5, tzinfo=UTC))
    make_rotator(sandbox, clock, rotate_at="03:00").run()
    state = load_state(sandbox)
    assert state is not None and state.wake == ()
    assert '"wake":"|"' in (sandbox.github.variable(STATE_REPO, VARIABLE) or "")

    quiet = make_rotator(sandbox, clock, rotate_at="03:00")
    clock.advance(hours=13)  # the next daily run: the rotation is 29 days away
    assert not quiet.run().rotated and quiet.store.writes == 0  # type: ignore[attr-defined]

    clock.moment = datetime(2026, 3, 30, 3, 17, 40, tzinfo=UTC)  # the day before it is due
    day_before = make_rotator(sandbox, clock, rotate_at="03:00")
    assert not day_before.run().rotated
    assert day_before.store.writes == 1  # type: ignore[attr-defined]
    after = load_state(sandbox)
    assert after is not None and after.wake == (3,)
    # Nothing else changed but the bookkeeping of the lock the write was made under.
    bookkeeping = {"wake": None, "generation": 0, "locks": ()}
    assert replace(after, **bookkeeping) == replace(state, **bookkeeping)
    assert after.generation == state.generation + 1

    again = make_rotator(sandbox, clock, rotate_at="03:00")
    again.run()
    assert again.store.writes == 0  # type: ignore[attr-defined]


def test_a_state_from_an_older_version_gets_the_field_in_one_write(sandbox: Sandbox) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 14, 5, tzinfo=UTC))
    make_rotator(sandbox, clock).run()
    state = load_state(sandbox)
    assert state is not None
    old = state.to_json().replace(',"wake":"|"', "")
    assert '"wake"' not in old
    sandbox.github.set_variable(STATE_REPO, VARIABLE, old)
    assert all(runs(old, line) for line in cron_lines(WORKFLOW))
    clock.advance(hours=1)
    run = make_rotator(sandbox, clock)
    run.run()
    assert run.store.writes == 1  # type: ignore[attr-defined]
    assert not runs(sandbox.github.variable(STATE_REPO, VARIABLE), "17 4 * * *")


def test_a_dry_run_writes_nothing_even_when_the_field_moved(sandbox: Sandbox) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 14, 5, tzinfo=UTC))
    make_rotator(sandbox, clock).run()
    state = load_state(sandbox)
    assert state is not None
    sandbox.github.set_variable(STATE_REPO, VARIABLE, replace(state, wake=None).to_json())
    dry = make_rotator(sandbox, clock, dry_run=True)
    dry.run()
    assert dry.store.writes == 0  # type: ignore[attr-defined]


# -- thirty days -------------------------------------------------------------------------------

HOUR = timedelta(hours=1)


def test_thirty_days_with_the_example_workflow(sandbox: Sandbox) -> None:
    """SPEC §7: at most 62 scheduled jobs in 30 days, each rotation and revocation within 60
    minutes of its time, usage checked at least once every 24 hours."""
    start = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    report = simulate(sandbox, start, days=30)
    assert report.ticks == HOURLY_TICKS_30_DAYS
    assert len(report.rotations) == 1 and len(report.revocations) == 1
    assert report.worst(report.rotations) <= HOUR
    assert report.worst(report.revocations) <= HOUR
    assert report.longest_gap(start, start + timedelta(days=30)) <= timedelta(hours=24)
    assert len(report.jobs) <= 62
    assert report.quiet_writes <= 1
    print(
        f"\n30 days, example workflow: {len(report.jobs)} scheduled jobs + "
        f"{report.verify_jobs} verify = {report.billed} billed (ungated: "
        f"{HOURLY_TICKS_30_DAYS} + {report.verify_jobs}); rotation late by "
        f"{report.worst(report.rotations)}, revocation by {report.worst(report.revocations)}; "
        f"{report.quiet_writes} write(s) only for the gate field"
    )
    state = load_state(sandbox)
    assert state is not None and state.retiring == ()


def test_a_dropped_tick_is_covered_by_the_next_one(sandbox: Sandbox) -> None:
    """GitHub drops a scheduled run now and then: the spare hours the state lists catch it."""
    start = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    dropped = frozenset({datetime(2026, 3, 31, 10, 17, tzinfo=UTC)})
    report = simulate(sandbox, start, days=30, dropped=dropped)
    ((due, done),) = report.revocations
    assert done - due < timedelta(hours=2)  # by the 11 tick rather than the next day's
    assert len(report.jobs) == 32  # the 11 tick's job, in place of the dropped one


def test_a_carried_over_limit_is_restored_within_the_hour_of_the_reset(
    sandbox: Sandbox,
) -> None:
    """A monthly limit: the key rotated on 30 January is created with the limit minus what the
    old key spent; the gate wakes the first tick of February, which gives it the full limit."""
    start = datetime(2026, 1, 5, 14, 5, tzinfo=UTC)
    overrides = {"limit": "100", "limit_reset": "monthly", "interval_days": "25"}

    def spend(tick: datetime) -> None:
        if tick == datetime(2026, 1, 6, 0, 17, tzinfo=UTC):
            state = load_state(sandbox)
            assert state is not None and state.active is not None
            sandbox.openrouter.spend(state.active.hash, 30)

    report = simulate(sandbox, start, days=30, overrides=overrides, on_tick=spend)
    assert len(report.rotations) == 1
    restored = datetime(2026, 2, 1, 0, 17, 40, tzinfo=UTC)  # the reset is at 00:00 UTC
    assert restored in report.jobs
    state = load_state(sandbox)
    assert state is not None and state.active is not None
    assert sandbox.openrouter.live_keys(KEY_NAME)[0].limit == 100
    assert state.carry_over is None or state.carry_over.limit_now == 100
    assert len(report.jobs) <= 62
    print(f"\n30 days with a carried-over monthly limit: {len(report.jobs)} scheduled jobs")


def test_the_readme_workflow_has_the_same_schedule_and_gate() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```yaml\nname: Rotate OpenRouter key", 1)[1].split("```", 1)[0]
    readme = yaml.safe_load("name: Rotate OpenRouter key" + block)
    readme["on"] = readme.pop(True)
    assert readme["on"]["schedule"] == WORKFLOW["on"]["schedule"]
    assert readme["jobs"]["rotate"]["if"] == WORKFLOW["jobs"]["rotate"]["if"]
    # What the webhook and the verify job rely on: the same inputs, run-name and output.
    dispatch = WORKFLOW["on"]["workflow_dispatch"]
    assert readme["on"]["workflow_dispatch"]["inputs"] == dispatch["inputs"]
    assert readme["run-name"] == WORKFLOW["run-name"]
    assert readme["jobs"]["rotate"]["outputs"] == WORKFLOW["jobs"]["rotate"]["outputs"]


def test_thirty_days_with_a_local_time_a_short_interval_and_a_dst_change(
    sandbox: Sandbox,
) -> None:
    """rotate-at 09:30 Europe/Berlin every 7 days, revoke-after 90m, across 29 March 2026."""
    start = datetime(2026, 3, 10, 22, 40, tzinfo=UTC)
    overrides = {
        "rotate_at": "09:30",
        "timezone": "Europe/Berlin",
        "interval_days": "7",
        "revoke_after": "90m",
    }
    report = simulate(sandbox, start, days=30, overrides=overrides)
    assert len(report.rotations) == 4 and len(report.revocations) == 4
    assert report.worst(report.rotations) <= HOUR
    assert report.worst(report.revocations) <= HOUR
    assert report.longest_gap(start, start + timedelta(days=30)) <= timedelta(hours=24)
    assert len(report.jobs) <= 62
    # Summer time moved 09:30 local from 08:30 to 07:30 UTC; each was done by the next tick.
    dues = {due.astimezone(UTC).time() for due, _ in report.rotations}
    assert dues == {time(8, 30), time(7, 30)}
    assert {done - due for due, done in report.rotations} == {timedelta(minutes=47, seconds=40)}
    print(
        f"\n30 days, 09:30 Europe/Berlin every 7 days: {len(report.jobs)} scheduled jobs + "
        f"{report.verify_jobs} verify; rotations late by at most "
        f"{report.worst(report.rotations)}, revocations by {report.worst(report.revocations)}"
    )
