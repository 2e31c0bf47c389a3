"""The one fake clock of the demo, the tests and the benchmarks.

It stands still until it is told to move, so a rotation due in 30 days, a grace period of six
hours or a webhook cooldown can be crossed at once. The engine reads it as a ``datetime``
(``clock()``, what :class:`~openrouter_rotator.rotation.Rotator` takes as ``now``); the webhook
and its stores read Unix seconds (``clock.time``, what they take as ``clock``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        # Whole seconds, near the real time: the sandbox stamps keys with its own clock, and the
        # engine compares the two (allowing minutes of skew).
        self.moment = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.moment

    def time(self) -> float:
        """Now as Unix seconds."""
        return self.moment.timestamp()

    def advance(self, **delta: float) -> None:
        """Move forward: ``advance(hours=6)``, ``advance(seconds=1.5)`` (``timedelta``'s words)."""
        self.moment += timedelta(**delta)
