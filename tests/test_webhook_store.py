"""The claim store behind replay protection and the cooldown: SQLite shared by processes, and
Redis shared by instances (a real redis-server on loopback, not a mock)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook.store import RedisStore, SQLiteStore, Store

from .webhook_fixtures import redis_server


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


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
    clock = Clock()
    store = SQLiteStore(tmp_path / "c.sqlite3", clock=clock)
    assert store.claim("cooldown:x", 600, "a")
    clock.now += 599
    assert not store.claim("cooldown:x", 600, "b")
    clock.now += 1
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
