"""Days of the example workflow's schedule, simulated against the sandbox, to count billed jobs.

Each hourly cron tick evaluates the real workflow's job-level ``if:`` (read from
.github/workflows/rotate-openrouter-key.yml, evaluated by tests/expressions.py) against the
state variable as the engine left it in the sandbox; a tick whose ``if:`` holds starts a job,
which runs the engine with the step's own ``with:`` values under a fake clock, and the verify
job after it when its own ``if:`` holds. GitHub bills each started job (rounded up to a minute).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.state import VariableStore
from openrouter_rotator.verify import verify
from openrouter_rotator.wake import next_rotation_at

from .engine import SECRET, STATE_REPO, TARGETS, VARIABLE, FakeClock, load_state, make_rotator
from .expressions import evaluate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".github" / "workflows" / "rotate-openrouter-key.yml"
# When the job's engine reads its clock: GitHub starts scheduled runs a little late, and the
# setup step takes a few seconds.
START_DELAY = timedelta(seconds=40)
# Each reading of the clock moves it on, as a real run's work takes time: a revoke time set at
# the end of one run falls a little after the same minute six hours later.
CLOCK_STEP = timedelta(milliseconds=500)
# The `with:` inputs of the rotate step that are engine options (the rest are credentials).
OPTIONS = {
    "rotation-interval-days": "interval_days",
    "rotate-at": "rotate_at",
    "timezone": "timezone",
    "revoke-after": "revoke_after",
    "auto-rotation": "auto_rotation",
    "force": "force",
}


class RunningClock(FakeClock):
    def __call__(self) -> datetime:
        moment = self.moment
        self.moment += CLOCK_STEP
        return moment


def load_workflow(path: Path = EXAMPLE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def cron_lines(workflow: dict[str, Any]) -> list[str]:
    return [entry["cron"] for entry in workflow["on"]["schedule"]]


def hour_of(cron: str) -> int:
    minute, hour, *rest = cron.split()
    assert rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit(), cron
    return int(hour)


def contexts(
    event: str,
    variable: str | None,
    schedule: str | None = None,
    needs: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a job-level ``if:`` sees. A variable that does not exist reads as ''."""
    return {
        "github": {"event_name": event, "event": {"schedule": schedule} if schedule else {}},
        "vars": {VARIABLE: variable if variable is not None else ""},
        "needs": needs or {},
        "inputs": inputs or {},
    }


def gate(workflow: dict[str, Any], job: str, ctx: dict[str, Any]) -> bool:
    condition = workflow["jobs"][job].get("if")
    if condition is None:
        return True
    # A job-level if: without a status function means success() && (...).
    return bool(evaluate(str(condition), ctx))


def step_options(workflow: dict[str, Any], inputs: dict[str, Any]) -> dict[str, str]:
    """The rotate step's engine options as a run with these dispatch inputs gets them."""
    (step,) = [s for s in workflow["jobs"]["rotate"]["steps"] if s.get("id") == "rotate"]
    options: dict[str, str] = {}
    for name, value in step["with"].items():
        if name not in OPTIONS:
            continue
        text = str(value)
        if "${{" in text:
            text = str(evaluate(re.sub(r"^\$\{\{|\}\}$", "", text.strip()), {"inputs": inputs}))
            text = "" if text == "None" else text
        if text:
            options[OPTIONS[name]] = text
    return options


@dataclass
class Report:
    ticks: int = 0
    jobs: list[datetime] = field(default_factory=list)  # scheduled rotate jobs that started
    verify_jobs: int = 0
    rotations: list[tuple[datetime, datetime]] = field(default_factory=list)  # (due, done)
    revocations: list[tuple[datetime, datetime]] = field(default_factory=list)  # (due, done)
    quiet_writes: int = 0  # state writes by runs that had nothing else to do

    @property
    def billed(self) -> int:
        return len(self.jobs) + self.verify_jobs

    @staticmethod
    def worst(pairs: list[tuple[datetime, datetime]]) -> timedelta:
        return max((done - due for due, done in pairs), default=timedelta(0))

    def longest_gap(self, start: datetime, end: datetime) -> timedelta:
        moments = [start, *self.jobs, end]
        return max(b - a for a, b in zip(moments, moments[1:], strict=False))


