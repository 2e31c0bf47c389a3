"""A forced rotation to 500 repository targets keeps its lock to the end (simulated pacing).

    python benchmarks/long_lock.py [--targets 500] [--ttl-minutes 30] [--json]

GitHub asks for at least 1 s between writes in bulk, so 500 repository secrets take about 9
minutes. Sitting through that in a benchmark proves nothing the clock cannot: the run uses the
sandbox over loopback without real pauses, and a simulated clock advances 1 s per GitHub write
and 50 ms per other GitHub request, as a paced run would. The engine's lock, its renewals and
its expiry all run on that clock. Halfway through the publishing, a second (forced) run on the
same clock tries to rotate: it must find the lock held and change nothing.

Printed: simulated duration, lock renewals, the smallest margin between the clock and the
lock's expiry seen before any request (negative would mean the lock lapsed), the contender's
answer, and whether the state converged. ``--ttl-minutes 2`` shows renewals at work on a
shorter lock.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from typing import Any

from _common import STATE_REPO, FakeClock, make_rotator, print_figures, seed_repos

from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.state import State


def measure(n: int, ttl: timedelta) -> dict[str, Any]:
    with Sandbox() as box:
        targets = [f"repo:octo-org/{name}" for name in seed_repos(box, n)]
        clock = FakeClock()
        make_rotator(box, targets, clock).run()
        clock.advance(minutes=5)
        rotator = make_rotator(box, targets, clock, force=True, revoke_after="0")
        rotator.lock_ttl = ttl
        github = rotator.github
        start = clock()
        margins: list[float] = []
        puts = 0
        contender: dict[str, Any] = {}
        send = github._request

        def paced(verb: str, path: str, **options: Any) -> Any:
            nonlocal puts
            clock.advance(seconds=1.0 if verb != "GET" else 0.05)
            if rotator.lock is not None:
                margins.append((rotator.lock.expires_at - clock()).total_seconds())
            if verb == "PUT":
                puts += 1
                if puts == n // 2 and not contender:
                    other = make_rotator(box, targets, clock, force=True).run()
                    contender.update(rotated=other.rotated, reason=other.reason)
            return send(verb, path, **options)

        github._request = paced  # type: ignore[method-assign]
        wall = time.monotonic()
        result = rotator.run()
        wall = time.monotonic() - wall
        lock = box.github.variable(STATE_REPO, "OPENROUTER_API_KEY_ROTATION") or ""
        state = State.from_json(lock, "benchmark")
        converged = (
            result.rotated
            and state.in_flight is None
            and state.active is not None
            and state.active.hash == result.key_hash
            and all(t.status == "updated" for t in result.targets)
        )
        renewals = sum(1 for r in box.requests() if r.method == "PATCH" and "_LOCK_" in r.path)
        return {
            "targets": n,
            "lock ttl (min)": ttl.total_seconds() / 60,
            "simulated duration (min)": round((clock() - start).total_seconds() / 60, 1),
            "lock renewals": renewals,
            "smallest margin before expiry (s)": round(min(margins), 1) if margins else None,
            "lock ever lapsed": any(m <= 0 for m in margins),
            "contender mid-run rotated": contender.get("rotated"),
            "contender's reason": contender.get("reason"),
            "rotation converged": converged,
            "wall seconds": round(wall, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--ttl-minutes", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.targets, timedelta(minutes=args.ttl_minutes))
    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
