"""Accepted means done, once: a 200-request burst while workers are killed, the master is stopped
mid-backlog, dispatch answers are lost, and Redis restarts.

    python benchmarks/webhook_durability.py [--requests 200] [--threads 8] [--only NAME]

Each scenario runs ``gunicorn -c python:webhook.gunicorn_conf`` (2 gevent workers, the launcher
the tests use) on loopback against the GitHub sandbox in a process of its own, with a fresh
store (SQLite, or a real ``redis-server`` with AOF), a rotation without cooldown and a 3 s lease.
``--requests`` signed API requests go out from ``--threads`` threads; each accepted answer (202)
carries a request id, and every dispatch carries it as input ``request-id``, so the sandbox's
record of dispatches says which accepted requests were dispatched, and how often.

Printed per scenario: sent, accepted, refused (503 while the store was down, or a connection
cut by a killed worker: never accepted), dispatched, lost (accepted, never dispatched),
duplicated (dispatched more than once), "kept, answer cut" (stored by a worker killed before
its answer left: dispatched once though the client saw no answer), the acknowledgement
latency of accepted requests (p50, p99) and how long the backlog took to drain. Exit 1 if
anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import percentile, table
from webhook_burst import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gunicorn_server import Gunicorn  # noqa: E402 - the checkout's tests package
from tests.webhook_fixtures import API_TOKEN, SECRET_ENV, RedisServer, toml_text  # noqa: E402

DISPATCHES = r"/actions/workflows/.*/dispatches$"
LEASE = 3.0


@dataclass
class Scenario:
    name: str
    store: str  # sqlite | redis
    faults: list[dict[str, Any]]
    # request index -> what to do to the servers just before sending it
    actions: dict[int, str]
    after_burst: str | None = None


# Every dispatch lands at once but is answered 0.3 s later: a worker killed meanwhile never
# learns it dispatched. And dispatches slowed 0.1 s, so that a backlog builds up.
HELD_ANSWERS = {
    "path": DISPATCHES,
    "method": "POST",
    "latency": 0.3,
    "when": "after",
    "times": None,
}
SLOW = {"path": DISPATCHES, "method": "POST", "latency": 0.1, "times": None}
LOST_502 = {"path": DISPATCHES, "method": "POST", "status": 502, "when": "after", "times": 20}

SCENARIOS = [
    Scenario("no faults", "sqlite", [], {}),
    Scenario(
        "SIGKILL both workers twice",
        "sqlite",
        [HELD_ANSWERS],
        {60: "kill", 140: "kill"},
    ),
    Scenario(
        "SIGTERM master mid-backlog, restart",
        "sqlite",
        [SLOW],
        {},
        after_burst="restart",
    ),
    Scenario(
        "20 dispatches answered 502 after landing",
        "sqlite",
        [LOST_502],
        {},
    ),
    Scenario("no faults", "redis", [], {}),
    Scenario(
        "SIGKILL both workers, redis-server restarted",
        "redis",
        [HELD_ANSWERS],
        {60: "kill", 120: "redis"},
    ),
    Scenario(
        "SIGTERM master mid-backlog, restart",
        "redis",
        [SLOW],
        {},
        after_burst="restart",
    ),
]


def config(github_url: str, store: dict[str, str]) -> str:
    return toml_text(
        {
            "github": {"api_url": github_url, "write_interval": "0"},
            "store": {**store, "lease": f"{LEASE:.0f}s"},
            "rotations": {
                "burst": {
                    "repository": "octo-org/app",
                    "workflow": "rotate-openrouter-key.yml",
                    "ref": "main",
                    "cooldown": "0",
                }
            },
        }
    )


@dataclass
class Sent:
    status: int | str  # HTTP status, or "reset"
    seconds: float
    request_id: str | None


def burst(server: Gunicorn, count: int, threads: int, before: Callable[[int], None]) -> list[Sent]:
    local = threading.local()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}

    def send(i: int) -> Sent:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=server.url, timeout=30)
        body = json.dumps({"reason": f"burst {i}"}).encode()
        started = time.perf_counter()
        try:
            response = client.post("/rotations/burst/rotate", content=body, headers=headers)
        except httpx.TransportError:
            return Sent("reset", time.perf_counter() - started, None)
        seconds = time.perf_counter() - started
        rid = response.json().get("request_id") if response.status_code == 202 else None
        return Sent(response.status_code, seconds, rid)

    results: list[Sent] = []
    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for i in range(count):
            before(i)
            futures.append(pool.submit(send, i))
            time.sleep(0.005)  # a burst, but long enough for the kills to land inside it
        results = [f.result() for f in futures]
    return results


def dispatched_ids(box: SandboxProcess) -> Counter[str]:
    return Counter(str(d["inputs"].get("request-id")) for d in box.dispatches())


def run(scenario: Scenario, args: argparse.Namespace) -> dict[str, object]:
    box = SandboxProcess()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        redis = RedisServer(tmp / "redis") if scenario.store == "redis" else None
        store = {"redis_url": redis.url} if redis else {"path": str(tmp / "store.sqlite3")}
        for fault in scenario.faults:
            httpx.post(box.url + "/_sandbox/faults", json=fault, timeout=10)
        env = {**SECRET_ENV, "ROTATOR_GITHUB_TOKEN": box.token}
        server = Gunicorn(tmp, config(box.github_url, store), env)
        try:

            def before(i: int) -> None:
                action = scenario.actions.get(i)
                if action == "kill":
                    server.kill_workers(signal.SIGKILL)
                elif action == "redis" and redis is not None:
                    redis.stop(signal.SIGTERM)
                    redis.start()

            began = time.monotonic()
            sent = burst(server, args.requests, args.threads, before)
            if scenario.after_burst == "restart":
                server.stop(signal.SIGTERM)
                left = len(dispatched_ids(box))
                server.start()
            else:
                left = None
            accepted = [s.request_id for s in sent if s.request_id]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not set(accepted) <= set(dispatched_ids(box)):
                time.sleep(0.25)
            drained = time.monotonic() - began
            time.sleep(LEASE + 2)  # a duplicate would have been sent by now
            counts = dispatched_ids(box)
            for rid in (r for r, n in counts.items() if n > 1):
                # Say how it happened: the webhook's own lines for that request.
                for event in server.events():
                    if event.get("request_id") == rid:
                        print("  duplicated:", json.dumps(event, sort_keys=True), flush=True)
        finally:
            server.close()
            if redis is not None:
                redis.stop()
            box.stop()
    lost = [rid for rid in accepted if rid not in counts]
    duplicated = [rid for rid, n in counts.items() if n > 1]
    stray = [rid for rid in counts if rid not in set(accepted)]
    ack = [s.seconds * 1000 for s in sent if s.status == 202]
    refused = Counter(str(s.status) for s in sent if s.status != 202)
    return {
        "store": scenario.store,
        "scenario": scenario.name,
        "sent": len(sent),
        "accepted": len(accepted),
        "refused": ", ".join(f"{n} {k}" for k, n in sorted(refused.items())) or "0",
        "dispatched": sum(1 for rid in set(accepted) if rid in counts),
        "lost": len(lost),
        "duplicated": len(duplicated),
        # Stored, then the worker was killed before its answer left: not accepted as far as the
        # client knows, yet carried out (once) like any stored request.
        "unanswered": len(stray),
        "p50": f"{percentile(ack, 50):.0f}",
        "p99": f"{percentile(ack, 99):.0f}",
        "drain": f"{drained:.1f}",
        "left": "" if left is None else f"{args.requests - left} left at SIGTERM",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    args = parser.parse_args(argv)
    rows = []
    for scenario in SCENARIOS:
        if args.only and args.only not in f"{scenario.store} {scenario.name}":
            continue
        result = run(scenario, args)
        rows.append(result)
        print(json.dumps(result), flush=True)
    header = (
        "store",
        "scenario",
        "sent",
        "accepted",
        "refused",
        "dispatched",
        "lost",
        "duplicated",
        "kept, answer cut",
        "ack p50 ms",
        "ack p99 ms",
        "drained s",
        "note",
    )
    print()
    print(table([list(r.values()) for r in rows], header))
    bad = [r for r in rows if r["lost"] or r["duplicated"]]
    print("\nlost 0, duplicated 0 in every scenario: " + ("yes" if not bad else "NO"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
