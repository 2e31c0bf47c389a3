"""The one retry policy of both clients (OpenRouter and GitHub): how long to wait, and when to
give up.

* ``Retry-After`` (seconds, or an HTTP date) is honoured as the server asks;
* an ordinary retry (a 5xx, a lost connection, a 429 without ``Retry-After``) waits an
  exponential backoff with full jitter, capped;
* GitHub's *secondary* rate limit follows GitHub's documented guidance: wait at least a minute
  (or what ``retry-after`` / ``x-ratelimit-reset`` say), then exponentially longer (1, 2, 4
  minutes), then give up with a clear message;
* a wait longer than ``max_wait`` is not sat through: it is reported, so a CI job does not idle.

Which requests may be retried at all (never a blind ``POST /keys``, never a workflow dispatch
on a 5xx) is each client's business; this module only says how long, and how often.
``scale`` multiplies every wait: tests set it to 0 to skip real backoff and still see it.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4  # retries after the first attempt, for ordinary failures
    backoff: float = 0.5  # first backoff step, seconds; doubled each retry, full jitter
    backoff_cap: float = 8.0
    max_wait: float = 300.0  # a server asking for longer is a failure to report
    secondary_wait: float = 60.0  # GitHub: "wait for at least one minute before retrying"
    secondary_retries: int = 3  # 1, 2 and 4 minutes, then give up
    scale: float = 1.0  # multiplies every wait; 0 in tests

    def backoff_for(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the ``attempt``-th retry (0-based)."""
        return random.uniform(0, min(self.backoff_cap, self.backoff * 2**attempt))

    def secondary_for(self, attempt: int, asked: float | None) -> float:
        """The wait before the ``attempt``-th retry (0-based) after a secondary rate limit.

        The first time, what GitHub asked for, or a minute when it asked nothing; after that,
        never less than a minute doubled each time, whatever it asks.
        """
        floor = self.secondary_wait * 2**attempt
        if attempt == 0 and asked is not None:
            return asked
        return max(floor, asked or 0.0)


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); None if absent or
    unreadable. ``headers`` must have lower-case names; ``now`` is a Unix time."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isascii() and raw.replace(".", "", 1).isdigit():
        return max(0.0, float(raw))
    try:
        moment = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def rate_limit_reset(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0 (plus one: the
    reset second is not precise); None otherwise."""
    if headers.get("x-ratelimit-remaining") != "0":
        return None
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if not (reset.isascii() and reset.isdigit() and len(reset) <= 12):
        return None
    return max(0.0, float(reset) - now) + 1.0
