"""Requests per forced rotation, by target mix, against the sandbox, beside a naive baseline.

    python benchmarks/requests_per_rotation.py [--json]

Each mix runs in a fresh sandbox: the engine issues the first key, then a forced rotation with
``revoke-after 0`` (so the old key is deleted in the same run) is measured request by request.
The baseline does the same rotation the obvious way with PyGithub (``create_secret`` per
target) in another fresh sandbox. Every request above the issue-7 minimum is flagged: either
as a justified extra (with the reason) or as waste.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence

from _common import (
    CLASSES,
    Budget,
    FakeClock,
    classify,
    count,
    first_key,
    make_rotator,
    minimum_budget,
    naive_rotation,
    over_budget,
    seed_repos,
    table,
)

from openrouter_rotator.sandbox import Sandbox

Seeder = Callable[[Sandbox], list[str]]


def one_repo(box: Sandbox) -> list[str]:
    return ["repo:octo-org/app"]


def five_repos(box: Sandbox) -> list[str]:
    names = ["app", "api"] + seed_repos(box, 3)
    return [f"repo:octo-org/{n}" for n in names]


def one_environment(box: Sandbox) -> list[str]:
    return ["env:octo-org/app/production"]


def org_selected_20(box: Sandbox) -> list[str]:
    names = seed_repos(box, 20)
    return ["org:octo-org?visibility=selected&repositories=" + ",".join(names)]


def all_kinds(box: Sandbox) -> list[str]:
    box.github.add_org("octo-labs")
    for name in ("web", "worker"):
        box.github.add_repo(f"octo-labs/{name}")
    return [
        "repo:octo-org/app",
        "env:octo-org/app/production",
        "dependabot:octo-org/api",
        "org:octo-org",  # no visibility given: the existing secret's scope is read and kept
        "org:octo-labs?visibility=selected&repositories=web,worker",
    ]


MIXES: dict[str, Seeder] = {
    "1 repo": one_repo,
    "5 repos": five_repos,
    "1 environment": one_environment,
    "1 org secret, selected, 20 repos": org_selected_20,
    "all kinds at once": all_kinds,
}


def engine_run(seed: Seeder, revoke_after: str) -> tuple[Counter[str], list[str], int, list[str]]:
    with Sandbox() as box:
        targets = seed(box)
        clock = FakeClock()
        first_key(box, targets, clock)
        box.reset_requests()
        result = make_rotator(box, targets, clock, force=True, revoke_after=revoke_after).run()
        if not result.ok or not result.rotated:
            raise SystemExit(f"engine run failed: {result.reason} {result.problems}")
        classified = classify(box.requests())
        log = [f"{name:<15} {r.method:<6} {r.path}" for name, r in classified]
        return count(classified), targets, len(result.revoked), log


def baseline_run(seed: Seeder) -> Counter[str]:
    with Sandbox() as box:
        targets = seed(box)
        first_key(box, targets, FakeClock())
        box.reset_requests()
        naive_rotation(box, targets)
        return count(classify(box.requests()))


def report(
    mix: str, engine: Counter[str], budget: Budget, baseline: Counter[str]
) -> dict[str, object]:
    over = over_budget(engine, budget)
    justified_used = {
        name: min(engine.get(name, 0) - budget.by_class.get(name, 0), n)
        for name, (n, _) in budget.justified.items()
        if engine.get(name, 0) > budget.by_class.get(name, 0)
    }
    rows = []
    for name in CLASSES:
        e, b, m = engine.get(name, 0), baseline.get(name, 0), budget.by_class.get(name, 0)
        if not (e or b or m):
            continue
        flag = ""
        if name in over:
            flag = f"WASTE +{over[name]}"
        elif name in justified_used:
            flag = f"justified +{justified_used[name]}"
        rows.append((name, e, m, b, flag))
    e_total, b_total = sum(engine.values()), sum(baseline.values())
    rows.append(("total", e_total, budget.total, b_total, ""))
    print(f"\n## {mix}")
    print(table(rows, ("endpoint class", "engine", "minimum", "baseline", "above minimum")))
    return {
        "mix": mix,
        "engine": e_total,
        "minimum": budget.total,
        "minimum_plus_justified": budget.total_with_justified,
        "baseline": b_total,
        "ratio": round(e_total / b_total, 2),
        "publish_engine": sum(engine.get(c, 0) for c in _PUBLISH),
        "publish_baseline": sum(baseline.get(c, 0) for c in _PUBLISH),
        "waste": over,
        "engine_by_class": dict(engine),
        "baseline_by_class": dict(baseline),
    }


_PUBLISH = ("GH public-key", "GH PUT", "GH org GET", "GH repo lookup", "GH env lookup")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--log", action="store_true", help="print every request of each run")
    args = parser.parse_args(argv)

    results = []
    runs = [(mix, seed, "0") for mix, seed in MIXES.items()]
    # The default revoke-after (6h): nothing is deleted in the rotating run.
    runs.append(("1 repo, revoke-after 6h (default)", one_repo, "6h"))
    for mix, seed, revoke_after in runs:
        engine, targets, revoked, log = engine_run(seed, revoke_after)
        budget = minimum_budget(targets, revoked)
        baseline = baseline_run(seed)
        if revoke_after != "0":  # the baseline always deletes the old key at once
            baseline["OR delete"] -= 1
            baseline = +baseline
        results.append(report(mix, engine, budget, baseline))
        if args.log:
            print("\n".join("    " + line for line in log))

    print("\n## Summary (requests per forced rotation)")
    rows = [
        (
            r["mix"],
            r["engine"],
            r["minimum"],
            r["minimum_plus_justified"],
            r["baseline"],
            f"{r['ratio']:.2f}",
            f"{r['publish_engine']}/{r['publish_baseline']}",
            ", ".join(f"{k} +{v}" for k, v in r["waste"].items()) or "none",  # type: ignore[attr-defined]
        )
        for r in results
    ]
    header = (
        "target mix",
        "engine",
        "minimum",
        "min+justified",
        "baseline",
        "engine/baseline",
        "publish eng/base",
        "waste",
    )
    print(table(rows, header))
    print(
        "\nminimum = 1 create + 1 verify + 1 public key per distinct scope + 1 PUT per target"
        " + 1 GET per org target without visibility= + 1 lookup per selected repository name"
        " + 1 state read + 4 state/lock writes (take the lock, delete the previous session's"
        " lock, record the new key as publishing, commit with the revocation results)"
        " + 1 delete per revoked key"
    )
    print("justified extras (counted in min+justified):")
    for name, (n, why) in minimum_budget(["repo:o/r"], 1).justified.items():
        print(f"  {name} +{n}: {why}")
    print(
        "baseline = PyGithub defaults: get_repo (GET) + create_secret (GET public key + PUT) per"
        " target, get_environment for environments, get_repo per selected repository; 1 state"
        " GET + 1 PATCH; create + delete on OpenRouter; no check, verify, lock or journal"
    )
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return 1 if any(r["waste"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
