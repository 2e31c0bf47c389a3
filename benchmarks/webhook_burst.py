"""The webhook under a burst: signed Slack commands and GitHub deliveries, replays mixed in.

    python benchmarks/webhook_burst.py [--requests 500] [--threads 16] [--replays 0.1]

``gunicorn -c python:webhook.gunicorn_conf`` (2 gevent workers) runs on loopback and dispatches
to the GitHub sandbox, which runs in a process of its own (so that it does not compete with the
client threads for one interpreter lock). Per door, ``--requests`` signed requests are sent by
``--threads`` threads; a ``--replays`` share of them are byte-for-byte copies of an earlier
request (the same Slack signature and timestamp, the same ``X-GitHub-Delivery``). Two setups:

* ``cooldown 0``: one rotation without a cooldown, so every distinct authentic request is
  accepted and must dispatch exactly once (replays: never);
* ``cooldown 10m``: the default cooldown over 40 rotations, requests spread across them, so
  each rotation accepts one request and answers 409 to the rest (``--cooldown-requests`` per
  door, 100 by default).

Printed: acknowledgement latency p50/p95/p99 per door, the webhook's decisions (from its own
log), dispatches seen by the sandbox against distinct accepted requests, and errors (transport
errors, 5xx, unexpected statuses, failed dispatches).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from _common import percentile, table

from webhook.signatures import sign_github, sign_slack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gunicorn_server import Gunicorn  # noqa: E402 - the one launcher, shared with the tests

SLACK_SECRET = "benchmark-slack-signing-secret"
GITHUB_SECRET = "benchmark-github-webhook-secret"
REPO = "octo-org/app"
USER = "U012AB3CD"
TIME_LIMIT = 90.0  # seconds per configuration, whatever happens


@dataclass(frozen=True)
class Call:
    door: str  # slack | github
    ident: str  # the marker that reaches the dispatch's reason
    path: str
    body: bytes
    headers: dict[str, str]
    replay: bool = False


def slack_call(rotation: str, ident: str) -> Call:
    body = urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C2147483705",
            "channel_name": "ops",
            "user_id": USER,
            "user_name": "alice",
            "command": "/rotate-openrouter",
            "text": f"{rotation} {ident}",
            "response_url": "",
        }
    ).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign_slack(SLACK_SECRET, ts, body),
    }
    return Call("slack", ident, "/slack/commands", body, headers)


def github_call(rotation: str, ident: str, number: int) -> Call:
    body = json.dumps(
        {
            "action": "created",
            "issue": {"number": 7, "title": "Key leaked", "pull_request": None},
            "comment": {
                "id": 900000 + number,
                "body": f"/rotate-openrouter {rotation} {ident}",
                "user": {"login": "alice", "type": "User"},
            },
            "repository": {"full_name": REPO},
            "sender": {"login": "alice", "type": "User"},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": f"burst-{ident}",
        "X-Hub-Signature-256": sign_github(GITHUB_SECRET, body),
    }
    return Call("github", ident, "/github/events", body, headers)


def build_calls(
    per_door: int, replay_share: float, rotations: list[str], rng: random.Random
) -> list[Call]:
    calls: list[Call] = []
    for door in ("slack", "github"):
        originals: list[Call] = []
        for i in range(per_door):
            if originals and rng.random() < replay_share:
                original = rng.choice(originals)
                calls.append(Call(door, original.ident, original.path, original.body,
                                  original.headers, replay=True))  # fmt: skip
                continue
            ident = f"{door}-{i:04d}"
            rotation = rotations[i % len(rotations)]
            call = (
                slack_call(rotation, ident) if door == "slack" else github_call(rotation, ident, i)
            )
            originals.append(call)
            calls.append(call)
    rng.shuffle(calls)
    return calls


def toml(rotations: list[str], cooldown: str, store: Path, api_url: str) -> str:
    lines = [
        "[webhook]",
        'endpoints = ["slack", "github"]',
        "[github]",
        f'api_url = "{api_url}"',
        # Unpaced: the sandbox does not rate-limit, and a 1 s pace per process would make the
        # drain, not the webhook, the thing measured.
        'write_interval = "0"',
        "[store]",
        f'path = "{store}"',
    ]
    for name in rotations:
        lines += [
            f"[rotations.{name}]",
            f'repository = "{REPO}"',
            'workflow = "rotate-openrouter-key.yml"',
            'ref = "main"',
            f'cooldown = "{cooldown}"',
            f'slack_users = ["{USER}"]',
            'min_permission = "write"',
        ]
    return "\n".join(lines) + "\n"


SANDBOX_SCRIPT = f"""
import json
from openrouter_rotator.sandbox import Sandbox
box = Sandbox()
box.github.set_permission({REPO!r}, "alice", "write")
print(json.dumps({{"url": box.url, "github_url": box.github_url,
                  "token": box.github.admin_token}}), flush=True)
box.server.serve_forever()
"""


class SandboxProcess:
    """The sandbox in its own process, so it and the client threads do not share one GIL."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SANDBOX_SCRIPT], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.url, self.github_url, self.token = info["url"], info["github_url"], info["token"]

    def dispatches(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/_sandbox/github/dispatches", timeout=10).json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Outcome:
    call: Call
    status: int | None
    seconds: float
    error: str | None = None


def send_all(url: str, calls: list[Call], threads: int) -> list[Outcome]:
    local = threading.local()
    deadline = time.monotonic() + TIME_LIMIT

    def send(call: Call) -> Outcome:
        if time.monotonic() > deadline:
            return Outcome(call, None, 0.0, "not sent: time limit")
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, timeout=10)
        start = time.perf_counter()
        try:
            response = client.post(call.path, content=call.body, headers=call.headers)
        except httpx.HTTPError as exc:
            return Outcome(call, None, time.perf_counter() - start, type(exc).__name__)
        return Outcome(call, response.status_code, time.perf_counter() - start)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(send, calls))


