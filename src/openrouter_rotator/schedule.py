"""When is a rotation due: durations, times of day, time zones and the next due instant.

This module owns SPEC §2 "Schedule" and the duration syntax shared by ``revoke-after``,
``expires-after`` and the webhook's ``cooldown``. Everything here is a pure function of its
arguments (the only outside data is the IANA time zone database read through ``zoneinfo``), so
the rotation engine, ``status`` and the tests all agree on one answer.

Rules:

* Durations are ``0`` or a non-negative integer followed by exactly one unit, ``s``, ``m``, ``h``
  or ``d`` (``90s``, ``30m``, ``6h``, ``2d``). Units are lower case; no fractions, no compound
  forms such as ``1h30m`` (write ``90m``).
* ``rotate-at`` is ``HH:MM`` on the 24-hour clock with exactly two digits each, ``00:00`` to
  ``23:59``. ``7:05`` is refused with a message that shows ``07:05``: the SPEC writes ``HH:MM``,
  and one spelling per time keeps workflow files greppable.
* ``timezone`` is a canonical or backward-compatible IANA name from the time zone database
  (``UTC``, ``Europe/London``, ``US/Eastern``), matched exactly, including case.
* Instants are written as ISO 8601 in UTC to the second, ``2026-03-01T03:00:00Z`` (:func:`iso`),
  and read back from ISO 8601 with ``Z`` or an offset (:func:`parse_timestamp`): the one
  spelling of a time in the state, the outputs, alerts and every API answer read here.
* Next due = (local date of the last rotation + interval days) at rotate-at in the time zone. A
  wall time that does not exist that day (inside a spring-forward gap) moves forward by the gap
  (02:30 -> 03:30 in New York; 02:15 -> 02:45 on Lord Howe Island, whose gap is 30 minutes); an
  ambiguous one (inside a fall-back overlap) is its first occurrence.

Every datetime taken or returned is timezone-aware; returned instants are in UTC. A naive
datetime is a programming error and raises ``ValueError``; user input errors raise
:class:`~openrouter_rotator.errors.ConfigError`.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone

from openrouter_rotator.errors import ConfigError

__all__ = [
    "DURATION_ALLOWED",
    "TIME_OF_DAY_ALLOWED",
    "TIMEZONE_ALLOWED",
    "format_duration",
    "is_due",
    "local_wall_time",
    "next_due",
    "parse_duration",
    "parse_time_of_day",
    "parse_timezone",
]

DURATION_ALLOWED = "a duration like 0, 90s, 30m, 6h or 2d"
TIME_OF_DAY_ALLOWED = "a time of day as HH:MM on the 24-hour clock, 00:00 to 23:59"
TIMEZONE_ALLOWED = "an IANA time zone name such as UTC, Europe/London or America/New_York"

# [0-9] rather than \d: \d also matches non-ASCII digits such as "٣", which int() would accept.
MAX_DURATION_SECONDS = 3650 * 86_400
_DURATION_RE = re.compile(r"([0-9]+)([smhd])")
_TIME_OF_DAY_RE = re.compile(r"([0-9]{2}):([0-9]{2})")
_LOOSE_TIME_OF_DAY_RE = re.compile(r"([0-9]{1,2}):([0-9]{1,2})")

# Largest first: format_duration picks the first unit that divides exactly ("s" always does).
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

# Names the database directory holds that are not time zones a user means: "localtime" is the
# host's own zone (a different answer on every runner) and "Factory" is tzdata's "zone unknown".
_NOT_USER_ZONES = frozenset({"localtime", "Factory"})


def iso(moment: datetime | None) -> str | None:
    """``2026-03-01T03:00:00Z``: UTC, whole seconds (all a schedule needs, what people read)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_timestamp(text: object, *, assume_utc: bool = True) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset) as an aware datetime; ``ValueError`` otherwise.

    Without an offset it is UTC, unless ``assume_utc`` is false (then it is refused: the state
    only ever holds instants with their zone).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is not a timestamp")
    text = text.strip()
    # Python 3.10's fromisoformat does not know the "Z" suffix everyone sends.
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a timestamp") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise ValueError("has no time zone")
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        # 9999-12-31T23:00-05:00 is past datetime's last day once in UTC: refuse it here, not
        # with an OverflowError wherever it is compared or converted later.
        moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range") from None
    return moment


def parse_duration(text: str, option: str) -> timedelta:
    """Parse ``0``, ``90s``, ``30m``, ``6h`` or ``2d`` (surrounding whitespace ignored)."""
    value = text.strip()
    if value == "0":
        return timedelta(0)
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise ConfigError(option, text, DURATION_ALLOWED)
    digits, unit = match.group(1), match.group(2)
    # Ten years is more than any rotation needs; the bound also keeps "now + duration" a date
    # (and int() away from thousands of digits).
    if len(digits) > 12 or int(digits) * _UNIT_SECONDS[unit] > MAX_DURATION_SECONDS:
        raise ConfigError(option, text, f"{DURATION_ALLOWED} (at most 3650d)")
    return timedelta(seconds=int(digits) * _UNIT_SECONDS[unit])


