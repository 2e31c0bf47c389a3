"""The rotation journal, kept as JSON in a GitHub Actions variable.

It holds no secret material: key hashes, names, times, the trigger, the run URL. It records the
active key, the retiring keys with their revoke times, an in-flight rotation (so a run that was
killed is finished or cleaned up by the next one), the last rotation, and the generation and
lock variable of the last locked session (see :mod:`openrouter_rotator.lock`). A value that is
not ours, or that does not parse, is an error and is never overwritten. Unknown fields inside a
record are ignored, so a state written by a newer or older release still reads.

Storage is behind :class:`StateStore` (``load`` / ``save``) so the engine does not know about
variables; :class:`VariableStore` is the GitHub one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from .errors import GitHubError, StateError
from .schedule import iso, parse_timestamp

SCHEMA = "openrouter-rotator/state"
VERSION = 1
MAX_VALUE_BYTES = 48 * 1024  # GitHub's limit for one variable


def parse_iso(text: Any, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text, assume_utc=False)
    except ValueError as exc:
        raise StateError(f"state field {what} {exc}") from None


@dataclass(frozen=True)
class ActiveKey:
    hash: str
    created_at: datetime
    activated_at: datetime
    targets: tuple[str, ...] = ()  # the targets it reached; a new target triggers a rotation


@dataclass(frozen=True)
class RetiringKey:
    hash: str
    superseded_at: datetime
    revoke_at: datetime | None  # None: see ``pending``
    # True: it may sit in some targets after a run that died while publishing, so it waits for
    # a newer key to reach every target before its revoke time is set. False with no revoke_at:
    # next-rotation mode, deleted when the next rotation completes.
    pending: bool = False
    attempts: int = 0


# In-flight steps. This release records only ``publishing`` (the key's hash is known and it may
# have reached some targets); ``intent`` (a key may exist, hash unknown) and ``created`` (hash
# known, written nowhere) come from states the first release wrote, and are still settled.
STEPS = ("intent", "created", "publishing")


@dataclass(frozen=True)
class InFlight:
    step: str
    started_at: datetime
    trigger: str
    reason: str
    key_hash: str | None = None


@dataclass(frozen=True)
class LastRotation:
    at: datetime
    trigger: str
    reason: str
    run_url: str | None = None


@dataclass(frozen=True)
class Verification:
    """The last ``verify``: did the secret a job reads hold the active, working key?"""

    at: datetime
    verified: bool
    key_hash: str | None  # the key the job read, when OpenRouter could name it
    active_key_hash: str | None
    cause: str | None = None  # short code: empty, revoked, stale, foreign, unknown, ...
    run_url: str | None = None


@dataclass(frozen=True)
class CarryOver:
    """Spend carried over to the active key so a rotation never resets the spending cap.

    ``limit`` is the configured cap L; ``limit_now`` what the active key was given (L minus
    what its predecessors spent in the window); ``spent_gone`` the window spend of predecessors
    already revoked (it can no longer be read); the window ends at ``resets_at`` (None: the
    limit never resets).
    """

    key_hash: str
    limit: float
    limit_now: float
    limit_reset: str | None
    resets_at: datetime | None
    spent_gone: float = 0.0


@dataclass(frozen=True)
class State:
    active: ActiveKey | None = None
    retiring: tuple[RetiringKey, ...] = ()
    in_flight: InFlight | None = None
    last_rotation: LastRotation | None = None
    # Bumped by every locked session when it ends; names the lock the next session contends for.
    generation: int = 0
    # The lock variable(s) of the session that wrote this; the next session deletes them.
    locks: tuple[str, ...] = ()
    secret_name: str | None = None
    key_name: str | None = None
    verification: Verification | None = None
    carry_over: CarryOver | None = None
    # The UTC hours of the next day whose scheduled tick must start a job (see wake.py); the
    # example workflow's `if:` reads them. None: unknown (written by an older version).
    wake: tuple[int, ...] | None = None
    # The budget window a usage alert was last sent for (UsageReport.window): one alert per
    # window, however many runs see the usage above the threshold.
    alerted: str | None = None

    @property
    def hold(self) -> bool:
        """A failed verification holds back every revocation until one passes."""
        return self.verification is not None and not self.verification.verified

    def known_hashes(self) -> set[str]:
        hashes = {r.hash for r in self.retiring}
        if self.active:
            hashes.add(self.active.hash)
        if self.in_flight and self.in_flight.key_hash:
            hashes.add(self.in_flight.key_hash)
        return hashes

    # -- serialisation -----------------------------------------------------------------------
    def to_json(self) -> str:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "version": VERSION,
            "secret_name": self.secret_name,
            "key_name": self.key_name,
            "active": _dump(self.active),
            "retiring": [_dump(r) for r in self.retiring],
            "in_flight": _dump(self.in_flight),
            "last_rotation": _dump(self.last_rotation),
            "generation": self.generation,
            "locks": list(self.locks),
            "verification": _dump(self.verification),
            "carry_over": _dump(self.carry_over),
            "wake": wake_text(self.wake),
            "alerted": self.alerted,
        }
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) > MAX_VALUE_BYTES:
            raise StateError("the state grew past GitHub's 48 KB variable limit")
        return text

    @classmethod
    def from_json(cls, text: str, where: str) -> State:
        try:
            data = json.loads(text)
        except ValueError:
            raise StateError(
                f"{where} does not hold openrouter-rotator state (not JSON); it was left as it "
                "is: give another --state-variable, or delete the variable if it is stale"
            ) from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise StateError(
                f"{where} holds something that is not openrouter-rotator state; it was left "
                "as it is: give another --state-variable"
            )
        version = data.get("version")
        if version != VERSION:
            raise StateError(
                f"{where} has state version {version!r}; this openrouter-rotator reads version "
                f"{VERSION}: upgrade the action"
            )
        try:
            return cls(
                active=_load(ActiveKey, data.get("active")),
                retiring=tuple(_load(RetiringKey, r) for r in data.get("retiring") or []),
                in_flight=_load(InFlight, data.get("in_flight")),
                last_rotation=_load(LastRotation, data.get("last_rotation")),
                generation=_generation(data.get("generation")),
                locks=_names(data.get("locks")),
                secret_name=data.get("secret_name"),
                key_name=data.get("key_name"),
                verification=_load(Verification, data.get("verification")),
                carry_over=_load(CarryOver, data.get("carry_over")),
                wake=parse_wake(data.get("wake")),
                alerted=data.get("alerted") if isinstance(data.get("alerted"), str) else None,
            )
        except (TypeError, KeyError, StateError) as exc:
            raise StateError(f"{where} holds damaged state ({exc}); it was left as it is") from None


def wake_text(hours: tuple[int, ...] | None) -> str | None:
    """``|03|17|``: each hour between bars, so that the gate's ``contains(vars.X, '|03|')``
    cannot match part of another hour, and ``"wake":"|`` shows a field the gate can read."""
    if hours is None:
        return None
    return "|" + "".join(f"{hour:02d}|" for hour in hours)


