"""When the scheduled workflow needs to start a job: the state's ``wake`` field.

GitHub bills every job that starts, rounded up to a minute; a job whose job-level ``if:`` is
false is skipped and not billed. The example workflow keeps one cron line per UTC hour, and
its ``if:`` starts the job only at a daily hour (usage is checked every day) and at the UTC
hours this module lists in the state, so an idle month costs about 30 jobs instead of 720.
GitHub expressions have no clock: the gate learns the hour from the cron line that fired
(``github.event.schedule``) and looks for it in the state variable with ``contains()``.

:func:`due_times` is the one place that knows what work falls due when: a rotation, a key to
revoke, an interrupted run to settle (its lock expires within 30 minutes, see lock.py).
Anything else that falls due at a known moment adds itself there, and the gate follows.
:func:`wake_hours` turns those moments into the hours of the next 24 h whose tick must start a
job; the engine stores them with every state it writes (see ``Rotator._save``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from . import carryover, schedule
from .config import Config
from .state import State

# The daily run brings anything due within the next day into the field before its hour comes.
WINDOW = timedelta(hours=24)
# Ticks listed after the first one that could do the work (see wake_hours).
SPARE_TICKS = 2


def next_rotation_at(state: State, config: Config) -> datetime | None:
    sched = config.schedule
    if not sched.auto_rotation or state.active is None:
        return None
    last = state.last_rotation.at if state.last_rotation else state.active.activated_at
    return schedule.next_due(last, sched.interval_days, sched.rotate_at, sched.timezone)


def due_times(state: State, config: Config, now: datetime) -> list[datetime]:
    """Every moment at which a run will find work, as far as the state and the configuration
    tell; a moment in the past means "now" (work a failed run left, retried at the next tick)."""
    times: list[datetime] = []
    if state.active is None or state.in_flight is not None:
        times.append(now)  # a first key to issue, or an interrupted rotation to finish
    else:
        due = next_rotation_at(state, config)
        if due is not None:
            times.append(due)
    if not state.hold:  # a failed verification holds every revocation until one passes
        times += [r.revoke_at for r in state.retiring if r.revoke_at is not None]
    # A run killed while holding the lock: its in-flight record lists "now" above, and a run
    # at each of the next ticks finds the lock expired within 30 minutes (lock.py). A key it
    # made but never recorded is found by the daily run's key listing (its mark).
    restore = carryover.restores_at(state.carry_over)
    if restore is not None and restore > now:
        # The first run after the limit's window resets gives the active key its full limit.
        times.append(restore)
    return times


def wake_hours(
    state: State, config: Config, now: datetime, overdue: bool = True
) -> tuple[int, ...]:
    """The UTC hours of the next 24 h whose scheduled tick must start a job.

    Each due moment lists its own hour and the two after it. The engine knows neither the
    minute of the workflow's cron lines nor how late GitHub starts them: work due at 09:17:42
    is done by the 09 tick if that starts later, else by the 10 tick; and GitHub drops a
    scheduled run now and then. The run that does the work rewrites the field, so the later
    hours cost no job when the first one serves. Only hours within the next 24 h are listed.

    ``overdue``: whether work already due counts (from now). A run that did work and left some
    undone (a revocation that failed) wants the next ticks to retry; a run that had nothing to
    do passes False, since what it found overdue is nothing a run acts on, and listing it
    would wake every hour for nothing.
    """
    hours: set[int] = set()
    for moment in due_times(state, config, now):
        if moment <= now and not overdue:
            continue
        moment = max(moment, now).astimezone(timezone.utc)
        if moment > now + WINDOW:
            continue
        ticks = (moment + timedelta(hours=k) for k in range(SPARE_TICKS + 1))
        # An hour names the next tick in that hour: one beyond the window would name one a day
        # early. The daily run lists those when they come within the window.
        hours.update(tick.hour for tick in ticks if tick <= now + WINDOW)
    return tuple(sorted(hours))