# 409: cooldown. The GitHub door answers every authentic delivery 2xx, refusals included.
EXPECTED = {"slack": {200, 409}, "github": {200, 202}}


def run(
    label: str, rotations: list[str], cooldown: str, args: argparse.Namespace
) -> dict[str, object]:
    rng = random.Random(7)
    box = SandboxProcess()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = {
            "ROTATOR_GITHUB_TOKEN": box.token,
            "ROTATOR_SLACK_SIGNING_SECRET": SLACK_SECRET,
            "ROTATOR_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        }
        server = Gunicorn(
            tmp, toml(rotations, cooldown, tmp / "store.sqlite3", box.github_url), env
        )
        try:
            calls = build_calls(args.requests, args.replays, rotations, rng)
            began = time.perf_counter()
            outcomes = send_all(server.url, calls, args.threads)
            burst_seconds = time.perf_counter() - began
            burst_end = time.monotonic()
            # Dispatches run in the workers' background threads, after the answers: wait until
            # no new one has landed for 5 s (replies to GitHub comments are paced 1 s apart, so
            # the queue drains well after the burst), at most 150 s.
            settle = time.monotonic() + 150
            seen, quiet_since = -1, time.monotonic()
            while time.monotonic() < settle and time.monotonic() - quiet_since < 5:
                time.sleep(0.5)
                now_seen = len(box.dispatches())
                if now_seen != seen:
                    seen, quiet_since = now_seen, time.monotonic()
            drain_seconds = max(0.0, quiet_since - burst_end)
            dispatches = box.dispatches()
        finally:
            server.stop()
            events = server.events()
            server.close()
            box.stop()

    requests = [e for e in events if e.get("event") == "webhook.request"]
    dispatch_events = [e for e in events if e.get("event") == "webhook.dispatch"]
    decisions = Counter(f"{e.get('door')} {e.get('decision')}/{e.get('reason')}" for e in requests)
    accepted = sum(1 for e in requests if e.get("decision") == "accepted")
    distinct = sum(1 for c in calls if not c.replay)
    marker = re.compile(r"(?:slack|github)-\d{4}")
    dispatched_idents = Counter(
        m.group(0)
        for d in dispatches
        if (m := marker.search(str(d.get("inputs", {}).get("reason", "")))) is not None
    )
    twice = [i for i, n in dispatched_idents.items() if n > 1]
    errors = [o for o in outcomes if o.error or o.status is None]
    errors += [
        o for o in outcomes if o.status is not None and o.status not in EXPECTED[o.call.door]
    ]
    failed_dispatches = [e for e in dispatch_events if e.get("outcome") != "dispatched"]

    print(f"\n## {label}: {len(calls)} requests, {args.threads} threads, gunicorn 2 workers")
    rows = []
    for door in ("slack", "github"):
        lat = [o.seconds * 1000 for o in outcomes if o.call.door == door and o.status]
        rows.append(
            (
                door,
                sum(1 for c in calls if c.door == door),
                sum(1 for c in calls if c.door == door and c.replay),
                f"{percentile(lat, 50):.1f}",
                f"{percentile(lat, 95):.1f}",
                f"{percentile(lat, 99):.1f}",
                f"{max(lat):.1f}",
            )
        )
    print(table(rows, ("door", "requests", "replays", "p50 ms", "p95 ms", "p99 ms", "max ms")))
    print(
        f"burst: {burst_seconds:.2f}s ({len(calls) / burst_seconds:.0f} requests/s); "
        f"distinct requests {distinct}, replays {sum(c.replay for c in calls)}; "
        f"last dispatch landed {drain_seconds:.1f}s after the burst"
    )
    print("decisions (webhook log): " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    print(
        f"accepted {accepted}, dispatches in the sandbox {len(dispatches)}, "
        f"dispatch log lines {len(dispatch_events)}; dispatched twice: {len(twice)}; "
        f"failed dispatches {len(failed_dispatches)}; errors {len(errors)}"
    )
    for o in errors[:5]:
        print(f"  error: {o.call.door} {o.call.ident} status={o.status} {o.error}")
    ok = (
        accepted == len(dispatches)
        and not twice
        and not errors
        and not failed_dispatches
        and len(requests) == len(calls)
    )
    print("dispatches == distinct accepted requests, zero errors: " + ("yes" if ok else "NO"))
    return {"label": label, "ok": ok}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="per door")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--replays", type=float, default=0.1, help="share of replayed requests")
    parser.add_argument(
        "--cooldown-requests", type=int, default=100, help="per door, in the 10m-cooldown setup"
    )
    args = parser.parse_args(argv)
    results = [run("cooldown 0, 1 rotation", ["burst"], "0", args)]
    # The cooldown setup answers 409 to nearly everything: a smaller burst shows it (and keeps
    # the script near a minute and a half while each ack can take up to a second).
    args.requests = args.cooldown_requests
    results.append(run("cooldown 10m, 40 rotations", [f"r{i:02d}" for i in range(40)], "10m", args))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
