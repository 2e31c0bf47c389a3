"""The webhook's durable memory: claims, and the queue of accepted requests.

*Claims.* A claim is a key held until it expires. :meth:`Store.claim` is atomic across
threads, gunicorn workers and (with Redis) instances: of any number of concurrent callers for
the same unexpired key exactly one gets ``True``. The webhook uses claims for

- replay protection: ``replay:<door>:<id>`` (a Slack body, a GitHub comment and action, an API
  ``Idempotency-Key``, an alert signature), held longer than the request can be replayed;
- the cooldown: ``cooldown:<rotation>``, held for the rotation's cooldown;
- alert de-duplication: ``alert:<rotation>:<key hash>:<UTC day>``, held for the usage window.

A claim carries a token so that :meth:`Store.release` only ever drops the holder's own claim
(a definite failure gives its cooldown back; it must not drop a newer one), and
:meth:`Store.holder` tells a replay which request holds the key.

*Jobs.* An accepted request is a :class:`Job`, written by :meth:`Store.enqueue` before the
HTTP answer is sent. Any worker of any instance takes the oldest free job with
:meth:`Store.lease`; the lease is renewed while the job runs (:meth:`Store.renew`) and a job
whose worker died is free again once its lease has run out, with its ``attempts`` count telling
the next worker that an earlier attempt may have dispatched already. :meth:`Store.finish`
records the outcome that ``GET /rotations/<name>/requests/<id>`` reports.

:class:`SQLiteStore` shares one file between the workers of one host (WAL; a lease is one
``UPDATE ... RETURNING``). :class:`RedisStore` shares one Redis between instances: claims are
``SET NX PX``; jobs are a Stream read by one consumer group, a job's state a hash, a dead
worker's jobs taken over with ``XAUTOCLAIM`` once idle for the lease. Redis must persist (AOF
or RDB): :func:`check_redis_persistence` refuses one that would forget accepted requests on a
restart.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openrouter_rotator.errors import ConfigError

__all__ = [
    "STATUS_TTL",
    "Job",
    "JobStatus",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "check_redis_persistence",
]

# How long a finished job's status stays readable (the API's status_url).
STATUS_TTL = 7 * 86400.0


@dataclass(frozen=True)
class Job:
    """An accepted request: what to do, and whom to tell."""

    id: str
    rotation: str
    reason: str
    action: str = "dispatch"  # dispatch | notify
    emergency: bool = False
    # Where the outcome goes: {"to": "slack", "url": ...}, {"to": "github", "repo": ..., ...},
    # {"to": "alerts", "text": ...} or {"to": "api"} (the status URL only).
    reply: dict[str, Any] = field(default_factory=dict)
    # (key, token) claims a definite failure gives back, so that a retry can succeed.
    claims: tuple[tuple[str, str], ...] = ()
    # A GitHub commenter whose permission is still to be checked (the request did not wait).
    check_login: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # for the log lines
    created: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        data["claims"] = tuple(tuple(c) for c in data.get("claims", ()))
        return cls(**data)


@dataclass(frozen=True)
class JobStatus:
    status: str  # accepted | dispatched | failed
    run_url: str | None = None
    error: str | None = None
    attempts: int = 0
    rotation: str | None = None  # read back by status(), to answer only under its own name


@dataclass(frozen=True)
class Leased:
    job: Job
    attempts: int  # this attempt's number: above 1, an earlier attempt may have dispatched
    handle: str  # what renew/finish need to name this lease


class Store(Protocol):
    def claim(self, key: str, ttl: float, token: str) -> bool:
        """Hold ``key`` for ``ttl`` seconds unless someone holds it; True if this call got it."""
        ...

    def release(self, key: str, token: str) -> None:
        """Drop ``key`` if, and only if, it is still held with ``token``."""
        ...

    def holder(self, key: str) -> str | None:
        """The token ``key`` is held with, or None."""
        ...

    def enqueue(self, job: Job) -> None:
        """Store ``job`` durably (raise if it could not be)."""
        ...

    def lease(self, owner: str, seconds: float) -> Leased | None:
        """Take the oldest free job for ``seconds``, or None."""
        ...

    def renew(self, leased: Leased, owner: str, seconds: float) -> bool:
        """Extend a lease still held by ``owner``; False if it was lost."""
        ...

    def finish(self, leased: Leased, status: JobStatus) -> None:
        """Record the job's outcome and take it off the queue."""
        ...

    def status(self, job_id: str) -> JobStatus | None: ...

    def backlog(self) -> int:
        """Jobs accepted and not finished."""
        ...

    def ping(self) -> None:
        """Raise unless the store can be written."""
        ...


