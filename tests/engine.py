"""Helpers for driving the engine against the sandbox and checking the SPEC's invariants."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from openrouter_rotator.config import parse_config
from openrouter_rotator.rotation import Rotator
from openrouter_rotator.sandbox import FakeClock, Sandbox
from openrouter_rotator.state import State

SECRET = "OPENROUTER_API_KEY"
STATE_REPO = "octo-org/app"
VARIABLE = f"{SECRET}_ROTATION"
KEY_NAME = "octo-org/app ci"
TARGETS = ["repo:octo-org/app", "env:octo-org/app/production", "org:octo-org"]


def make_rotator(
    box: Sandbox,
    clock: FakeClock | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 2.0,
    **options: Any,
) -> Rotator:
    args: dict[str, object] = {
        "targets": list(TARGETS),
        "key_name": KEY_NAME,
        "state_repository": STATE_REPO,
    }
    args.update({k: v for k, v in options.items()})
    env = {
        **box.env(),
        "ROTATOR_HTTP_TIMEOUT": str(timeout),
        "ROTATOR_GITHUB_WRITE_INTERVAL": "0",
        **(env or {}),
    }
    return Rotator.from_config(
        parse_config(args, env), now=clock or FakeClock(), sleep=lambda s: None
    )


def load_state(box: Sandbox) -> State | None:
    value = box.github.variable(STATE_REPO, VARIABLE)
    return None if value is None else State.from_json(value, "test")


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def target_values(box: Sandbox, targets: list[str] = TARGETS) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for target in targets:
        try:
            values[target] = box.github.open_secret(target, SECRET)
        except KeyError:
            values[target] = None
    return values


def secret_now(box: Sandbox, target: str = TARGETS[1]) -> str:
    """What a job in that scope decrypts: the sealed secret, opened with the private key."""
    value = target_values(box, [target])[target]
    assert value is not None
    return value


def assert_targets_work(
    box: Sandbox, targets: list[str] = TARGETS, allow_empty: bool = False
) -> None:
    """Every target holds a key that works (SPEC: at every moment)."""
    for target, value in target_values(box, targets).items():
        if value is None:
            assert allow_empty, f"{target} holds no key"
            continue
        assert box.openrouter.works(value), f"{target} holds a key that does not work"


def assert_converged(box: Sandbox, now: datetime, targets: list[str] = TARGETS) -> State:
    """After a clean run: every target holds the active key; only it and keys inside their
    revoke window are alive; nothing is in flight or leased."""
    state = load_state(box)
    assert state is not None and state.active is not None
    assert state.in_flight is None, state.in_flight
    assert all(name.startswith(f"{VARIABLE}_LOCK_") for name in state.locks), state.locks
    # Every lock variable is one the next session deletes: listed in the state, or a slot of the
    # generation the next session contends for (a killed run's, walked past and then listed).
    current = f"{VARIABLE}_LOCK_{state.generation}"
    left = {n for n in lock_variables(box) if n not in state.locks}
    assert all(n == current or n.startswith(current + "_") for n in left), left
    for target, value in target_values(box, targets).items():
        assert value is not None, target
        assert digest(value) == state.active.hash, f"{target} does not hold the active key"
        assert box.openrouter.works(value)
    allowed = {state.active.hash} | {
        r.hash for r in state.retiring if r.revoke_at is None or r.revoke_at > now
    }
    live = {k.hash for k in box.openrouter.live_keys(KEY_NAME)}
    assert live <= allowed, f"orphans left: {live - allowed}"
    assert state.active.hash in live
    assert "sk-or-v1-" not in (box.github.variable(STATE_REPO, VARIABLE) or "")
    return state


def lock_variables(box: Sandbox) -> dict[str, dict[str, Any]]:
    """The lock variables in the state repository, by name, with their records."""
    repo = box.github.repos[STATE_REPO.lower()]
    with box.github._lock:
        found = {n: v.value for n, v in repo.variables.items() if n.startswith(f"{VARIABLE}_LOCK_")}
    return {name: json.loads(value) for name, value in found.items()}


def lock_held(box: Sandbox, now: datetime) -> bool:
    return any(iso_parse(r["expires_at"]) > now for r in lock_variables(box).values())


def expire_lease(box: Sandbox, clock: FakeClock) -> None:
    """What the passing of the lock's time does (a killed run cannot release it)."""
    for name, record in lock_variables(box).items():
        record["expires_at"] = (clock() - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        box.github.set_variable(STATE_REPO, name, json.dumps(record))


def iso_parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def next_lock_free(box: Sandbox) -> bool:
    """No session holds the state now: the lock the next run contends for does not exist."""
    state = load_state(box)
    current = f"{VARIABLE}_LOCK_{state.generation if state else 0}"
    return not any(n == current or n.startswith(current + "_") for n in lock_variables(box))