def parse_wake(text: Any) -> tuple[int, ...] | None:
    # Only the gate reads this field; a value it cannot use is as good as none (the gate then
    # starts every job, and the next write puts a good one back).
    if not isinstance(text, str) or not text.startswith("|"):
        return None
    parts = [part for part in text.split("|") if part]
    if not all(part.isdigit() and int(part) < 24 for part in parts):
        return None
    return tuple(sorted({int(part) for part in parts}))


_TIME_FIELDS = {
    "created_at",
    "activated_at",
    "superseded_at",
    "revoke_at",
    "started_at",
    "at",
    "expires_at",
    "resets_at",
}


def _dump(item: Any) -> dict[str, Any] | None:
    if item is None:
        return None
    out = asdict(item)
    for name in _TIME_FIELDS & out.keys():
        out[name] = iso(out[name])
    return out


def _load(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise StateError(f"{kind.__name__} is not an object")
    known = {f.name for f in fields(kind)}
    values = {k: v for k, v in data.items() if k in known}
    if "targets" in values:
        values["targets"] = tuple(values["targets"])
    for name in _TIME_FIELDS & values.keys():
        values[name] = parse_iso(values[name], name)
    if kind is InFlight and values.get("step") not in STEPS:
        raise StateError(f"unknown in-flight step {values.get('step')!r}")
    return kind(**values)


def _generation(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StateError("state field generation is not a count")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError("state field locks is not a list of names")
    return tuple(value)


class StateStore(Protocol):
    @property
    def where(self) -> str: ...

    def load(self) -> State | None: ...

    def save(self, state: State) -> None: ...


class VariableClient(Protocol):
    def get_variable(self, repo: str, name: str) -> str | None: ...

    def create_variable(self, repo: str, name: str, value: str) -> None: ...

    def update_variable(self, repo: str, name: str, value: str) -> None: ...


@dataclass
class VariableStore:
    """State in an Actions variable. Knows whether the variable exists, to POST or PATCH."""

    client: VariableClient
    repository: str
    variable: str
    exists: bool | None = field(default=None, init=False)
    reads: int = field(default=0, init=False)
    writes: int = field(default=0, init=False)

    @property
    def where(self) -> str:
        return f"variable {self.variable} in {self.repository}"

    def load(self) -> State | None:
        self.reads += 1
        value = self.client.get_variable(self.repository, self.variable)
        self.exists = value is not None
        if value is None:
            return None
        return State.from_json(value, self.where)

    def save(self, state: State) -> None:
        text = state.to_json()
        self.writes += 1
        if self.exists:
            self.client.update_variable(self.repository, self.variable, text)
            return
        try:
            self.client.create_variable(self.repository, self.variable, text)
        except GitHubError as exc:
            if exc.status != 409:
                raise
            # Made by someone else since we looked: read it, so a foreign value is refused
            # rather than overwritten, then write ours over our own kind of state.
            if self.load() is None:
                raise
            self.client.update_variable(self.repository, self.variable, text)
        self.exists = True
