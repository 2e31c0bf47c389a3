"""SPEC §2 Schedule: durations, rotate-at, time zones, and when the next rotation is due.

The DST properties check schedule.py against an oracle that does not use PEP 495 ``fold``: it
tries the UTC offsets in force a day either side of the wall time and keeps the ones that
round-trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrouter_rotator.errors import ConfigError
from openrouter_rotator.schedule import (
    DURATION_ALLOWED,
    MAX_DURATION_SECONDS,
    TIME_OF_DAY_ALLOWED,
    TIMEZONE_ALLOWED,
    format_duration,
    is_due,
    local_wall_time,
    next_due,
    parse_duration,
    parse_time_of_day,
    parse_timezone,
)

UTC = timezone.utc
ZONE_NAMES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # no DST, +05:30
    "UTC",
]
ZONES = [ZoneInfo(name) for name in ZONE_NAMES]
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- parse_duration / format_duration --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("0d", timedelta(0)),
        ("1s", timedelta(seconds=1)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("365d", timedelta(days=365)),
        ("007m", timedelta(minutes=7)),
        ("  6h  ", timedelta(hours=6)),
        ("\t2d\n", timedelta(days=2)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "revoke-after") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "6",  # a bare number other than 0 has no unit
        "00",
        "h",
        "6H",
        "6hours",
        "6 h",
        "1h30m",
        "1.5h",
        "-1h",
        "+1h",
        "6w",
        "6ms",
        "PT6H",
        "next-rotation",  # a revoke-after keyword, handled by config.py before durations
        "٣h",  # a non-ASCII digit
        "99999999999999999999d",  # past what timedelta holds
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "revoke-after")
    error = caught.value
    assert error.option == "revoke-after"
    assert error.value == text
    message = str(error)
    assert "revoke-after" in message
    assert repr(text) in message
    assert DURATION_ALLOWED in message


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0"),
        (timedelta(seconds=1), "1s"),
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=6), "6h"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1), "86401s"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("delta", [timedelta(seconds=-1), timedelta(milliseconds=1500)])
def test_format_duration_refuses_what_cannot_be_written(delta: timedelta) -> None:
    with pytest.raises(ValueError):
        format_duration(delta)


@given(st.integers(min_value=0, max_value=MAX_DURATION_SECONDS))
@settings(max_examples=200, deadline=None)
def test_format_then_parse_round_trips(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    written = format_duration(delta)
    assert parse_duration(written, "expires-after") == delta
    # Largest exact unit: the number never divides evenly into the next unit up.
    if written != "0" and written[-1] != "d":
        next_up = {"s": 60, "m": 60, "h": 24}[written[-1]]
        assert int(written[:-1]) % next_up != 0


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhd"))
@settings(max_examples=100, deadline=None)
def test_parse_duration_is_amount_times_unit(amount: int, unit: str) -> None:
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if amount * size > MAX_DURATION_SECONDS:  # ten years: a typo, not a plan
        with pytest.raises(ConfigError, match="at most 3650d"):
            parse_duration(f"{amount}{unit}", "cooldown")
        return
    assert parse_duration(f"{amount}{unit}", "cooldown") == timedelta(seconds=amount * size)


@given(st.text(max_size=12))
@settings(max_examples=200, deadline=None)
def test_parse_duration_never_fails_any_other_way(text: str) -> None:
    try:
        result = parse_duration(text, "cooldown")
    except ConfigError as error:
        assert error.option == "cooldown"
    else:
        assert result >= timedelta(0)


# --- parse_time_of_day -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00", time(0, 0)),
        ("07:05", time(7, 5)),
        ("12:00", time(12, 0)),
        ("23:59", time(23, 59)),
        (" 02:30 ", time(2, 30)),
    ],
)
def test_parse_time_of_day_accepts(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


def test_every_minute_of_the_day_parses() -> None:
    for minutes in range(24 * 60):
        hour, minute = divmod(minutes, 60)
        assert parse_time_of_day(f"{hour:02d}:{minute:02d}") == time(hour, minute)


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("7:05", "07:05"),  # one-digit hour: refused, with the spelling to use
        ("07:5", "07:05"),
        ("0:0", "00:00"),
        ("24:00", None),
        ("23:60", None),
        ("99:99", None),
        ("", None),
        ("0700", None),
        ("07.00", None),
        ("07:00:00", None),
        ("7am", None),
        ("07:00Z", None),
        ("07:00 UTC", None),
        ("-1:00", None),
        ("١٢:٠٠", None),  # non-ASCII digits
    ],
)
def test_parse_time_of_day_rejects(text: str, fix: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_time_of_day(text)
    error = caught.value
    assert error.option == "rotate-at"
    assert error.value == text
    message = str(error)
    assert "rotate-at" in message
    assert repr(text) in message
    assert TIME_OF_DAY_ALLOWED in message
    if fix is not None:
        assert f"write {fix}" in message


def test_parse_time_of_day_names_the_option_it_is_given() -> None:
    with pytest.raises(ConfigError, match="rotate_at"):
        parse_time_of_day("25:00", "rotate_at")


@given(st.text(max_size=8))
@settings(max_examples=200, deadline=None)
def test_parse_time_of_day_never_fails_any_other_way(text: str) -> None:
    try:
        result = parse_time_of_day(text)
    except ConfigError:
        return
    assert result.second == 0 and result.microsecond == 0 and result.tzinfo is None
    assert text.strip() == result.strftime("%H:%M")


# --- parse_timezone --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "UTC",
        "Etc/UTC",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "America/Argentina/Buenos_Aires",
        "US/Eastern",  # backward-compatible link names stay valid
        "Etc/GMT+5",
        " Europe/London ",
    ],
)
def test_parse_timezone_accepts(text: str) -> None:
    zone = parse_timezone(text)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == text.strip()


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("", None),
        ("Nowhere/Special", None),
        ("America", None),  # a directory of the database, not a zone
        ("../etc/passwd", None),
        ("/etc/localtime", None),
        ("/usr/share/zoneinfo/UTC", None),
        ("localtime", None),  # the host's zone: a different answer on every runner
        ("Factory", None),
        ("posix/UTC", None),
        ("right/UTC", None),  # leap-second variant
        ("zone.tab", None),
        ("EST+5", None),
        ("+05:30", None),
        ("utc", "UTC"),
        ("europe/london", "Europe/London"),
        ("America/New York", "America/New_York"),
        ("Europe/London\x00", None),
    ],
)
def test_parse_timezone_rejects(text: str, suggestion: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_timezone(text)
    error = caught.value
    assert error.option == "timezone"
    assert error.value == text
    message = str(error)
    assert "timezone" in message
    assert repr(text) in message
    assert TIMEZONE_ALLOWED in message
    if suggestion is not None:
        assert f"did you mean {suggestion}?" in message
    else:
        assert "did you mean" not in message


@given(st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_parse_timezone_never_fails_any_other_way(text: str) -> None:
    try:
        parse_timezone(text, "tz")
    except ConfigError as error:
        assert error.option == "tz"


# --- local_wall_time: explicit DST examples --------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc", "expected_local"),
    [
        # New York spring forward, 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 does not exist.
        (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 30), "2026-03-08 03:30 EDT"),
        (NEW_YORK, date(2026, 3, 8), time(2, 0), utc(2026, 3, 8, 7, 0), "2026-03-08 03:00 EDT"),
        (NEW_YORK, date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0), "2026-03-08 03:00 EDT"),
        (NEW_YORK, date(2026, 3, 8), time(1, 59), utc(2026, 3, 8, 6, 59), "2026-03-08 01:59 EST"),
        # New York fall back, 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30), "2026-11-01 01:30 EDT"),
        (NEW_YORK, date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0), "2026-11-01 02:00 EST"),
        # London, 2026-03-29 01:00 GMT -> 02:00 BST and 2026-10-25 02:00 BST -> 01:00 GMT.
        (LONDON, date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1, 30), "2026-03-29 02:30 BST"),
        (LONDON, date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30), "2026-10-25 01:30 BST"),
        (LONDON, date(2026, 7, 1), time(0, 0), utc(2026, 6, 30, 23, 0), "2026-07-01 00:00 BST"),
        # Lord Howe spring forward, 2026-10-04 02:00 +1030 -> 02:30 +11: a 30-minute gap.
        (
            LORD_HOWE,
            date(2026, 10, 4),
            time(2, 15),
            utc(2026, 10, 3, 15, 45),
            "2026-10-04 02:45 +11",
        ),
        # Lord Howe fall back, 2026-04-05 02:00 +11 -> 01:30 +1030: 01:45 happens twice.
        (
            LORD_HOWE,
            date(2026, 4, 5),
            time(1, 45),
            utc(2026, 4, 4, 14, 45),
            "2026-04-05 01:45 +11",
        ),
        (KOLKATA, date(2026, 3, 8), time(0, 0), utc(2026, 3, 7, 18, 30), "2026-03-08 00:00 IST"),
        (
            ZoneInfo("UTC"),
            date(2026, 3, 8),
            time(2, 30),
            utc(2026, 3, 8, 2, 30),
            "2026-03-08 02:30 UTC",
        ),
    ],
)
def test_local_wall_time_examples(
    zone: ZoneInfo, day: date, at: time, expected_utc: datetime, expected_local: str
) -> None:
    result = local_wall_time(day, at, zone)
    assert result == expected_utc
    assert result.utcoffset() == timedelta(0)
    assert result.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") == expected_local


def test_lord_howe_2026_transitions_are_where_the_examples_assume() -> None:
    found = [t for t in transitions(LORD_HOWE) if t.instant.year == 2026]
    assert [(t.instant.astimezone(LORD_HOWE).date(), t.gap) for t in found] == [
        (date(2026, 4, 5), timedelta(minutes=-30)),
        (date(2026, 10, 4), timedelta(minutes=30)),
    ]


def test_local_wall_time_refuses_a_datetime_or_an_aware_time() -> None:
    with pytest.raises(TypeError):
        local_wall_time(datetime(2026, 3, 8, 12, 0), time(2, 30), NEW_YORK)
    with pytest.raises(ValueError):
        local_wall_time(date(2026, 3, 8), time(2, 30, tzinfo=UTC), NEW_YORK)


def test_local_wall_time_ignores_a_fold_on_the_time() -> None:
    assert local_wall_time(date(2026, 11, 1), time(1, 30, fold=1), NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )


# --- next_due and is_due: explicit examples --------------------------------------------------


@pytest.mark.parametrize(
    ("last", "interval", "at", "zone", "expected"),
    [
        # Local date of the last rotation is 2026-02-06; +30 days is the spring-forward day.
        (utc(2026, 2, 6, 12, 0), 30, time(2, 30), NEW_YORK, utc(2026, 3, 8, 7, 30)),
        # 03:00Z on Jan 1 is still Dec 31 in New York: days count from the local date.
        (utc(2026, 1, 1, 3, 0), 1, time(0, 0), NEW_YORK, utc(2026, 1, 1, 5, 0)),
        # 20:00Z on Jan 1 is already Jan 2 in Kolkata.
        (utc(2026, 1, 1, 20, 0), 1, time(0, 0), KOLKATA, utc(2026, 1, 2, 18, 30)),
        # Across a DST change the wall time stays put; the UTC hour moves.
        (utc(2026, 3, 1, 14, 0), 14, time(9, 0), NEW_YORK, utc(2026, 3, 15, 13, 0)),
        (utc(2026, 10, 1, 8, 0), 30, time(9, 0), LONDON, utc(2026, 10, 31, 9, 0)),
        # Fall-back day, ambiguous 01:30: the first occurrence.
        (utc(2026, 10, 2, 12, 0), 30, time(1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        # A rotation late in the local day, due early the next day.
        (utc(2026, 5, 5, 23, 59), 1, time(0, 0), ZoneInfo("UTC"), utc(2026, 5, 6, 0, 0)),
        # The last rotation's own time of day does not matter, only its local date.
        (utc(2026, 5, 5, 0, 0), 30, time(0, 0), ZoneInfo("UTC"), utc(2026, 6, 4, 0, 0)),
    ],
)
def test_next_due_examples(
    last: datetime, interval: int, at: time, zone: ZoneInfo, expected: datetime
) -> None:
    assert next_due(last, interval, at, zone) == expected
    # The same instant given in another zone means the same thing.
    assert next_due(last.astimezone(KOLKATA), interval, at, zone) == expected


def test_is_due_around_the_due_instant() -> None:
    last = utc(2026, 2, 6, 12, 0)
    due = utc(2026, 3, 8, 7, 30)
    args = (last, 30, time(2, 30), NEW_YORK)
    assert not is_due(due - timedelta(microseconds=1), *args)
    assert is_due(due, *args)
    assert is_due(due + timedelta(days=400), *args)  # a late run still rotates


def test_first_key_is_issued_at_once_even_with_auto_rotation_off() -> None:
    now = utc(2026, 1, 1)
    assert is_due(now, None, 30, time(0, 0), ZoneInfo("UTC"))
    assert is_due(now, None, 30, time(0, 0), ZoneInfo("UTC"), auto_rotation=False)


def test_auto_rotation_off_is_never_due_once_a_key_exists() -> None:
    last = utc(2020, 1, 1)
    assert not is_due(utc(2030, 1, 1), last, 1, time(0, 0), ZoneInfo("UTC"), auto_rotation=False)


@pytest.mark.parametrize(
    "call",
    [
        lambda: next_due(datetime(2026, 1, 1), 30, time(0, 0), NEW_YORK),
        lambda: is_due(datetime(2026, 1, 1), utc(2026, 1, 1), 30, time(0, 0), NEW_YORK),
        lambda: is_due(utc(2026, 1, 1), datetime(2026, 1, 1), 30, time(0, 0), NEW_YORK),
        lambda: is_due(datetime(2026, 1, 1), None, 30, time(0, 0), NEW_YORK),
        lambda: next_due(utc(2026, 1, 1), 0, time(0, 0), NEW_YORK),
        lambda: next_due(utc(2026, 1, 1), -1, time(0, 0), NEW_YORK),
    ],
)
def test_programming_errors_are_value_errors_not_config_errors(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    assert not isinstance(caught.value, ConfigError)


# --- the DST oracle and strategies -----------------------------------------------------------


class Transition:
    """One change of UTC offset in a zone: the first instant of the new offset."""

    def __init__(self, instant: datetime, before: timedelta, after: timedelta) -> None:
        self.instant = instant
        self.before = before
        self.after = after
        self.gap = after - before

    def __repr__(self) -> str:
        return f"Transition({self.instant.isoformat()}, {self.before} -> {self.after})"


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@functools.cache
def transitions(zone: ZoneInfo) -> tuple[Transition, ...]:
    """Every offset change from 2020 to 2035, found by a daily scan and a bisection."""
    found = []
    day = utc(2020, 1, 1)
    while day.year < 2036:
        following = day + timedelta(days=1)
        if _offset(zone, day) != _offset(zone, following):
            # Bisect over whole minutes (offsets change on a minute): offset(day + low minutes)
            # is the old one, offset(day + high minutes) the new one.
            low, high = 0, 24 * 60
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, day + timedelta(minutes=middle)) == _offset(zone, day):
                    low = middle
                else:
                    high = middle
            instant = day + timedelta(minutes=high)
            found.append(Transition(instant, _offset(zone, day), _offset(zone, instant)))
        day = following
    return tuple(found)


def expected_wall_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """SPEC §2 rule, worked out without fold: try the offsets in force a day either side."""
    wall = datetime.combine(day, at)
    as_if_utc = wall.replace(tzinfo=UTC)
    before = _offset(zone, as_if_utc - timedelta(hours=26))
    after = _offset(zone, as_if_utc + timedelta(hours=26))
    candidates = sorted({as_if_utc - before, as_if_utc - after})
    real = [c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == wall]
    if real:
        return real[0]  # the first occurrence
    # Inside a gap: read with the offset before the change, which is `gap` later on the clock.
    assert after > before
    return as_if_utc - before


def _is_missing(day: date, at: time, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day, at)
    instant = expected_wall_instant(day, at, zone)
    return instant.astimezone(zone).replace(tzinfo=None) != wall


minute_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
zones = st.sampled_from(ZONES)
dst_zones = st.sampled_from([NEW_YORK, LONDON, LORD_HOWE])


@st.composite
def wall_times_near_transitions(draw: st.DrawFn) -> tuple[ZoneInfo, date, time]:
    """A local day and time of day within 90 minutes of a DST change in that zone."""
    zone = draw(dst_zones)
    change = draw(st.sampled_from(transitions(zone)))
    # The wall clock just before the change, nudged by up to 90 minutes either way.
    wall = (change.instant + change.before).replace(tzinfo=None)
    wall += timedelta(minutes=draw(st.integers(-90, 90)))
    return zone, wall.date(), time(wall.hour, wall.minute)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[datetime, int, time, ZoneInfo]:
    """(last rotation, interval days, rotate-at, zone), half of them aimed at a DST change."""
    interval = draw(st.integers(min_value=1, max_value=90))
    if draw(st.booleans()):
        zone, due_day, at = draw(wall_times_near_transitions())
        # Any moment of the local day `interval` days before the day the change is on.
        start = expected_wall_instant(due_day - timedelta(days=interval), time(0, 0), zone)
        end = expected_wall_instant(due_day - timedelta(days=interval - 1), time(0, 0), zone)
        seconds = draw(st.integers(0, int((end - start).total_seconds()) - 1))
        last = start + timedelta(seconds=seconds)
    else:
        zone = draw(zones)
        at = draw(minute_times)
        last = draw(
            st.datetimes(
                min_value=datetime(2020, 1, 1),
                max_value=datetime(2035, 6, 30),
                timezones=st.just(UTC),
            )
        )
    # The caller may hand in any aware datetime, not only UTC ones.
    last = last.astimezone(draw(st.sampled_from([UTC, zone, KOLKATA])))
    return last, interval, at, zone


# --- properties ------------------------------------------------------------------------------


@given(wall_times_near_transitions())
@PROPERTY_SETTINGS
def test_local_wall_time_matches_the_rule_near_transitions(
    case: tuple[ZoneInfo, date, time],
) -> None:
    zone, day, at = case
    result = local_wall_time(day, at, zone)
    assert result.utcoffset() == timedelta(0)
    assert result == expected_wall_instant(day, at, zone)
    local = result.astimezone(zone)
    wall = datetime.combine(day, at)
    if _is_missing(day, at, zone):
        change = next(t for t in transitions(zone) if t.instant <= result < t.instant + t.gap)
        assert local.replace(tzinfo=None) == wall + change.gap
        # The first instant on the far side of the change, never one before it.
        assert result >= change.instant
    else:
        assert local.replace(tzinfo=None) == wall
        # First occurrence: one fall-back earlier, the clock did not show this time yet.
        for change in transitions(zone):
            if change.gap < timedelta(0) and abs(change.instant - result) < timedelta(days=1):
                assert (result + change.gap).astimezone(zone).replace(tzinfo=None) != wall


@given(zones, st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), minute_times)
@PROPERTY_SETTINGS
def test_local_wall_time_matches_the_rule_anywhere(zone: ZoneInfo, day: date, at: time) -> None:
    assert local_wall_time(day, at, zone) == expected_wall_instant(day, at, zone)


@given(schedules())
@PROPERTY_SETTINGS
def test_next_due_is_interval_local_days_later_at_rotate_at(
    case: tuple[datetime, int, time, ZoneInfo],
) -> None:
    last, interval, at, zone = case
    due = next_due(last, interval, at, zone)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    local = due.astimezone(zone)
    due_day = last.astimezone(zone).date() + timedelta(days=interval)
    # None of these zones changes its clocks near midnight, so the gap never changes the date.
    assert local.date() == due_day
    if _is_missing(due_day, at, zone):
        assert local.time() > at
    else:
        assert local.time() == at
    assert due == expected_wall_instant(due_day, at, zone)
    assert due > last


@given(schedules())
@PROPERTY_SETTINGS
def test_is_due_flips_exactly_at_next_due(case: tuple[datetime, int, time, ZoneInfo]) -> None:
    last, interval, at, zone = case
    due = next_due(last, interval, at, zone)
    assert not is_due(due - timedelta(microseconds=1), last, interval, at, zone)
    assert is_due(due, last, interval, at, zone)
    assert not is_due(last, last, interval, at, zone)
    # Turning auto rotation off stops every rotation but the first key.
    assert not is_due(due, last, interval, at, zone, auto_rotation=False)


@given(schedules(), st.lists(st.integers(-200 * 86400, 200 * 86400), min_size=2, max_size=6))
@PROPERTY_SETTINGS
def test_is_due_is_monotonic_in_now(
    case: tuple[datetime, int, time, ZoneInfo], offsets: list[int]
) -> None:
    last, interval, at, zone = case
    nows = sorted(last + timedelta(seconds=s) for s in offsets)
    answers = [is_due(now, last, interval, at, zone) for now in nows]
    # Once due, due for every later now: a run that is late never misses a rotation.
    assert answers == sorted(answers)


@given(schedules())
@PROPERTY_SETTINGS
def test_next_due_depends_only_on_the_local_date_of_the_last_rotation(
    case: tuple[datetime, int, time, ZoneInfo],
) -> None:
    last, interval, at, zone = case
    start_of_day = local_wall_time(last.astimezone(zone).date(), time(0, 0), zone)
    assert next_due(start_of_day, interval, at, zone) == next_due(last, interval, at, zone)