def _off_the_loop(method: Callable[..., Any]) -> Callable[..., Any]:
    """Under gevent workers, run a SQLite call in gevent's thread pool: SQLite waits for
    another process's write lock by sleeping in C, which would stop every greenlet of the
    worker (every request it is serving) for as long."""

    def call(*args: Any, **kwargs: Any) -> Any:
        gevent = sys.modules.get("gevent.monkey")
        if gevent is not None and gevent.is_module_patched("socket"):
            from gevent import get_hub

            return get_hub().threadpool.apply(method, args, kwargs)
        return method(*args, **kwargs)

    return call


class SQLiteStore:
    """Claims and jobs in a SQLite file, safe for several processes on one host."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS claims ("
        " key TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS claims_expires ON claims (expires)",
        "CREATE TABLE IF NOT EXISTS jobs ("
        " id TEXT PRIMARY KEY, job TEXT NOT NULL, created REAL NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'accepted', run_url TEXT, error TEXT,"
        " attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until REAL NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS jobs_free ON jobs (status, lease_until, created)",
        "CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at REAL NOT NULL)",
    )
    # One statement, so SQLite's write lock makes it atomic: a new key is inserted; an existing
    # key is taken over only if it has expired. changes() tells the caller which happened.
    _CLAIM = (
        "INSERT INTO claims (key, token, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires = excluded.expires"
        " WHERE claims.expires <= ?"
    )
    # Also one statement: of two workers leasing at once, the second sees the first's lease.
    _LEASE = (
        "UPDATE jobs SET owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE id = (SELECT id FROM jobs WHERE status = 'accepted' AND lease_until <= ?"
        " ORDER BY created LIMIT 1) RETURNING id, job, attempts"
    )

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._writes = 0
        self._lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            # WAL lets readers and the single writer proceed together; it is a property of the
            # file, so setting it once here covers every worker that opens the file later.
            db.execute("PRAGMA journal_mode=WAL")
            for statement in self._SCHEMA:
                db.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: sqlite3 connections must not cross threads or a fork, and
        # opening a local file is cheap next to an HTTP request. isolation_level=None = each
        # statement commits on its own; timeout = wait for another worker's write lock.
        # synchronous=FULL: a job written before the answer survives a power cut, not only a
        # killed process (WAL's default, NORMAL, may lose the last commits on power loss).
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        finally:
            db.close()

    # -- claims --------------------------------------------------------------------------------
    @_off_the_loop
    def claim(self, key: str, ttl: float, token: str) -> bool:
        now = self._clock()
        with self._connect() as db:
            cursor = db.execute(self._CLAIM, (key, token, now + ttl, now))
            got = cursor.rowcount == 1
            if self._should_sweep():
                db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
                db.execute(
                    "DELETE FROM jobs WHERE status != 'accepted' AND created <= ?",
                    (now - STATUS_TTL,),
                )
        return got

    def _should_sweep(self) -> bool:
        # Expired rows are harmless (a claim takes them over) but would pile up: sweep now and
        # then rather than on every request.
        with self._lock:
            self._writes += 1
            return self._writes % 50 == 1

    @_off_the_loop
    def release(self, key: str, token: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE key = ? AND token = ?", (key, token))

    @_off_the_loop
    def holder(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT token FROM claims WHERE key = ? AND expires > ?", (key, self._clock())
            ).fetchone()
        return None if row is None else str(row[0])

    # -- jobs ----------------------------------------------------------------------------------
    @_off_the_loop
    def enqueue(self, job: Job) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, job, created) VALUES (?, ?, ?)",
                (job.id, job.to_json(), job.created),
            )

    @_off_the_loop
    def lease(self, owner: str, seconds: float) -> Leased | None:
        now = self._clock()
        with self._connect() as db:
            row = db.execute(self._LEASE, (owner, now + seconds, now)).fetchone()
        if row is None:
            return None
        return Leased(Job.from_json(row[1]), int(row[2]), str(row[0]))

    @_off_the_loop
    def renew(self, leased: Leased, owner: str, seconds: float) -> bool:
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE jobs SET lease_until = ?"
                " WHERE id = ? AND owner = ? AND status = 'accepted'",
                (self._clock() + seconds, leased.handle, owner),
            )
        return cursor.rowcount == 1

    @_off_the_loop
    def finish(self, leased: Leased, status: JobStatus) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = ?, run_url = ?, error = ?, owner = NULL WHERE id = ?",
                (status.status, status.run_url, status.error, leased.handle),
            )

    @_off_the_loop
    def status(self, job_id: str) -> JobStatus | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT status, run_url, error, attempts, job FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        rotation = Job.from_json(row[4]).rotation
        return JobStatus(row[0], row[1], row[2], int(row[3]), rotation)

    @_off_the_loop
    def backlog(self) -> int:
        with self._connect() as db:
            row = db.execute("SELECT count(*) FROM jobs WHERE status = 'accepted'").fetchone()
        return int(row[0])

    @_off_the_loop
    def ping(self) -> None:
        # A write, not a read: a full disk or a read-only file must make the instance unhealthy.
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (self._clock(),))


class RedisStore:
    """Claims and jobs in Redis, shared by every instance behind a load balancer."""

    # Compare-and-delete must be one step, or a claim that expired and was re-taken by another
    # instance between the GET and the DEL would be dropped.
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        " return 0"
    )
    GROUP = "dispatchers"

    def __init__(
        self,
        url: str,
        prefix: str = "openrouter-rotator:webhook:",
        *,
        check_persistence: bool = False,
    ) -> None:
        import redis

        self._url = url
        self._redis: Any = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True
        )
        self._prefix = prefix
        self._stream = prefix + "jobs"
        self._group_ready = False
        # Set when Redis could not be reached at start: its persistence is checked before the
        # first job is kept, and a Redis that persists nothing then refuses every job (503).
        self._unchecked = check_persistence

    def _job_key(self, job_id: str) -> str:
        return f"{self._prefix}job:{job_id}"

    # -- claims --------------------------------------------------------------------------------
    def claim(self, key: str, ttl: float, token: str) -> bool:
        milliseconds = max(1, int(ttl * 1000))
        return bool(self._redis.set(self._prefix + key, token, nx=True, px=milliseconds))

    def release(self, key: str, token: str) -> None:
        self._redis.eval(self._RELEASE, 1, self._prefix + key, token)

    def holder(self, key: str) -> str | None:
        value = self._redis.get(self._prefix + key)
        return None if value is None else str(value)

    # -- jobs ----------------------------------------------------------------------------------
    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        import redis

        if self._unchecked:
            from .logs import log_event

            persistence = check_redis_persistence(self._url)
            log_event("webhook.store", store="redis", persistence=persistence)
            self._unchecked = False

        try:
            self._redis.xgroup_create(self._stream, self.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def enqueue(self, job: Job) -> None:
        self._ensure_group()
        key = self._job_key(job.id)
        # One transaction: the state and the stream entry exist together or not at all.
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"job": job.to_json(), "status": "accepted", "attempts": 0})
        pipe.xadd(self._stream, {"id": job.id})
        pipe.execute()

    def lease(self, owner: str, seconds: float) -> Leased | None:
        self._ensure_group()
        # First a job a dead (or slow to renew) worker held for longer than a lease...
        _, claimed, *_ = self._redis.xautoclaim(
            self._stream, self.GROUP, owner, int(seconds * 1000), start_id="0-0", count=1
        )
        entries = claimed
        if not entries:
            # ...then a new one. Not blocking: the caller paces its polling.
            answer = self._redis.xreadgroup(self.GROUP, owner, {self._stream: ">"}, count=1)
            entries = answer[0][1] if answer else []
        for entry_id, data in entries:
            if not data:  # deleted from the stream meanwhile
                self._redis.xack(self._stream, self.GROUP, entry_id)
                continue
            key = self._job_key(data["id"])
            attempts = int(self._redis.hincrby(key, "attempts", 1))
            text = self._redis.hget(key, "job")
            if text is None or self._redis.hget(key, "status") != "accepted":
                # Finished by another worker between its XACK and ours: nothing left to do.
                self._redis.xack(self._stream, self.GROUP, entry_id)
                self._redis.xdel(self._stream, entry_id)
                continue
            return Leased(Job.from_json(text), attempts, f"{entry_id} {data['id']}")
        return None

    def renew(self, leased: Leased, owner: str, seconds: float) -> bool:
        entry_id = leased.handle.split()[0]
        pending = self._redis.xpending_range(
            self._stream, self.GROUP, min=entry_id, max=entry_id, count=1
        )
        if not pending or pending[0]["consumer"] != owner:
            return False
        # XCLAIM by the holder itself resets the entry's idle time: the lease starts over.
        self._redis.xclaim(self._stream, self.GROUP, owner, 0, [entry_id], justid=True)
        return True

    def finish(self, leased: Leased, status: JobStatus) -> None:
        entry_id, job_id = leased.handle.split()
        key = self._job_key(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "status": status.status,
                "run_url": status.run_url or "",
                "error": status.error or "",
            },
        )
        pipe.expire(key, int(STATUS_TTL))
        pipe.xack(self._stream, self.GROUP, entry_id)
        pipe.xdel(self._stream, entry_id)
        pipe.execute()

    def status(self, job_id: str) -> JobStatus | None:
        data = self._redis.hgetall(self._job_key(job_id))
        if not data:
            return None
        return JobStatus(
            data.get("status", "accepted"),
            data.get("run_url") or None,
            data.get("error") or None,
            int(data.get("attempts") or 0),
            Job.from_json(data["job"]).rotation if "job" in data else None,
        )

    def backlog(self) -> int:
        self._ensure_group()
        return int(self._redis.xlen(self._stream))

    def ping(self) -> None:
        # A write: a Redis that refuses writes (out of memory, a failed RDB save with
        # stop-writes-on-bgsave-error, a read-only replica) makes the instance unhealthy.
        self._redis.set(self._prefix + "health:" + socket.gethostname(), "ok", ex=60)


def check_redis_persistence(url: str) -> str:
    """Refuse (``ConfigError``) a Redis that keeps nothing across a restart; otherwise one line
    saying what persistence it has, for the start-up log."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        config = client.config_get("appendonly")
        config.update(client.config_get("save"))
    except redis.ResponseError:
        # Managed services (ElastiCache, Memorystore, ...) disable CONFIG; INFO still says
        # whether AOF is on, and RDB snapshots there are the provider's business.
        info = client.info("persistence")
        if int(info.get("aof_enabled", 0)) == 1:
            return "AOF enabled (INFO persistence)"
        return (
            "CONFIG is disabled on this Redis, so its snapshot settings cannot be read; "
            "accepted requests rely on the provider's persistence"
        )
    finally:
        client.close()

    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value or "")

    values = {text(k): text(v) for k, v in config.items()}
    aof = values.get("appendonly", "no") == "yes"
    rdb = values.get("save", "").strip()
    if not aof and not rdb:
        raise ConfigError(
            "store.redis_url",
            None,
            'this Redis persists nothing (appendonly no, save ""): accepted requests would be '
            "lost on its restart; turn on AOF (CONFIG SET appendonly yes, and appendonly yes "
            "in redis.conf) or RDB snapshots",
        )
    return f"appendonly {'yes' if aof else 'no'}, save {rdb or 'off'}"
