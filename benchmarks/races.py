"""Two ``rotate --force`` CLI processes started together, N times: does the lock hold?

    python benchmarks/races.py [--trials 40] [--latency 0.02] [--json]

Each trial: a fresh sandbox, a first key issued by one CLI run, then two forced CLI runs
started at the same moment (two processes, real HTTP over loopback, ``latency`` seconds added
to every request so that they interleave). Counted per trial: how many of the two rotated
(and, when both did, whether from the same key, a race, or one after the other, which is two
forced rotations in a row), the loser's exit code and whether it said "another run holds the
lock", and the live keys of the rotation that the state does not track (orphans) after both
ended, and again after one more ordinary run (which must revoke any it finds).

The script runs the code it imports, so the same script measures an older checkout:
``PYTHONPATH=/path/to/old/src python benchmarks/races.py`` (the sandbox and CLI come from there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from _common import print_figures

from openrouter_rotator.sandbox import Sandbox

STATE_REPO = "octo-org/app"
VARIABLE = "OPENROUTER_API_KEY_ROTATION"
KEY_NAME = "race"
TARGETS = ["repo:octo-org/app", "env:octo-org/app/production"]


def cli_env(box: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTATOR_", "GITHUB_"))}
    env.update(box.env())
    env.update(
        {
            "GITHUB_REPOSITORY": STATE_REPO,
            "ROTATOR_GITHUB_WRITE_INTERVAL": "0",
            "ROTATOR_TARGETS": "\n".join(TARGETS),
            "ROTATOR_KEY_NAME": KEY_NAME,
            "ROTATOR_REVOKE_AFTER": "0",
        }
    )
    return env


def start(box: Sandbox, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "openrouter_rotator", "rotate", "--json", *args],
        env=cli_env(box),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ours(name: str) -> bool:
    # The first release named keys exactly KEY_NAME; this one adds a mark.
    return name == KEY_NAME or name.startswith(KEY_NAME + " [rotator ")


def untracked(box: Sandbox) -> int:
    value = box.github.variable(STATE_REPO, VARIABLE)
    data = json.loads(value) if value else {}
    known = {r["hash"] for r in data.get("retiring") or []}
    for part in ("active", "in_flight"):
        if data.get(part) and data[part].get("hash" if part == "active" else "key_hash"):
            known.add(data[part]["hash" if part == "active" else "key_hash"])
    return sum(1 for k in box.openrouter.live_keys() if ours(k.name) and k.hash not in known)


def trial(latency: float) -> dict[str, Any]:
    with Sandbox() as box:
        first = start(box)
        first.communicate(timeout=60)
        box.latency = latency
        runs = [start(box, "--force") for _ in range(2)]
        outs = [run.communicate(timeout=120) for run in runs]
        codes = [run.returncode for run in runs]
        results: list[dict[str, Any] | None] = []
        for stdout, _ in outs:
            try:
                results.append(json.loads(stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                results.append(None)
        rotated = sum(1 for r in results if r and r.get("rotated"))
        # Both rotated from the same key: they overlapped (a race). One after the other (the
        # second read the state after the first had committed): two forced rotations in a row.
        previous = [r.get("previous_key_hash") for r in results if r and r.get("rotated")]
        raced = rotated == 2 and previous[0] == previous[1]
        losers = [
            (code, r, err)
            for code, r, (_, err) in zip(codes, results, outs, strict=True)
            if not (r and r.get("rotated"))
        ]
        orphans = untracked(box)
        box.latency = 0
        later = start(box)
        later.communicate(timeout=60)
        return {
            "rotated": rotated,
            "raced": raced,
            "loser_codes": [code for code, _, _ in losers],
            "loser_said_lock": [
                "another run holds the lock" in ((r or {}).get("reason") or "") + err
                for _, r, err in losers
            ],
            "orphans": orphans,
            "orphans_after_next_run": untracked(box),
            "tracebacks": sum("Traceback" in err for _, err in outs),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    trials = [trial(args.latency) for _ in range(args.trials)]
    summary = {
        "trials": len(trials),
        "both rotated": sum(t["rotated"] == 2 for t in trials),
        "  of which from the same key (a race)": sum(t["raced"] for t in trials),
        "  of which one after the other (serial)": sum(
            t["rotated"] == 2 and not t["raced"] for t in trials
        ),
        "exactly one rotated": sum(t["rotated"] == 1 for t in trials),
        "none rotated": sum(t["rotated"] == 0 for t in trials),
        "trials with an orphan after the pair": sum(t["orphans"] > 0 for t in trials),
        "orphans after the pair": sum(t["orphans"] for t in trials),
        "orphans after one more run": sum(t["orphans_after_next_run"] for t in trials),
        "loser exit codes": dict(Counter(c for t in trials for c in t["loser_codes"])),
        "losers saying 'another run holds the lock'": sum(
            sum(t["loser_said_lock"]) for t in trials
        ),
        "tracebacks": sum(t["tracebacks"] for t in trials),
        "seconds": round(time.monotonic() - started, 1),
    }
    print_figures(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
