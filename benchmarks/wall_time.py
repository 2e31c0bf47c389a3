"""Wall time of a forced rotation with 50 ms added to every sandbox request.

    python benchmarks/wall_time.py [--paced-100] [--latency 0.05]

For 1, 5, 20 and 100 repository targets: the engine beside the naive PyGithub baseline
(``create_secret`` per target), without write pacing and with GitHub's 1 s between writes
(the engine's default, ``ROTATOR_GITHUB_WRITE_INTERVAL``). The paced 100-target runs take about
two minutes each, so by default they are extrapolated from the paced 5- and 20-target runs
(marked "~"); ``--paced-100`` measures them. Then one organization secret with ``selected``
repositories against N repository secrets. Unpaced runs go one after another; the paced runs,
which spend their time asleep between writes, run side by side, each with its own sandbox.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from _common import ORG, FakeClock, first_key, make_rotator, naive_rotation, seed_repos, table

from openrouter_rotator.sandbox import Sandbox

SIZES = (1, 5, 20, 100)
PACED_SIZES = (1, 5, 20)
ORG_PACED_SIZES = (1, 5, 20, 100)
PACING = 1.0


def repo_targets(box: Sandbox, n: int) -> list[str]:
    return [f"repo:{ORG}/{name}" for name in seed_repos(box, n)]


def org_target(box: Sandbox, n: int) -> list[str]:
    names = seed_repos(box, n)
    return [f"org:{ORG}?visibility=selected&repositories=" + ",".join(names)]


def measure(
    make_targets: Callable[[Sandbox, int], list[str]],
    n: int,
    *,
    latency: float,
    pacing: float,
    baseline: bool,
) -> tuple[float, int]:
    """Seconds and requests of one forced rotation (revoke-after 0) in a fresh sandbox."""
    with Sandbox() as box:
        targets = make_targets(box, n)
        clock = FakeClock()
        first_key(box, targets, clock)  # without latency: only the measured run pays it
        box.reset_requests()
        box.latency = latency
        if baseline:
            start = time.perf_counter()
            naive_rotation(box, targets, write_interval=pacing)
        else:
            rotator = make_rotator(
                box, targets, clock, write_interval=pacing, force=True, revoke_after="0"
            )
            start = time.perf_counter()
            result = rotator.run()
            if not result.rotated or not result.ok:
                raise SystemExit(f"engine run failed: {result.reason}")
        elapsed = time.perf_counter() - start
        return elapsed, len(box.requests())


def extrapolate(at5: float, at20: float, n: int) -> float:
    return at20 + (at20 - at5) / 15 * (n - 20)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument(
        "--paced-100", action="store_true", help="measure the paced 100-target runs (~2 min more)"
    )
    args = parser.parse_args(argv)
    lat = args.latency
    paced_sizes = PACED_SIZES + ((100,) if args.paced_100 else ())
    began = time.perf_counter()

    # Unpaced runs one after another: they are what the 50 ms latency costs.
    plain: dict[tuple[str, int], tuple[float, int]] = {}
    for n in SIZES:
        plain[("engine", n)] = measure(repo_targets, n, latency=lat, pacing=0, baseline=False)
        plain[("baseline", n)] = measure(repo_targets, n, latency=lat, pacing=0, baseline=True)
        plain[("org", n)] = measure(org_target, n, latency=lat, pacing=0, baseline=False)
        print(f"  measured {n} target(s) without pacing", file=sys.stderr, flush=True)
    # Paced runs side by side, each with its own sandbox: they spend their time asleep (1 s
    # between writes), so running them together changes their figures by milliseconds only.
    jobs = [("engine", n) for n in paced_sizes] + [("baseline", n) for n in paced_sizes]
    jobs += [("org", n) for n in ORG_PACED_SIZES]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            job: pool.submit(
                measure,
                org_target if job[0] == "org" else repo_targets,
                job[1],
                latency=lat,
                pacing=PACING,
                baseline=job[0] == "baseline",
            )
            for job in jobs
        }
        paced = {job: future.result()[0] for job, future in futures.items()}

    def paced_cell(who: str, n: int) -> str:
        if (who, n) in paced:
            return f"{paced[(who, n)]:.2f}"
        return f"~{extrapolate(paced[(who, 5)], paced[(who, 20)], n):.0f}"

    rows = []
    for n in SIZES:
        (e, e_req), (b, b_req) = plain[("engine", n)], plain[("baseline", n)]
        rows.append(
            (
                n,
                e_req,
                f"{e:.2f}",
                b_req,
                f"{b:.2f}",
                paced_cell("engine", n),
                paced_cell("baseline", n),
            )
        )
    print(f"\n## Forced rotation, N repository targets, {lat * 1000:.0f} ms per request")
    print(
        table(
            rows,
            (
                "N",
                "engine req",
                "engine s",
                "baseline req",
                "baseline s",
                "engine s paced 1s",
                "baseline s paced 1s",
            ),
        )
    )
    if not args.paced_100:
        print(
            "~ = extrapolated linearly from the paced 5- and 20-target runs (--paced-100 measures)"
        )

    org_rows = []
    for n in SIZES:
        o, o_req = plain[("org", n)]
        e, e_req = plain[("engine", n)]
        org_rows.append(
            (n, o_req, f"{o:.2f}", paced_cell("org", n), e_req, f"{e:.2f}", paced_cell("engine", n))
        )
    print("\n## One organization secret (visibility=selected, N repositories) vs N repo secrets")
    print(
        table(
            org_rows,
            ("N", "org req", "org s", "org s paced", "repos req", "repos s", "repos s paced"),
        )
    )
    print(f"\ntotal benchmark time {time.perf_counter() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
