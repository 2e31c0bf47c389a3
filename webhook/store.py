"""Shared claims: the memory behind exactly-once dispatch and the cooldown.

A *claim* is a key held until it expires. :meth:`Store.claim` is atomic across threads,
gunicorn workers and (with Redis) instances: of any number of concurrent callers for the same
unexpired key exactly one gets ``True``. The webhook uses claims for

- replay protection: ``replay:<door>:<id>`` (a Slack signature, a GitHub delivery id, an alert
  signature), held a little longer than the window in which the request could be replayed;
- the cooldown: ``cooldown:<rotation>``, held for the rotation's cooldown;
- alert de-duplication: ``alert:<rotation>:<key hash>:<UTC day>``, held for the usage window.

A claim carries a random token so that :meth:`Store.release` only ever drops the holder's own
claim (a dispatch that failed gives its cooldown back; it must not drop a newer one).

:class:`SQLiteStore` shares one file between the workers of one host (WAL, one statement per
claim); :class:`RedisStore` shares one Redis between instances (``SET NX PX``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

__all__ = ["RedisStore", "SQLiteStore", "Store"]


class Store(Protocol):
    def claim(self, key: str, ttl: float, token: str) -> bool:
        """Hold ``key`` for ``ttl`` seconds unless someone holds it; True if this call got it."""
        ...

    def release(self, key: str, token: str) -> None:
        """Drop ``key`` if, and only if, it is still held with ``token``."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...


class SQLiteStore:
    """Claims in a SQLite file, safe for several processes on one host."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS claims ("
        " key TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)"
    )
    # One statement, so SQLite's write lock makes it atomic: a new key is inserted; an existing
    # key is taken over only if it has expired. changes() tells the caller which happened.
    _CLAIM = (
        "INSERT INTO claims (key, token, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires = excluded.expires"
        " WHERE claims.expires <= ?"
    )

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._claims = 0
        self._lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            # WAL lets readers and the single writer proceed together; it is a property of the
            # file, so setting it once here covers every worker that opens the file later.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(self._SCHEMA)
            db.execute("CREATE INDEX IF NOT EXISTS claims_expires ON claims (expires)")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: sqlite3 connections must not cross threads or a fork, and
        # opening a local file is cheap next to an HTTP request. isolation_level=None = each
        # statement commits on its own; timeout = wait for another worker's write lock.
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            yield db
        finally:
            db.close()

    def claim(self, key: str, ttl: float, token: str) -> bool:
        now = self._clock()
        with self._connect() as db:
            cursor = db.execute(self._CLAIM, (key, token, now + ttl, now))
            got = cursor.rowcount == 1
            if self._should_sweep():
                db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
        return got

    def _should_sweep(self) -> bool:
        # Expired rows are harmless (a claim takes them over) but would pile up: sweep now and
        # then rather than on every request.
        with self._lock:
            self._claims += 1
            return self._claims % 50 == 1

    def release(self, key: str, token: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE key = ? AND token = ?", (key, token))

    def ping(self) -> None:
        with self._connect() as db:
            db.execute("SELECT 1 FROM claims LIMIT 1").fetchall()


class RedisStore:
    """Claims in Redis, shared by every instance behind a load balancer."""

    # Compare-and-delete must be one step, or a claim that expired and was re-taken by another
    # instance between the GET and the DEL would be dropped.
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        " return 0"
    )

    def __init__(self, url: str, prefix: str = "openrouter-rotator:webhook:") -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True
        )
        self._prefix = prefix

    def claim(self, key: str, ttl: float, token: str) -> bool:
        milliseconds = max(1, int(ttl * 1000))
        return bool(self._redis.set(self._prefix + key, token, nx=True, px=milliseconds))

    def release(self, key: str, token: str) -> None:
        self._redis.eval(self._RELEASE, 1, self._prefix + key, token)

    def ping(self) -> None:
        self._redis.ping()
