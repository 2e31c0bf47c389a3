"""Accepted means done, once (SPEC §7), against real processes: gunicorn with two workers on
loopback, the GitHub sandbox slowed or failing, workers killed with SIGKILL, the master stopped
with SIGTERM mid-backlog, the SQLite store and a real redis-server restarted mid-burst.

Each request goes through the API door, whose answer carries the request id; every dispatch
carries it as input ``request-id``, so "dispatched exactly once" is counted per id in the
sandbox's record of dispatches. Leases are 3 s here (60 s by default) so a dead worker's job is
taken over quickly."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from openrouter_rotator.sandbox import Sandbox

from .gunicorn_server import Gunicorn
from .webhook_fixtures import (
    SECRET_ENV,
    Catcher,
    RedisServer,
    api_headers,
    eventually,
    slack_form,
    slack_headers,
    toml_text,
)

DISPATCHES = r"/actions/workflows/.*/dispatches$"


def config(box: Sandbox, store: dict[str, str], cooldown: str = "0") -> str:
    rotation = {
        "repository": "octo-org/app",
        "workflow": "rotate-openrouter-key.yml",
        "ref": "main",
        "cooldown": cooldown,
        "slack_users": ["U012AB3CD"],
    }
    doc: dict[str, Any] = {
        "github": {"api_url": box.github_url, "write_interval": "0"},
        "store": {**store, "lease": "3s"},
        "rotations": {"burst": rotation},
    }
    return toml_text(doc)


def env(box: Sandbox) -> dict[str, str]:
    return {**SECRET_ENV, "ROTATOR_GITHUB_TOKEN": box.github.admin_token}


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    c = Catcher()
    yield c
    c.close()


def request_ids(box: Sandbox) -> Counter[str]:
    return Counter(str(d.inputs.get("request-id")) for d in list(box.github.dispatches))


def rotate(server: Gunicorn, marker: str) -> httpx.Response | None:
    """One API request; None when the connection itself failed (not accepted)."""
    body = json.dumps({"reason": marker}).encode()
    try:
        return server.client.post("/rotations/burst/rotate", content=body, headers=api_headers())
    except httpx.TransportError:
        return None


def accepted_ids(responses: list[httpx.Response | None]) -> list[str]:
    return [r.json()["request_id"] for r in responses if r is not None and r.status_code == 202]


def assert_each_dispatched_once(
    box: Sandbox, server: Gunicorn, accepted: list[str], unanswered: int = 0
) -> None:
    """Every accepted request dispatched once, and nothing else but, at most, ``unanswered``
    requests whose answer the client never got (a worker killed after it stored the request
    and before it answered: stored means it will be done)."""
    assert accepted
    assert eventually(lambda: set(accepted) <= set(request_ids(box)), 60), (
        f"lost: {sorted(set(accepted) - set(request_ids(box)))}\n{server.log.read_text()[-3000:]}"
    )
    time.sleep(4)  # a lease and more: a duplicate would have been sent by now
    counts = request_ids(box)
    assert {rid: n for rid, n in counts.items() if n > 1} == {}
    assert set(accepted) <= set(counts)
    assert len(set(counts) - set(accepted)) <= unanswered  # nothing dispatched that was refused
    for rid in accepted:
        status = server.client.get(f"/rotations/burst/requests/{rid}", headers=api_headers())
        assert status.json()["status"] == "dispatched"


def test_killed_workers_lose_nothing_and_repeat_nothing(box: Sandbox, tmp_path: Path) -> None:
    # Every dispatch lands at once but is answered 1.5 s later: a worker killed meanwhile never
    # learns that it dispatched, and its successor must find the run instead of dispatching.
    box.fault(DISPATCHES, method="POST", latency=1.5, when="after", times=None)
    server = Gunicorn(tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}), env(box))
    try:
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda i: rotate(server, f"kill-{i}"), range(12)))
        accepted = accepted_ids(responses)
        assert len(accepted) == 12
        assert eventually(lambda: box.github.dispatches, timeout=20)  # one is in flight
        killed = server.kill_workers(signal.SIGKILL)
        assert len(killed) == 2
        assert eventually(lambda: len(set(server.workers()) - set(killed)) == 2, timeout=30)
        assert_each_dispatched_once(box, server, accepted)
        events = server.events()
        # The answers of the killed workers' dispatches were lost; their runs were found.
        assert any(e.get("attempt", 1) > 1 for e in events if e["event"] == "webhook.dispatch")
    finally:
        server.close()


def test_sigterm_mid_backlog_leaves_it_in_the_store_for_the_next_start(
    box: Sandbox, tmp_path: Path
) -> None:
    # 20 dispatches of 1 s each on 2 workers: a backlog of about 10 s, far longer than sending
    # the requests takes even on a busy machine.
    box.fault(DISPATCHES, method="POST", latency=1.0, times=None)
    server = Gunicorn(tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}), env(box))
    try:
        responses = [rotate(server, f"term-{i}") for i in range(20)]
        accepted = accepted_ids(responses)
        assert len(accepted) == 20
        assert eventually(lambda: box.github.dispatches, timeout=20)
        log = server.stop(signal.SIGTERM)
        assert server.process.returncode == 0
        done = len(request_ids(box))
        assert done < 20, "the backlog should not have been finished yet"
        # Each worker said what it left behind.
        assert log.count('"outcome": "stopping"') == 2
        box.clear_faults()
        server.start()
        assert_each_dispatched_once(box, server, accepted)
    finally:
        server.close()


def test_a_dispatch_answered_502_after_it_landed_is_found_not_repeated(
    box: Sandbox, catcher: Catcher, tmp_path: Path
) -> None:
    box.fault(DISPATCHES, method="POST", status=502, when="after", times=1)
    server = Gunicorn(tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}, "10m"), env(box))
    try:
        body = slack_form("burst marker-502", response_url=catcher.url("/r/502"))
        assert server.post("/slack/commands", body, slack_headers(body)).status_code == 200
        [(_, message)] = catcher.wait_for(1, timeout=30)
        assert "dispatched: " in message["text"]
        [dispatch] = box.github.dispatches
        run_id = dispatch.run_id
        assert f"/actions/runs/{run_id}" in message["text"]

        def outcomes() -> list[tuple[str, int]]:
            return [
                (e["outcome"], e["attempt"])
                for e in server.events()
                if e["event"] == "webhook.dispatch"
            ]

        eventually(lambda: len(outcomes()) == 2, timeout=10)
        assert outcomes() == [("unknown", 1), ("dispatched", 2)]
    finally:
        server.close()


def test_a_definite_failure_is_told_and_a_retry_succeeds(
    box: Sandbox, catcher: Catcher, tmp_path: Path
) -> None:
    box.fault(DISPATCHES, method="POST", status=422, times=1)
    server = Gunicorn(tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}, "10m"), env(box))
    try:
        body = slack_form("burst marker-422", response_url=catcher.url("/r/422"))
        assert server.post("/slack/commands", body, slack_headers(body)).status_code == 200
        [(_, message)] = catcher.wait_for(1, timeout=30)
        assert "could not be dispatched" in message["text"]
        assert box.github.dispatches == []
        # The cooldown was given back: the person simply asks again.
        again = slack_form("burst marker-422 again", response_url=catcher.url("/r/again"))
        assert server.post("/slack/commands", again, slack_headers(again)).status_code == 200
        assert eventually(lambda: box.github.dispatches, timeout=30)
    finally:
        server.close()


def test_redis_restarted_and_workers_killed_mid_burst(box: Sandbox, tmp_path: Path) -> None:
    try:
        redis = RedisServer(tmp_path / "redis")
    except FileNotFoundError:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    box.fault(DISPATCHES, method="POST", latency=0.3, when="after", times=None)
    server = Gunicorn(tmp_path, config(box, {"redis_url": redis.url}), env(box))
    try:
        responses: list[httpx.Response | None] = []
        lock = threading.Lock()

        def send(i: int) -> None:
            response = rotate(server, f"redis-{i}")
            with lock:
                responses.append(response)

        with ThreadPoolExecutor(4) as pool:
            for i in range(60):
                pool.submit(send, i)
                time.sleep(0.02)
                if i == 20:
                    redis.stop(signal.SIGTERM)  # a clean shutdown writes the AOF out
                    redis.start()
                if i == 40:
                    server.kill_workers(signal.SIGKILL)
        statuses = Counter(r.status_code if r is not None else "reset" for r in responses)
        # Refused while Redis was down (503) or cut off by a killed worker: never accepted.
        assert set(statuses) <= {202, 503, "reset"}, statuses
        box.clear_faults()
        assert_each_dispatched_once(
            box, server, accepted_ids(responses), unanswered=statuses["reset"]
        )
    finally:
        server.close()
        redis.stop()


def test_healthz_fails_when_the_store_cannot_be_written(box: Sandbox, tmp_path: Path) -> None:
    try:
        redis = RedisServer(tmp_path / "redis")
    except FileNotFoundError:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = Gunicorn(tmp_path, config(box, {"redis_url": redis.url}), env(box), workers=1)
    try:
        assert server.client.get("/healthz").status_code == 200
        redis.stop()
        assert server.client.get("/healthz").status_code == 503
        assert rotate(server, "no-store").status_code == 503  # type: ignore[union-attr]
        # A worker that boots while Redis is down must not stop the server (gunicorn exits
        # when a worker fails to boot).
        killed = server.kill_workers(signal.SIGKILL)
        assert eventually(lambda: set(server.workers()) - set(killed), 20)
        time.sleep(1)
        assert server.process.poll() is None
        assert server.client.get("/healthz").status_code == 503
        redis.start()
        assert eventually(lambda: server.client.get("/healthz").status_code == 200, 20)
        assert rotate(server, "store back").status_code == 202  # type: ignore[union-attr]
    finally:
        server.close()
        redis.stop()


def test_slow_clients_do_not_take_every_worker(box: Sandbox, tmp_path: Path) -> None:
    """gthread workers (webhook.gunicorn_conf): connections that send nothing wait in the
    poller, a trickling client holds one thread; authentic requests are still served."""
    server = Gunicorn(tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}), env(box))
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    tricklers = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        for sock in tricklers:
            sock.sendall(b"POST /rotations/burst/rotate HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):
            for sock in tricklers:
                sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.2)
        # 64 silent connections and 4 half-sent requests are more than 2 sync workers could
        # hold; with gthread the next request is answered (a sync server would time out here).
        response = server.client.post(
            "/rotations/burst/rotate",
            content=b'{"reason": "while slowloris"}',
            headers=api_headers(),
            timeout=10,
        )
        assert response.status_code == 202
    finally:
        for sock in idle + tricklers:
            sock.close()
        server.close()


def test_a_chunked_body_over_64_kib_is_refused_not_truncated(box: Sandbox, tmp_path: Path) -> None:
    server = Gunicorn(
        tmp_path, config(box, {"path": str(tmp_path / "q.sqlite3")}), env(box), workers=1
    )
    try:

        def chunks() -> Iterator[bytes]:
            yield b'{"reason": "'
            for _ in range(70):
                yield b"x" * 1024
            yield b'"}'

        # A generator body has no length: httpx sends it with Transfer-Encoding: chunked.
        response = server.client.post(
            "/rotations/burst/rotate", content=chunks(), headers=api_headers()
        )
        assert response.status_code == 413
        assert box.github.dispatches == []
        small = server.client.post(
            "/rotations/burst/rotate",
            content=iter([b'{"reason": ', b'"chunked"}']),
            headers=api_headers(),
        )
        assert small.status_code == 202
    finally:
        server.close()
