"""A rotation killed (SIGKILL) at each step boundary loses nothing, and one clean run converges.

The sandbox holds a chosen request (before the server acts on it, or after it acted but before
the answer leaves), the CLI process is killed while it waits, and then:
- every target still holds a key that works;
- a run straight away that would finish the dead run's work respects its lock, changes nothing
  and exits 0;
- once the lock has expired, one clean run leaves every target on the active key, and the only
  live keys with the rotation's name are the active one and those inside their revoke window.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from openrouter_rotator.sandbox import Sandbox

from .cli_helpers import run_cli, start_cli
from .engine import (
    KEY_NAME,
    VARIABLE,
    FakeClock,
    assert_converged,
    assert_targets_work,
    expire_lease,
    load_state,
    lock_held,
    make_rotator,
)

VAR = rf"/actions/variables/{VARIABLE}$"
LOCKS = r"/actions/variables$"  # the first run made the state variable: a POST is the lock
OLD_LOCK = rf"/actions/variables/{VARIABLE}_LOCK_\d+$"

# (step boundary, path, method, nth, when): "before" = the request never took effect,
# "after" = it took effect and the answer was lost with the process.
CRASH_POINTS = [
    ("before the lock is taken", LOCKS, "POST", 1, "before"),
    ("after the lock is taken", LOCKS, "POST", 1, "after"),
    ("after the previous lock is deleted", OLD_LOCK, "DELETE", 1, "after"),
    ("during the sweep", r"/api/v1/keys$", "GET", 1, "before"),
    ("before the key is created", r"/api/v1/keys$", "POST", 1, "before"),
    ("after the key is created, answer lost", r"/api/v1/keys$", "POST", 1, "after"),
    ("before the hash is recorded", VAR, "PATCH", 1, "before"),
    ("after the hash is recorded", VAR, "PATCH", 1, "after"),
    ("during verification", r"/api/v1/key$", "GET", 2, "before"),
    ("after the first target is written", r"/secrets/OPENROUTER_API_KEY$", "PUT", 1, "after"),
    ("after the second target is written", r"/secrets/OPENROUTER_API_KEY$", "PUT", 2, "after"),
    ("after the last target is written", r"/secrets/OPENROUTER_API_KEY$", "PUT", 3, "after"),
    ("after the old key is deleted", r"/api/v1/keys/[0-9a-f]{64}$", "DELETE", 1, "after"),
    ("before the commit is recorded", VAR, "PATCH", 2, "before"),
    ("after the commit is recorded", VAR, "PATCH", 2, "after"),
]


@pytest.mark.parametrize(
    ("point", "path", "method", "nth", "when"), CRASH_POINTS, ids=[c[0] for c in CRASH_POINTS]
)
def test_killed_at_each_step_boundary(
    sandbox: Sandbox, point: str, path: str, method: str, nth: int, when: str
) -> None:
    clock = FakeClock()
    first = make_rotator(sandbox, clock).run()
    # "before": hold the request, and answer 503 without acting on it once released
    extra = {"status": 503} if when == "before" else {}
    fault = sandbox.fault(path, method=method, nth=nth, when=when, block=True, **extra)

    process = start_cli(sandbox, "rotate", "--force", "--revoke-after", "0")
    try:
        assert sandbox.server.faults.wait_blocked(fault, timeout=30), (
            f"the run never reached {point}: {process.communicate(timeout=30)}"
        )
    finally:
        process.kill()
        process.communicate(timeout=30)
    sandbox.clear_faults()

    assert_targets_work(sandbox)
    state = load_state(sandbox)
    if state is not None and state.in_flight is not None:
        # The next run must finish what the dead run left, but the dead run's lock holds it off.
        assert lock_held(sandbox, datetime.now(timezone.utc))
        blocked = run_cli(sandbox, "rotate", "--revoke-after", "0", "--json")
        assert blocked.returncode == 0, blocked.stderr
        assert json.loads(blocked.stdout)["rotated"] is False
        assert "another run holds the lock" in blocked.stdout
        assert_targets_work(sandbox)

    expire_lease(sandbox, FakeClock())
    rerun = run_cli(sandbox, "rotate", "--revoke-after", "0")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    state = assert_converged(sandbox, datetime.now(timezone.utc))
    assert state.retiring == ()
    live = [k.hash for k in sandbox.openrouter.live_keys(KEY_NAME)]
    assert live == [state.active.hash]
    if point == "after the old key is deleted":
        assert first.key_hash not in live
