"""Usage and alerts follow the budget that blocks first (SPEC §7), once per budget window.

A guardrail's $2 a day stops a key long before its own $10 a month; the report and the alert
are about the guardrail then, and the alert's window ends when that budget resets (the next UTC
midnight), not when the key's own limit does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from openrouter_rotator.sandbox import Sandbox

from .engine import FakeClock, load_state, make_rotator

SECRET = "alert-secret"


@pytest.fixture
def alerts() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A receiver that records every alert body it gets."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts/usage", got
    server.shutdown()
    server.server_close()


def options(url: str) -> dict[str, Any]:
    return {
        "limit": "10",
        "limit_reset": "monthly",
        "alert_webhook_url": url,
        "env": {"ROTATOR_ALERT_WEBHOOK_SECRET": SECRET},
    }


def guarded_key(box: Sandbox, clock: FakeClock, url: str, spent_today: float = 1.8) -> str:
    """The first key, under a guardrail of $2 a day, with ``spent_today`` of it spent (and $3
    of its own $10 a month, 30 %); returns its hash."""
    first = make_rotator(box, clock, **options(url)).run()
    assert first.key_hash is not None
    guardrail = box.openrouter.add_guardrail("daily", limit_usd=2.0, reset_interval="daily")
    box.openrouter.assign(guardrail, first.key_hash)
    box.openrouter.set_usage(first.key_hash, usage=3.0, usage_monthly=3.0, usage_daily=spent_today)
    return first.key_hash


def test_usage_is_reported_on_the_budget_that_blocks_first(
    sandbox: Sandbox, alerts: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = alerts
    clock = FakeClock()
    guarded_key(sandbox, clock, url)  # 30 % of the key's own limit, 90 % of the guardrail's
    result = make_rotator(sandbox, clock, **options(url)).run()
    assert result.usage is not None
    assert (result.usage.limit, result.usage.percent_used) == (2.0, 90.0)
    assert result.usage.budget == "api_key"
    assert result.usage_alert
    [alert] = got
    assert (alert["limit"], alert["percent_used"]) == (2.0, 90.0)
    assert alert["limit_remaining"] == pytest.approx(0.2)


def test_an_alert_fires_once_per_budget_window(
    sandbox: Sandbox, alerts: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = alerts
    clock = FakeClock()
    guarded_key(sandbox, clock, url)
    for _ in range(3):  # the hourly schedule sees the same high usage three times
        result = make_rotator(sandbox, clock, **options(url)).run()
        assert result.usage_alert and result.ok
        clock.advance(hours=1)
    assert len(got) == 1
    state = load_state(sandbox)
    assert state is not None and state.alerted is not None and "/api_key/" in state.alerted
    # The guardrail's window ends at the next UTC midnight; in the next one the alert is new.
    assert result.usage is not None and result.usage.resets_at is not None
    clock.moment = result.usage.resets_at + timedelta(minutes=5)
    make_rotator(sandbox, clock, **options(url)).run()
    assert len(got) == 2


def test_a_run_below_the_threshold_sends_nothing_and_writes_nothing(
    sandbox: Sandbox, alerts: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = alerts
    clock = FakeClock()
    guarded_key(sandbox, clock, url, spent_today=0.5)
    clock.advance(hours=1)
    make_rotator(sandbox, clock, **options(url)).run()  # settles the gate's wake hours
    before = sandbox.github.variable("octo-org/app", "OPENROUTER_API_KEY_ROTATION")
    clock.advance(minutes=1)
    result = make_rotator(sandbox, clock, **options(url)).run()
    assert result.usage is not None and result.usage.percent_used == 25.0
    assert got == []
    assert sandbox.github.variable("octo-org/app", "OPENROUTER_API_KEY_ROTATION") == before


def test_without_guardrails_the_keys_own_limit_is_the_budget(
    sandbox: Sandbox, alerts: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = alerts
    clock = FakeClock()
    first = make_rotator(sandbox, clock, **options(url)).run()
    assert first.key_hash is not None
    sandbox.openrouter.set_usage(first.key_hash, usage=8.5, usage_monthly=8.5)
    result = make_rotator(sandbox, clock, **options(url)).run()
    assert result.usage is not None
    assert (result.usage.budget, result.usage.limit, result.usage.percent_used) == (
        "key_limit",
        10.0,
        85.0,
    )
    assert len(got) == 1
