"""A scheduled run that is not due (the common case with an hourly schedule).

    python benchmarks/not_due.py [--runs 20]

The engine issues the first key, then hourly runs follow (the clock moves one hour each time):
each should read the state and the active key's usage, and write nothing. Measured in process
without and with 50 ms per request, and end to end as the ``openrouter-rotator rotate``
process the action runs (interpreter start, imports, two requests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from _common import STATE_REPO, FakeClock, classify, count, first_key, make_rotator, median, table

from openrouter_rotator.sandbox import Sandbox

TARGETS = ["repo:octo-org/app", "env:octo-org/app/production", "org:octo-org"]


def in_process(runs: int, latency: float) -> tuple[float, float, dict[str, int], int]:
    with Sandbox() as box:
        clock = FakeClock()
        first_key(box, TARGETS, clock)
        box.latency = latency
        times: list[float] = []
        per_run: set[tuple[tuple[str, int], ...]] = set()
        mutating = 0
        for _ in range(runs):
            clock.advance(hours=1)
            box.reset_requests()
            rotator = make_rotator(box, TARGETS, clock)
            start = time.perf_counter()
            result = rotator.run()
            times.append(time.perf_counter() - start)
            if result.rotated:
                raise SystemExit("a not-due run rotated")
            requests = box.requests()
            mutating += sum(1 for r in requests if r.method != "GET")
            per_run.add(tuple(sorted(count(classify(requests)).items())))
        if len(per_run) != 1:
            raise SystemExit(f"the runs differ: {per_run}")
        return median(times), max(times), dict(next(iter(per_run))), mutating


def as_process(runs: int) -> tuple[float, float, int]:
    with Sandbox() as box:
        env = {
            **os.environ,
            **box.env(),
            "ROTATOR_STATE_REPOSITORY": STATE_REPO,
            "ROTATOR_TARGETS": "\n".join(TARGETS),
            "ROTATOR_GITHUB_WRITE_INTERVAL": "0",
        }
        env.pop("GITHUB_ACTIONS", None)
        command = [sys.executable, "-m", "openrouter_rotator", "rotate", "--json"]
        subprocess.run(command, env=env, check=True, capture_output=True)  # first key
        times: list[float] = []
        for _ in range(runs):
            box.reset_requests()
            start = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode != 0 or '"rotated": false' not in done.stdout:
                raise SystemExit(f"unexpected run: {done.returncode} {done.stdout} {done.stderr}")
        return median(times), max(times), len(box.requests())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    rows = []
    for latency in (0.0, 0.05):
        med, worst, classes, mutating = in_process(args.runs, latency)
        rows.append(
            (
                f"in process, {latency * 1000:.0f} ms/request",
                sum(classes.values()),
                ", ".join(f"{k} {v}" for k, v in classes.items()),
                mutating,
                f"{med * 1000:.1f}",
                f"{worst * 1000:.1f}",
            )
        )
    med, worst, requests = as_process(max(3, args.runs // 4))
    rows.append(
        (
            "CLI process, 0 ms/request",
            requests,
            "(same)",
            0,
            f"{med * 1000:.0f}",
            f"{worst * 1000:.0f}",
        )
    )
    print(f"\n## Scheduled run, not due ({len(TARGETS)} targets; median of {args.runs} runs)")
    print(table(rows, ("run", "requests", "by class", "writes", "median ms", "max ms")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