def simulate(
    box: Sandbox,
    start: datetime,
    days: int,
    workflow: dict[str, Any] | None = None,
    overrides: dict[str, str] | None = None,
    dropped: frozenset[datetime] = frozenset(),
    on_tick: Callable[[datetime], None] | None = None,
) -> Report:
    """Dispatch the workflow once at ``start`` (the first key), then ``days`` of hourly ticks;
    GitHub drops the ticks at ``dropped`` (their moment, minute 17); ``on_tick`` runs before
    each tick (to spend on a key, say). The sandbox's OpenRouter follows the same clock."""
    workflow = workflow or load_workflow()
    clock = RunningClock(start)
    box.openrouter.clock = clock
    first = _job(box, clock, workflow, overrides, contexts("workflow_dispatch", None))
    assert first is not None and first[0].rotated
    report = Report()
    crons = {hour_of(line): line for line in cron_lines(workflow)}
    minute = int(next(iter(crons.values())).split()[0])
    tick = start.replace(minute=minute, second=0, microsecond=0)
    if tick <= start:
        tick += timedelta(hours=1)
    end = start + timedelta(days=days)
    while tick < end:
        if tick in dropped:
            tick += timedelta(hours=1)
            continue
        report.ticks += 1
        if on_tick is not None:
            on_tick(tick)
        variable = box.github.variable(STATE_REPO, VARIABLE)
        ctx = contexts("schedule", variable, schedule=crons[tick.hour])
        if gate(workflow, "rotate", ctx):
            clock.moment = started = tick + START_DELAY
            report.jobs.append(started)
            state = load_state(box)
            assert state is not None
            rotator = make_rotator(box, clock, **_options(workflow, overrides))
            due = next_rotation_at(state, rotator.config)
            revoke_at = {r.hash: r.revoke_at for r in state.retiring if r.revoke_at}
            result = rotator.run()
            assert result.ok, result.problems
            # Done when the run decided to do it, at its start (the work follows in seconds).
            if result.rotated and due is not None:
                report.rotations.append((due, started))
            report.revocations += [(revoke_at[h], started) for h in result.revoked]
            store = rotator.store
            assert isinstance(store, VariableStore)
            if not result.rotated and not result.revoked:
                report.quiet_writes += store.writes
            needs = {
                "rotate": {
                    "result": "success",
                    "outputs": {"rotated": "true" if result.rotated else "false"},
                }
            }
            if gate(workflow, "verify", {**ctx, "needs": needs}):
                report.verify_jobs += 1
                _verify(box, clock, workflow, overrides)
        tick += timedelta(hours=1)
    return report


def _options(workflow: dict[str, Any], overrides: dict[str, str] | None) -> dict[str, str]:
    return {**step_options(workflow, {}), **(overrides or {})}


def _job(
    box: Sandbox,
    clock: FakeClock,
    workflow: dict[str, Any],
    overrides: dict[str, str] | None,
    ctx: dict[str, Any],
) -> tuple[Any, Any] | None:
    if not gate(workflow, "rotate", ctx):
        return None
    rotator = make_rotator(box, clock, **_options(workflow, overrides))
    result = rotator.run()
    if result.rotated:
        _verify(box, clock, workflow, overrides)
    return result, rotator


def _verify(
    box: Sandbox, clock: FakeClock, workflow: dict[str, Any], overrides: dict[str, str] | None
) -> None:
    """The verify job: it reads the repository secret, as a consumer's job does."""
    plaintext = box.github.open_secret(TARGETS[0], SECRET)
    outcome = verify(make_rotator(box, clock, **_options(workflow, overrides)), plaintext, SECRET)
    assert outcome.verified, outcome.message
