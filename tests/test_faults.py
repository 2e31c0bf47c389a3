"""Faults on every remote call of a forced rotation: nothing is lost, the next run converges.

Each case injects one fault into one request of a forced rotation with ``revoke-after 0`` (the
run that touches every endpoint), then checks that every target still holds a working key, and
that one clean run afterwards leaves every target on the active key with no orphan.
"""

from __future__ import annotations

import pytest

from openrouter_rotator.errors import RotatorError
from openrouter_rotator.sandbox import Sandbox

from .engine import (
    VARIABLE,
    FakeClock,
    assert_converged,
    assert_targets_work,
    expire_lease,
    make_rotator,
)

VAR = rf"/actions/variables/{VARIABLE}$"
KEY = r"/api/v1/keys/[0-9a-f]{64}$"
LOCKS = r"/actions/variables$"  # the state variable exists: a POST is the lock
OLD_LOCK = rf"/actions/variables/{VARIABLE}_LOCK_\d+$"

# (name, path pattern, method, nth matching request of the forced run)
CALLS = [
    ("state read", VAR, "GET", 1),
    ("management key check", r"/api/v1/key$", "GET", 1),
    ("public key (pre-flight)", r"/public-key$", "GET", 1),
    ("organization secret read", r"/orgs/octo-org/actions/secrets/OPENROUTER_API_KEY$", "GET", 1),
    ("lock take", LOCKS, "POST", 1),
    ("previous lock delete", OLD_LOCK, "DELETE", 1),
    ("sweep listing", r"/api/v1/keys$", "GET", 1),
    ("create", r"/api/v1/keys$", "POST", 1),
    ("hash write", VAR, "PATCH", 1),
    ("verify", r"/api/v1/key$", "GET", 2),
    ("secret PUT", r"/secrets/OPENROUTER_API_KEY$", "PUT", 2),
    ("revoke", KEY, "DELETE", 1),
    ("commit write", VAR, "PATCH", 2),
]

FAULTS = {
    "429 Retry-After once": {"status": 429, "retry_after": "1"},
    "5xx once": {"status": 502},
    # the request takes effect and its answer is late: the hard case for a create or a write
    "timeout once": {"latency": 1.3, "when": "after"},
    "5xx persistent": {"status": 503, "times": None},
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
@pytest.mark.parametrize(("call", "path", "method", "nth"), CALLS, ids=[c[0] for c in CALLS])
def test_fault_on_each_call(
    sandbox: Sandbox, call: str, path: str, method: str, nth: int, fault: str
) -> None:
    clock = FakeClock()
    # The simulated clock stays near the sandbox's real one: OpenRouter's created_at and the
    # engine's in-flight times are compared (with a 5-minute allowance for clock skew).
    first = make_rotator(sandbox, clock).run()
    options = dict(FAULTS[fault])
    if method == "GET" and "429" in fault and "secrets/OPENROUTER_API_KEY" in path:
        options["headers"] = {"x-ratelimit-remaining": "0"}
    sandbox.fault(path, method=method, nth=nth, **options)
    # PATCH/POST create are not retried on a lost answer the way GETs are: the engine must
    # still keep every target working.
    try:
        result = make_rotator(sandbox, clock, force=True, revoke_after="0", timeout=0.5).run()
        ok = result.ok
    except RotatorError:
        ok = False
    assert_targets_work(sandbox)
    if fault != "5xx persistent":
        assert ok, f"a transient {fault} on the {call} should be absorbed by a retry"
    sandbox.clear_faults()

    clock.advance(minutes=1)
    expire_lease(sandbox, clock)
    make_rotator(sandbox, clock, revoke_after="0").run()
    state = assert_converged(sandbox, clock())
    assert state.retiring == ()
    if ok:
        assert state.active is not None and state.active.hash != first.key_hash
