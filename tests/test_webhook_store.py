"""The claim store behind replay protection and the cooldown: SQLite shared by processes, and
Redis shared by instances (a real redis-server on loopback, not a mock)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from openrouter_rotator.errors import ConfigError
from openrouter_rotator.sandbox import FakeClock
from webhook.store import Job, JobStatus, RedisStore, SQLiteStore, Store, check_redis_persistence

from .webhook_fixtures import RedisServer, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        server = redis_server(tmp_path_factory.mktemp("redis"))
        url = next(server)
    except FileNotFoundError:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    yield url
    server.close()


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "sqlite":
        path = tmp_path / "claims.sqlite3"
        return lambda: SQLiteStore(path)
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{request.node.name}:"
    return lambda: RedisStore(url, prefix=prefix)


def test_a_claim_is_held_once(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.claim("k", 60, "t1") is True
    assert store.claim("k", 60, "t2") is False
    assert store.claim("other", 60, "t3") is True


def test_release_drops_only_the_holders_claim(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.claim("k", 60, "mine")
    store.release("k", "not-mine")
    assert store.claim("k", 60, "t") is False
    store.release("k", "mine")
    assert store.claim("k", 60, "t") is True


def test_many_threads_one_winner(make_store: Callable[[], Store]) -> None:
    stores = [make_store() for _ in range(4)]  # separate clients, like separate workers
    gate = threading.Barrier(32)
    wins: list[bool] = []

    def race(i: int) -> None:
        gate.wait()
        wins.append(stores[i % 4].claim("race", 60, f"t{i}"))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_sqlite_claim_expires_and_is_taken_over(tmp_path: Path) -> None:
    clock = FakeClock(datetime.fromtimestamp(1_000_000, timezone.utc))
    store = SQLiteStore(tmp_path / "c.sqlite3", clock=clock.time)
    assert store.claim("cooldown:x", 600, "a")
    clock.advance(seconds=599)
    assert not store.claim("cooldown:x", 600, "b")
    clock.advance(seconds=1)
    assert store.claim("cooldown:x", 600, "b")
    store.release("cooldown:x", "a")  # the old holder's release no longer drops it
    assert not store.claim("cooldown:x", 600, "c")


def test_redis_claim_expires(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix="test:expiry:")
    assert store.claim("k", 0.05, "a")
    threading.Event().wait(0.15)
    assert store.claim("k", 60, "b")


def _claim_in_process(path: str, barrier: Any, queue: Any) -> None:
    store = SQLiteStore(path)
    barrier.wait()
    queue.put(sum(store.claim(f"key{i}", 60, "t") for i in range(50)))


def test_sqlite_processes_share_claims(tmp_path: Path) -> None:
    """Like gunicorn workers: separate processes, one file, each key won exactly once."""
    path = str(tmp_path / "shared.sqlite3")
    SQLiteStore(path)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    queue = context.Queue()
    processes = [
        context.Process(target=_claim_in_process, args=(path, barrier, queue)) for _ in range(4)
    ]
    for p in processes:
        p.start()
    totals = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    assert sum(totals) == 50


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    import sqlite3

    SQLiteStore(tmp_path / "w.sqlite3")
    with sqlite3.connect(tmp_path / "w.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- the queue of accepted requests -----------------------------------------------------------


def job(i: int, created: float = 1_000_000.0) -> Job:
    return Job(id=f"rq-{i:04d}", rotation="openrouter", reason=f"r{i}", created=created + i)


def test_jobs_are_leased_oldest_first_and_once(make_store: Callable[[], Store]) -> None:
    store = make_store()
    for i in range(3):
        store.enqueue(job(i))
    first = store.lease("w1", 60)
    second = store.lease("w2", 60)
    assert first is not None and second is not None
    assert (first.job, first.attempts) == (job(0), 1)
    assert second.job == job(1)
    store.finish(first, JobStatus("dispatched", "https://run/1"))
    status = store.status("rq-0000")
    assert status is not None
    assert (status.status, status.run_url, status.rotation) == (
        "dispatched",
        "https://run/1",
        "openrouter",
    )
    assert store.backlog() == 2
    assert store.status("rq-9999") is None


def test_a_dead_workers_job_is_taken_over_after_its_lease(tmp_path: Path) -> None:
    clock = FakeClock(datetime.fromtimestamp(1_000_000, timezone.utc))
    store = SQLiteStore(tmp_path / "q.sqlite3", clock=clock.time)
    store.enqueue(job(1))
    held = store.lease("dead", 60)
    assert held is not None and store.lease("alive", 60) is None
    clock.advance(seconds=30)
    assert store.renew(held, "dead", 60)  # still alive then: the lease starts over
    clock.advance(seconds=59)
    assert store.lease("alive", 60) is None
    clock.advance(seconds=2)
    taken = store.lease("alive", 60)
    assert taken is not None and taken.attempts == 2  # tells the new worker to look first
    assert not store.renew(held, "dead", 60)  # the old holder lost it


def test_redis_takes_over_with_xautoclaim(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix="test:xautoclaim:")
    store.enqueue(job(1))
    held = store.lease("dead", 2)
    assert held is not None and store.lease("alive", 2) is None
    threading.Event().wait(2.2)
    taken = store.lease("alive", 2)
    assert taken is not None and (taken.job, taken.attempts) == (job(1), 2)
    assert not store.renew(held, "dead", 2)
    assert store.renew(taken, "alive", 2)
    store.finish(taken, JobStatus("failed", error="422"))
    assert store.backlog() == 0
    status = store.status("rq-0001")
    assert status is not None and (status.status, status.error) == ("failed", "422")


def _lease_in_process(url_or_path: str, barrier: Any, queue: Any) -> None:
    store: Store = (
        RedisStore(url_or_path, prefix="test:procs:")
        if url_or_path.startswith("redis://")
        else SQLiteStore(url_or_path)
    )
    barrier.wait()
    got = []
    while (leased := store.lease(f"p{multiprocessing.current_process().pid}", 60)) is not None:
        got.append(leased.job.id)
        store.finish(leased, JobStatus("dispatched"))
    queue.put(got)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_processes_draining_one_queue_take_each_job_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Like the workers of several instances: separate processes, each job run exactly once."""
    target = request.getfixturevalue("redis_url") if kind == "redis" else str(tmp_path / "q.db")
    store: Store = (
        RedisStore(target, prefix="test:procs:") if kind == "redis" else SQLiteStore(target)
    )
    for i in range(60):
        store.enqueue(job(i))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    queue = context.Queue()
    processes = [
        context.Process(target=_lease_in_process, args=(target, barrier, queue)) for _ in range(4)
    ]
    for p in processes:
        p.start()
    taken = [i for _ in processes for i in queue.get(timeout=60)]
    for p in processes:
        p.join(timeout=60)
    assert sorted(taken) == [job(i).id for i in range(60)]


def test_a_redis_without_persistence_is_refused(tmp_path: Path) -> None:
    try:
        volatile = RedisServer(tmp_path / "volatile", persistent=False)
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    durable = RedisServer(tmp_path / "durable")
    try:
        with pytest.raises(ConfigError, match="appendonly"):
            check_redis_persistence(volatile.url)
        assert check_redis_persistence(durable.url) == "appendonly yes, save off"
    finally:
        volatile.stop()
        durable.stop()


def test_ping_fails_when_redis_refuses_writes(redis_url: str) -> None:
    import redis

    store = RedisStore(redis_url, prefix="test:health:")
    store.ping()  # what /healthz calls: a write
    admin = redis.Redis.from_url(redis_url)
    # Reachable and readable, but out of memory: every write is refused.
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    try:
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            store.ping()
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
