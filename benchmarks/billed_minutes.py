"""Billed minutes a month of the example workflow, ungated (hourly) and gated.

    python benchmarks/billed_minutes.py [--days 30]

Runs tests/billing.py's simulation against the sandbox: every hourly tick evaluates the example
workflow's real job-level ``if:`` against the state variable the engine left, and starts a job
(the engine, under a fake clock) when it holds; the verify job follows a rotation. GitHub bills
each started job rounded up to a minute, so billed minutes = jobs. Prints jobs, minutes in a
30.4-day month, the share of GitHub Free's 2,000 minutes, and the worst lateness.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openrouter_rotator.sandbox import Sandbox  # noqa: E402
from tests.billing import simulate  # noqa: E402

FREE_MINUTES = 2000
MONTH_DAYS = 30.4
SCENARIOS = (
    ("example: every 30 days at 03:00 UTC, revoke-after 6h", {}),
    (
        "every 7 days at 09:30 Europe/Berlin, revoke-after 90m",
        {"rotate_at": "09:30", "timezone": "Europe/Berlin", "interval_days": "7",
         "revoke_after": "90m"},
    ),
    ("every day at 03:00 UTC, revoke-after 6h", {"interval_days": "1"}),
)  # fmt: skip


def minutes(jobs: int, days: int) -> tuple[str, str]:
    month = jobs * MONTH_DAYS / days
    return f"{month:.0f}", f"{100 * month / FREE_MINUTES:.1f} %"


def late(pairs: list[tuple[datetime, datetime]]) -> str:
    worst = max((done - due for due, done in pairs), default=timedelta(0))
    return f"{worst.total_seconds() / 60:.1f} min"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    start = datetime(2026, 3, 10, 14, 5, tzinfo=timezone.utc)
    rows: list[tuple[object, ...]] = []
    for label, overrides in SCENARIOS:
        with Sandbox() as box:
            report = simulate(box, start, args.days, overrides=overrides)
        ungated = report.ticks + report.verify_jobs
        rows.append((f"hourly, ungated; {label}", report.ticks, report.verify_jobs,
                     ungated, *minutes(ungated, args.days), "-", "-"))  # fmt: skip
        rows.append((f"gated; {label}", len(report.jobs), report.verify_jobs, report.billed,
                     *minutes(report.billed, args.days), late(report.rotations),
                     late(report.revocations)))  # fmt: skip
    print(f"\n## Billed jobs in {args.days} simulated days (one billed minute per job)")
    headers = ("workflow", "scheduled jobs", "verify jobs", "billed", "min/month",
               "of 2,000", "rotation late", "revocation late")  # fmt: skip
    print(table(rows, headers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
