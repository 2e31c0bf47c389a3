"""The usage alert end to end: the engine signs and sends it, the real webhook verifies it and
dispatches an emergency rotation to the GitHub sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from openrouter_rotator.sandbox import Sandbox

from .engine import FakeClock, make_rotator
from .webhook_fixtures import AppFactory

ALERT_SECRET = "alert-secret-e2e"


@pytest.fixture
def webhook_url(sandbox: Sandbox, make_app: AppFactory) -> Iterator[str]:
    doc = {
        "webhook": {"endpoints": ["alerts"]},
        "github": {"api_url": sandbox.github_url},
        "rotations": {
            "openrouter": {
                "repository": "octo-org/app",
                "workflow": "rotate-openrouter-key.yml",
                "ref": "main",
                "cooldown": "10m",
                "on_usage_alert": "rotate",
            }
        },
    }
    env = {
        "ROTATOR_GITHUB_TOKEN": sandbox.github.admin_token,
        "ROTATOR_ALERT_WEBHOOK_SECRET": ALERT_SECRET,
    }
    app = make_app(doc, env, live=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_high_usage_dispatches_one_emergency_rotation(sandbox: Sandbox, webhook_url: str) -> None:
    clock = FakeClock()
    options = {
        "limit": "10",
        "alert_webhook_url": f"{webhook_url}/alerts/usage?rotation=openrouter",
        "env": {"ROTATOR_ALERT_WEBHOOK_SECRET": ALERT_SECRET},
    }
    first = make_rotator(sandbox, clock, **options).run()
    assert first.key_hash and not first.usage_alert
    sandbox.openrouter.set_usage(first.key_hash, usage=8.5)

    for _ in range(2):  # the hourly schedule sends it again; the webhook acts once per window
        result = make_rotator(sandbox, clock, **options).run()
        assert result.usage_alert and result.problems == ()

    deadline = time.monotonic() + 10
    while not sandbox.github.dispatches and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(sandbox.github.dispatches) == 1
    dispatch = sandbox.github.dispatches[0]
    assert dispatch.inputs["emergency"] == "true" and dispatch.inputs["force"] == "true"


def test_a_wrong_secret_is_reported_not_fatal(sandbox: Sandbox, webhook_url: str) -> None:
    clock = FakeClock()
    options = {
        "limit": "10",
        "alert_webhook_url": f"{webhook_url}/alerts/usage?rotation=openrouter",
        "env": {"ROTATOR_ALERT_WEBHOOK_SECRET": "not-the-secret"},
    }
    first = make_rotator(sandbox, clock, **options).run()
    assert first.key_hash
    sandbox.openrouter.set_usage(first.key_hash, usage=9)
    result = make_rotator(sandbox, clock, **options).run()
    assert result.usage_alert and not result.ok
    assert result.problems == ("usage alert answered HTTP 401",)
    assert sandbox.github.dispatches == []


def test_the_body_the_engine_sends_is_the_body_the_webhook_reads() -> None:
    """One schema: what usage.alert_body writes, parse_alert reads back field for field."""
    from datetime import datetime, timezone

    from openrouter_rotator.alerts import parse_alert
    from openrouter_rotator.usage import UsageReport, alert_body

    at = datetime(2026, 3, 1, 23, 59, 30, tzinfo=timezone.utc)
    for report in (UsageReport(50.0, 4.25, 91.5), UsageReport(None, None, 80.0)):
        alert = parse_alert(alert_body("openrouter", "abc123", report, 80.0, at))
        assert (alert.rotation, alert.key_hash, alert.threshold, alert.at) == (
            "openrouter",
            "abc123",
            80.0,
            at,
        )
        assert (alert.limit, alert.limit_remaining, alert.percent_used) == (
            report.limit,
            report.limit_remaining,
            report.percent_used,
        )
        assert alert.window == "2026-03-01"