def format_duration(delta: timedelta) -> str:
    """Write ``delta`` in the largest unit that holds it exactly: ``6h``, ``90s``, ``0``.

    The inverse of :func:`parse_duration`, so any value it prints can be pasted back into a
    workflow file.
    """
    if delta < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {delta!r}")
    if delta.microseconds:
        raise ValueError(f"a duration must be whole seconds: {delta!r}")
    seconds = delta.days * 86_400 + delta.seconds
    if seconds == 0:
        return "0"
    unit, size = next((u, n) for u, n in _UNIT_SECONDS.items() if seconds % n == 0)
    return f"{seconds // size}{unit}"


def parse_time_of_day(text: str, option: str = "rotate-at") -> time:
    """Parse ``HH:MM`` on the 24-hour clock, ``00:00`` to ``23:59``."""
    value = text.strip()
    match = _TIME_OF_DAY_RE.fullmatch(value)
    if match is not None:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour <= 23 and minute <= 59:
            return time(hour, minute)
        raise ConfigError(option, text, TIME_OF_DAY_ALLOWED)
    loose = _LOOSE_TIME_OF_DAY_RE.fullmatch(value)
    if loose is not None:
        hour, minute = int(loose.group(1)), int(loose.group(2))
        if hour <= 23 and minute <= 59:
            # Say the exact spelling to use instead of only restating the rule.
            raise ConfigError(
                option, text, f"{TIME_OF_DAY_ALLOWED} (write {hour:02d}:{minute:02d})"
            )
    raise ConfigError(option, text, TIME_OF_DAY_ALLOWED)


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # available_timezones() walks the database once (~0.1 s); the set does not change in a run.
    return frozenset(zoneinfo.available_timezones()) - _NOT_USER_ZONES


def parse_timezone(text: str, option: str = "timezone") -> zoneinfo.ZoneInfo:
    """Parse an IANA time zone name, e.g. ``UTC`` or ``Australia/Lord_Howe``.

    The name must be one the database lists. ``ZoneInfo`` alone would also open any file under
    the database directory (``posix/UTC``, ``right/UTC`` with leap seconds, ``localtime``) and,
    on a case-insensitive file system, ``europe/london``; checking the list gives one answer on
    every runner.
    """
    name = text.strip()
    known = _known_zones()
    if not known:
        raise ConfigError(
            option, text, f"{TIMEZONE_ALLOWED} (no time zone database found: install tzdata)"
        )
    if name not in known:
        raise ConfigError(option, text, _timezone_hint(name, known))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # Listed but unreadable (a damaged database); still the user's configuration to fix.
        raise ConfigError(option, text, TIMEZONE_ALLOWED) from None


def _timezone_hint(name: str, known: frozenset[str]) -> str:
    folded = {zone.casefold(): zone for zone in known}
    suggestion = folded.get(name.casefold().replace(" ", "_"))
    if suggestion is not None:
        return f"{TIMEZONE_ALLOWED} (did you mean {suggestion}?)"
    return TIMEZONE_ALLOWED


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def local_wall_time(day: date, at: time, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant at which clocks in ``tz`` show ``at`` on ``day``.

    A wall time inside a spring-forward gap moves forward by the gap; one inside a fall-back
    overlap is its first occurrence.
    """
    if isinstance(day, datetime):
        # datetime is a subclass of date; taking one here would silently drop its time.
        raise TypeError(f"day must be a date, not a datetime: {day!r}")
    if at.tzinfo is not None:
        raise ValueError(f"at must be a naive wall-clock time (the zone is tz), got {at!r}")
    # PEP 495 does both rules for us with fold=0: an ambiguous wall time maps to its first
    # occurrence, and a missing one is read with the offset in force before the transition,
    # which lands exactly "gap" later on the clock after it (02:30 EST = 07:30Z = 03:30 EDT).
    wall = datetime.combine(day, at.replace(fold=0), tzinfo=tz)
    return wall.astimezone(timezone.utc)


def next_due(
    last_rotation: datetime, interval_days: int, rotate_at: time, tz: zoneinfo.ZoneInfo
) -> datetime:
    """(Local date of ``last_rotation`` in ``tz`` + ``interval_days``) at ``rotate_at``, in UTC.

    Counting local calendar days, not 24-hour periods, keeps rotations at the same wall time
    across DST changes.
    """
    _require_aware(last_rotation, "last_rotation")
    if interval_days < 1:
        # config.py rejects this with a ConfigError; reaching here is a caller bug.
        raise ValueError(f"interval_days must be at least 1, got {interval_days!r}")
    last_local_day = last_rotation.astimezone(tz).date()
    return local_wall_time(last_local_day + timedelta(days=interval_days), rotate_at, tz)


def is_due(
    now: datetime,
    last_rotation: datetime | None,
    interval_days: int,
    rotate_at: time,
    tz: zoneinfo.ZoneInfo,
    auto_rotation: bool = True,
) -> bool:
    """Whether a run at ``now`` should rotate without being forced.

    With no rotation recorded the answer is always yes: issuing the first key is not a rotation,
    so it happens even when auto rotation is off. Being late never matters: the first run at or
    after the due time rotates, so a dropped scheduled run heals itself.
    """
    _require_aware(now, "now")
    if last_rotation is None:
        return True
    _require_aware(last_rotation, "last_rotation")
    if not auto_rotation:
        return False
    return now >= next_due(last_rotation, interval_days, rotate_at, tz)
