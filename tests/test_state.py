"""The rotation journal: round trip, no secrets, refusal of foreign or damaged values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrouter_rotator.errors import StateError
from openrouter_rotator.state import (
    ActiveKey,
    InFlight,
    LastRotation,
    RetiringKey,
    State,
    VariableStore,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
HASH = "a" * 64


def full_state() -> State:
    return State(
        active=ActiveKey(HASH, T0, T0, ("repo:o/r",)),
        retiring=(
            RetiringKey("b" * 64, T0, T0 + timedelta(hours=6)),
            RetiringKey("c" * 64, T0, None, pending=True),
        ),
        in_flight=InFlight("publishing", T0, "schedule", "due", "d" * 64),
        last_rotation=LastRotation(T0, "cli", "forced", "https://github.com/o/r/actions/runs/1"),
        generation=7,
        locks=("OPENROUTER_API_KEY_ROTATION_LOCK_6",),
        secret_name="OPENROUTER_API_KEY",
        key_name="svc",
    )


def test_round_trip() -> None:
    state = full_state()
    assert State.from_json(state.to_json(), "here") == state
    assert State.from_json(State().to_json(), "here") == State()


def test_a_first_release_state_still_reads() -> None:
    """Fields this release dropped (the in-flight id, the lease in the state) are ignored."""
    old = json.loads(full_state().to_json())
    old["in_flight"]["id"] = "0123abcd"
    old["lease"] = {"holder": "h", "expires_at": "2026-11-27T12:15:00Z"}
    del old["generation"], old["locks"]
    state = State.from_json(json.dumps(old), "here")
    assert state == replace(full_state(), generation=0, locks=())


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("not json", "not JSON"),
        ('{"hello": "world"}', "not openrouter-rotator state"),
        ("[1, 2]", "not openrouter-rotator state"),
        ('{"schema": "openrouter-rotator/state", "version": 99}', "version 99"),
        ('{"schema": "openrouter-rotator/state", "version": 1, "active": {"hash": 1}}', "damaged"),
        (
            '{"schema": "openrouter-rotator/state", "version": 1, "in_flight": {"id": "x", '
            '"step": "dancing", "started_at": "2026-01-01T00:00:00Z", "trigger": "t", '
            '"reason": "r"}}',
            "damaged",
        ),
        (
            '{"schema": "openrouter-rotator/state", "version": 1, "last_rotation": '
            '{"at": "yesterday", "trigger": "t", "reason": "r"}}',
            "damaged",
        ),
    ],
)
def test_foreign_or_damaged_values_are_refused(value: str, fragment: str) -> None:
    with pytest.raises(StateError, match=fragment) as info:
        State.from_json(value, "variable X in o/r")
    assert "left as it is" in str(info.value) or "upgrade" in str(info.value)


class FakeVariables:
    def __init__(self, value: str | None = None) -> None:
        self.value = value
        self.calls: list[str] = []

    def get_variable(self, repo: str, name: str) -> str | None:
        self.calls.append("GET")
        return self.value

    def create_variable(self, repo: str, name: str, value: str) -> None:
        self.calls.append("POST")
        self.value = value

    def update_variable(self, repo: str, name: str, value: str) -> None:
        self.calls.append("PATCH")
        self.value = value


def test_store_posts_once_then_patches() -> None:
    variables = FakeVariables()
    store = VariableStore(variables, "o/r", "X_ROTATION")
    assert store.load() is None
    store.save(State())
    store.save(full_state())
    assert variables.calls == ["GET", "POST", "PATCH"]
    assert store.load() == full_state()


def test_store_never_overwrites_a_foreign_value() -> None:
    variables = FakeVariables('{"something": "else"}')
    store = VariableStore(variables, "o/r", "X_ROTATION")
    with pytest.raises(StateError):
        store.load()
    assert variables.calls == ["GET"]


@given(st.text(min_size=1, max_size=300))
def test_arbitrary_values_never_crash_only_refuse(value: str) -> None:
    try:
        State.from_json(value, "v")
    except StateError:
        pass


def test_state_has_no_secret_material() -> None:
    text = full_state().to_json()
    assert "sk-or-v1-" not in text
