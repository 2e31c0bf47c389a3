"""The webhook as it runs in production: gunicorn with two workers on loopback, talking to the
GitHub sandbox over real HTTP. One server serves the whole module; every test uses its own
rotation (they all dispatch the sandbox's rotate-openrouter-key.yml in octo-org/app) so their
cooldowns and records do not meet."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from openrouter_rotator.sandbox import Sandbox

from .conftest import assert_api_version
from .gunicorn_server import Gunicorn
from .webhook_fixtures import (
    SECRET_ENV,
    Catcher,
    alert_body,
    alert_headers,
    api_headers,
    comment_event,
    eventually,
    github_headers,
    redis_server,
    slack_form,
    slack_headers,
    toml_text,
)

ROOT = Path(__file__).resolve().parents[1]
ROTATIONS = [
    "slack",
    "replay",
    "race",
    "slow",
    "slowgh",
    "comment",
    "refused",
    "alert",
    "api",
    "version",
]


def rotations_doc(cooldown: str = "10m") -> dict[str, Any]:
    doc: dict[str, Any] = {"rotations": {}}
    for name in ROTATIONS:
        doc["rotations"][name] = {
            "repository": "octo-org/app",
            "workflow": "rotate-openrouter-key.yml",
            "ref": "main",
            "cooldown": cooldown,
            "slack_users": ["U012AB3CD"],
            "min_permission": "write",
            "on_usage_alert": "rotate" if name == "alert" else "notify",
        }
    return doc


def start_server(
    home: Path, doc: dict[str, Any], env: dict[str, str], workers: int = 2
) -> Gunicorn:
    return Gunicorn(home, toml_text(doc), env, workers=workers)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        sandbox.github.set_permission("octo-org/app", "alice", "write")
        sandbox.github.set_permission("octo-org/app", "bob", "triage")
        yield sandbox


@pytest.fixture(scope="module")
def catcher() -> Iterator[Catcher]:
    c = Catcher()
    yield c
    c.close()


def server_env(box: Sandbox, catcher: Catcher) -> dict[str, str]:
    return {
        **SECRET_ENV,
        "ROTATOR_GITHUB_TOKEN": box.github.admin_token,
        "ROTATOR_SLACK_ALERT_WEBHOOK_URL": catcher.url("/alerts"),
    }


@pytest.fixture(scope="module")
def server(
    box: Sandbox, catcher: Catcher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gunicorn]:
    doc = rotations_doc()
    doc["github"] = {"api_url": box.github_url}
    tmp = tmp_path_factory.mktemp("gunicorn")
    doc["store"] = {"path": str(tmp / "webhook.sqlite3")}
    server = start_server(tmp, doc, server_env(box, catcher))
    yield server
    log = server.close()
    # Both workers served, and no secret reached the log.
    assert len({line for line in log.splitlines() if "Booting worker" in line}) == 2
    for secret in (*SECRET_ENV.values(), box.github.admin_token):
        assert secret not in log


def dispatches_for(box: Sandbox, rotation_marker: str) -> list[Any]:
    return [d for d in box.github.dispatches if rotation_marker in d.inputs.get("reason", "")]


def test_healthz(server: Gunicorn) -> None:
    response = server.client.get("/healthz")
    assert response.status_code == 200
    assert "slack" in response.json()["rotations"]


def test_slack_command_dispatch_is_visible_in_the_sandbox(
    server: Gunicorn, box: Sandbox, catcher: Catcher
) -> None:
    body = slack_form("slack marker-slack", response_url=catcher.url("/r/slack"))
    response = server.post("/slack/commands", body, slack_headers(body))
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    [dispatch] = eventually(lambda: dispatches_for(box, "marker-slack"))
    assert dispatch.repo == "octo-org/app"
    assert dispatch.workflow == "rotate-openrouter-key.yml"
    assert dispatch.ref == "main"
    assert dispatch.inputs["force"] == "true" and dispatch.inputs["emergency"] == "false"
    assert dispatch.inputs["reason"] == "Slack: alice (U012AB3CD) in #ops: marker-slack"
    # The sandbox answered the dispatch with run details; the link goes back to Slack.
    report = eventually(lambda: [m for p, m in catcher.messages if p == "/r/slack"])
    assert f"/octo-org/app/actions/runs/{dispatch.run_id}" in report[0]["text"]


def _burst(count: int, send: Callable[[], httpx.Response]) -> list[httpx.Response]:
    # Released together so both workers are busy with copies at the same moment.
    gate = threading.Barrier(count)

    def one() -> httpx.Response:
        gate.wait()
        return send()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: one(), range(count)))


def test_replays_across_workers_never_dispatch_twice(server: Gunicorn, box: Sandbox) -> None:
    body = slack_form("replay marker-replay-slack")
    headers = slack_headers(body)
    responses = _burst(12, lambda: server.post("/slack/commands", body, headers))
    assert sorted(r.status_code for r in responses) == [200] * 12
    texts = [r.json()["text"] for r in responses]
    assert sum("accepted" in t for t in texts) == 1
    assert sum("already received" in t for t in texts) == 11

    event = comment_event(body="/rotate-openrouter replay marker-replay-github")
    headers = github_headers(event, delivery="gunicorn-replay-1")
    responses = _burst(12, lambda: server.post("/github/events", event, headers))
    # Every copy is answered 2xx: one that claims the comment meets the Slack request's
    # cooldown (and gives the claim back, so a later redelivery may act), the rest are replays.
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["reason"] for r in responses} == {"cooldown", "replay"}
    assert len(eventually(lambda: dispatches_for(box, "marker-replay-slack"))) == 1
    time.sleep(0.5)
    assert len(dispatches_for(box, "marker-replay-slack")) == 1
    assert dispatches_for(box, "marker-replay-github") == []


def test_concurrent_distinct_requests_respect_the_cooldown(server: Gunicorn, box: Sandbox) -> None:
    def send(i: int) -> httpx.Response:
        body = slack_form(f"race marker-race-{i}")
        return server.post("/slack/commands", body, slack_headers(body))

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(send, range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert len(eventually(lambda: dispatches_for(box, "marker-race"))) == 1
    time.sleep(0.5)
    assert len(dispatches_for(box, "marker-race")) == 1


def test_slow_github_is_still_acknowledged_within_slacks_3_seconds(
    server: Gunicorn, box: Sandbox, catcher: Catcher
) -> None:
    fault = box.fault(r"/actions/workflows/.*/dispatches$", method="POST", latency=5.0, times=2)
    try:
        body = slack_form("slow marker-slow", response_url=catcher.url("/r/slow"))
        started = time.monotonic()
        response = server.post("/slack/commands", body, slack_headers(body))
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed < 3.0, f"Slack would have timed out: {elapsed:.2f}s"
        # The same for a GitHub comment, while the first dispatch is still held up.
        event = comment_event(body="/rotate-openrouter slowgh marker-slowgh", comment_id=9003)
        started = time.monotonic()
        response = server.post("/github/events", event, github_headers(event))
        assert response.status_code == 202
        assert time.monotonic() - started < 3.0
        assert dispatches_for(box, "marker-slow") == []  # GitHub is still "working"
        # ...and the dispatches land once GitHub answers, and are reported.
        assert eventually(lambda: dispatches_for(box, "marker-slow"), timeout=20)
        report = eventually(lambda: [m for p, m in catcher.messages if p == "/r/slow"], 20)
        assert "dispatched" in report[0]["text"]
        assert eventually(lambda: dispatches_for(box, "marker-slowgh"), timeout=20)
        assert eventually(lambda: [r for r in box.github.reactions if r.comment_id == 9003], 20)
        assert fault.fired == 2
    finally:
        box.clear_faults()


def test_github_comment_dispatches_reacts_and_replies(server: Gunicorn, box: Sandbox) -> None:
    event = comment_event(body="/rotate-openrouter comment marker-comment", comment_id=9001)
    response = server.post("/github/events", event, github_headers(event))
    assert response.status_code == 202
    [dispatch] = eventually(lambda: dispatches_for(box, "marker-comment"))
    assert dispatch.inputs["reason"] == "GitHub: @alice on octo-org/app#7: marker-comment"
    reactions = eventually(lambda: [r for r in box.github.reactions if r.comment_id == 9001])
    assert [r.content for r in reactions] == ["rocket"]
    replies = eventually(
        lambda: [c for c in box.github.comments if "comment` dispatched" in c.body]
    )
    assert f"/actions/runs/{dispatch.run_id}" in replies[0].body
    assert replies[0].issue_number == 7


def test_the_webhooks_github_requests_name_the_api_version(server: Gunicorn, box: Sandbox) -> None:
    """The webhook's own GitHub client (permission check, dispatch, reaction, reply) sends
    X-GitHub-Api-Version: 2022-11-28 like the engine does."""
    event = comment_event(body="/rotate-openrouter version marker-version", comment_id=9004)
    assert server.post("/github/events", event, github_headers(event)).status_code == 202
    eventually(lambda: [c for c in box.github.comments if "`version` dispatched" in c.body])
    mine = [ex for ex in box.github.exchanges if "/comments" in ex.path or "/dispatches" in ex.path]
    assert mine
    assert_api_version(box.github.exchanges)


def test_github_comment_without_permission_is_refused(server: Gunicorn, box: Sandbox) -> None:
    event = comment_event(body="/rotate-openrouter refused", login="bob", comment_id=9002)
    response = server.post("/github/events", event, github_headers(event))
    assert (response.status_code, response.json()["reason"]) == (200, "not_allowed")
    reactions = eventually(lambda: [r for r in box.github.reactions if r.comment_id == 9002])
    assert [r.content for r in reactions] == ["-1"]
    assert eventually(lambda: [c for c in box.github.comments if "(you have `triage`)" in c.body])
    assert [d for d in box.github.dispatches if "refused" in d.inputs["reason"]] == []


def test_usage_alert_rotates_and_notifies(server: Gunicorn, box: Sandbox, catcher: Catcher) -> None:
    body = alert_body(rotation="alert", key_hash="mkalert12345")
    response = server.post("/alerts/usage", body, alert_headers(body))
    assert response.status_code == 202
    [dispatch] = eventually(lambda: dispatches_for(box, "mkalert12345"))
    assert dispatch.inputs["emergency"] == "true"
    assert eventually(lambda: [m for p, m in catcher.messages if p == "/alerts"])
    # The same key in the same window, sent by the next hourly run: nothing more happens.
    body = alert_body(rotation="alert", key_hash="mkalert12345", percent=99)
    assert server.post("/alerts/usage", body, alert_headers(body)).json()["status"] == "duplicate"


def test_api_and_its_rejections(server: Gunicorn, box: Sandbox) -> None:
    def post(name: str, body: bytes, headers: dict[str, str]) -> int:
        return server.post(f"/rotations/{name}/rotate", body, headers).status_code

    good = b'{"reason": "marker-api"}'
    assert post("api", good, {"Authorization": "Bearer nope"}) == 401
    assert post("nope", good, api_headers()) == 404
    assert post("api", b'{"why": 1}', api_headers()) == 400
    assert post("api", good, api_headers()) == 202
    assert post("api", good, api_headers()) == 409
    assert post("api", b"x" * (64 * 1024 + 1), api_headers()) == 413
    assert len(eventually(lambda: dispatches_for(box, "marker-api"))) == 1


def test_github_app_authentication(box: Sandbox, catcher: Catcher, tmp_path: Path) -> None:
    doc = rotations_doc()
    doc["github"] = {"api_url": box.github_url, "app_id": box.github.app_id}
    doc["store"] = {"path": str(tmp_path / "app.sqlite3")}
    env = {**server_env(box, catcher), "ROTATOR_GITHUB_APP_PRIVATE_KEY": box.github.app_private_key}
    del env["ROTATOR_GITHUB_TOKEN"]
    server = start_server(tmp_path, doc, env, workers=1)
    try:
        body = b'{"reason": "marker-app"}'
        assert server.post("/rotations/api/rotate", body, api_headers()).status_code == 202
        assert eventually(lambda: dispatches_for(box, "marker-app"))
    finally:
        server.close()


def test_missing_secret_refuses_to_start(box: Sandbox, tmp_path: Path) -> None:
    config = tmp_path / "webhook.toml"
    config.write_text(toml_text(rotations_doc()))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ROTATOR_")},
        **{k: v for k, v in SECRET_ENV.items() if k != "ROTATOR_GITHUB_WEBHOOK_SECRET"},
        "ROTATOR_GITHUB_TOKEN": box.github.admin_token,
        "ROTATOR_WEBHOOK_CONFIG": str(config),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import webhook; webhook.create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "ROTATOR_GITHUB_WEBHOOK_SECRET" in result.stderr
    assert "/github/events" in result.stderr


def test_two_instances_share_replays_through_redis(
    box: Sandbox, catcher: Catcher, tmp_path: Path
) -> None:
    try:
        redis = redis_server(tmp_path)
        url = next(redis)
    except FileNotFoundError:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    servers: list[Gunicorn] = []
    try:
        for i in range(2):
            doc = rotations_doc()
            doc["github"] = {"api_url": box.github_url}
            doc["store"] = {"redis_url": url}
            home = tmp_path / f"instance{i}"
            home.mkdir()
            servers.append(start_server(home, doc, server_env(box, catcher), workers=1))
        body = slack_form("replay marker-redis")
        headers = slack_headers(body)
        texts = [s.post("/slack/commands", body, headers).json()["text"] for s in servers]
        assert sum("accepted" in t for t in texts) == 1
        assert sum("already received" in t for t in texts) == 1
        assert len(eventually(lambda: dispatches_for(box, "marker-redis"))) == 1
        time.sleep(0.3)
        assert len(dispatches_for(box, "marker-redis")) == 1
    finally:
        for s in servers:
            s.close()
        redis.close()
