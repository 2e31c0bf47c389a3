"""The webhook through Flask's test client: every row of SPEC §6's endpoint table, every
rejection code, replays, the cooldown, and fuzzing. GitHub is a recording fake here; the same
paths run through gunicorn against the GitHub sandbox in test_webhook_gunicorn.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrouter_rotator.errors import GitHubStatusError
from openrouter_rotator.sandbox import FakeClock
from webhook import create_app
from webhook import github_events as github_events_module
from webhook.config import parse_settings

from .webhook_fixtures import (
    API_TOKEN,
    SECRET_ENV,
    SECRETS,
    AppFactory,
    Catcher,
    FakeGitHub,
    alert_body,
    alert_headers,
    api_headers,
    comment_event,
    config_doc,
    github_headers,
    slack_form,
    slack_headers,
)


def settle(app: Flask) -> None:
    """Run the queued jobs and wait for the replies the request started."""
    assert app.extensions["openrouter_rotator"].wait(10)


def slack(client: FlaskClient, body: bytes, **kw: Any) -> Any:
    return client.post("/slack/commands", data=body, headers=slack_headers(body, **kw))


def comment(client: FlaskClient, body: bytes, **kw: Any) -> Any:
    return client.post("/github/events", data=body, headers=github_headers(body, **kw))


def alert(client: FlaskClient, body: bytes, **kw: Any) -> Any:
    return client.post("/alerts/usage", data=body, headers=alert_headers(body, **kw))


def api(
    client: FlaskClient,
    name: str = "openrouter",
    body: Any = None,
    headers_key: str | None = None,
    **headers: str,
) -> Any:
    payload = json.dumps({"reason": "scheduled drill"} if body is None else body)
    if headers_key is not None:
        headers["Idempotency-Key"] = headers_key
    return client.post(
        f"/rotations/{name}/rotate", data=payload, headers={**api_headers(), **headers}
    )


# -- GET /healthz ------------------------------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "rotations": ["emergency", "openrouter"]}


def test_unknown_paths_and_methods_answer_json(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    response = client.get("/slack/commands")
    assert response.status_code == 405
    assert response.get_json()["reason"] == "method_not_allowed"


# -- POST /slack/commands ----------------------------------------------------------------------


def test_slack_command_dispatches_and_reports_the_run(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher
) -> None:
    body = slack_form("openrouter key shown in a log", response_url=catcher.url("/r/1"))
    response = slack(client, body)
    assert response.status_code == 200
    assert response.get_json()["response_type"] == "ephemeral"
    assert "accepted" in response.get_json()["text"]
    settle(app)
    [dispatch] = github.dispatches
    assert dispatch["repo"] == "octo-org/app"
    assert dispatch["workflow"] == "rotate-openrouter-key.yml"
    assert dispatch["ref"] == "main"
    # Every dispatch carries the request id the workflow puts in its run-name.
    assert dispatch["inputs"].pop("request-id").startswith("rq-")
    assert dispatch["inputs"] == {
        "force": "true",
        "emergency": "false",
        "reason": "Slack: alice (U012AB3CD) in #ops: key shown in a log",
    }
    [(path, message)] = catcher.wait_for(1)
    assert path == "/r/1"
    assert message["text"].endswith("https://github.com/octo-org/app/actions/runs/1")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b, now: {k: v for k, v in h.items() if k != "X-Slack-Signature"},
        lambda h, b, now: {k: v for k, v in h.items() if k != "X-Slack-Request-Timestamp"},
        lambda h, b, now: {**h, "X-Slack-Signature": "v0=" + "0" * 64},
        lambda h, b, now: slack_headers(b, secret="wrong-secret", now=now),
        lambda h, b, now: slack_headers(b, now=now - 301),
        lambda h, b, now: slack_headers(b, now=now + 301),
        lambda h, b, now: slack_headers(b + b"&extra=1", now=now),
    ],
    ids=[
        "no-signature",
        "no-timestamp",
        "zero-signature",
        "wrong-secret",
        "stale",
        "future",
        "tampered",
    ],
)
def test_slack_rejects_bad_signatures_with_401(
    app: Flask,
    client: FlaskClient,
    github: FakeGitHub,
    clock: FakeClock,
    tamper: Callable[..., dict[str, str]],
) -> None:
    # Times from the app's clock: real time moves on after the fake clock was set, and a
    # signature 301 s older than real time may be only 300 s older than the app's time.
    now = clock.time()
    body = slack_form()
    headers = tamper(slack_headers(body, now=now), body, now)
    response = client.post("/slack/commands", data=body, headers=headers)
    assert response.status_code == 401
    settle(app)
    assert github.dispatches == []


def test_slack_user_not_listed_gets_403_and_an_explanation(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher
) -> None:
    response = slack(client, slack_form(user="U999", response_url=catcher.url()))
    assert response.status_code == 403
    assert "slack_users" in response.get_json()["text"]
    settle(app)
    assert github.dispatches == []
    assert "not allowed" in catcher.wait_for(1)[0][1]["text"]


def test_slack_unknown_rotation_is_404(app: Flask, client: FlaskClient, github: FakeGitHub) -> None:
    response = slack(client, slack_form("anthropic please"))
    assert response.status_code == 404
    assert "`emergency`, `openrouter`" in response.get_json()["text"]
    settle(app)
    assert github.dispatches == []


def test_slack_default_rotation_when_only_one_is_configured(
    make_app: AppFactory, github: FakeGitHub
) -> None:
    doc = config_doc()
    del doc["rotations"]["emergency"]
    app = make_app(doc)
    assert slack(app.test_client(), slack_form("key leaked")).status_code == 200
    settle(app)
    assert github.dispatches[0]["inputs"]["reason"].endswith(": key leaked")


@pytest.mark.parametrize(
    "body", [b"", b"text=openrouter", b"\xff\xfe", b"user_id=&text=openrouter"]
)
def test_slack_malformed_payload_is_400(client: FlaskClient, body: bytes) -> None:
    assert slack(client, body).status_code == 400


def test_slack_replay_never_dispatches_twice(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    body = slack_form()
    headers = slack_headers(body)
    first = client.post("/slack/commands", data=body, headers=headers)
    again = client.post("/slack/commands", data=body, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 200
    assert "already received" in again.get_json()["text"]
    settle(app)
    assert len(github.dispatches) == 1


def test_slack_cooldown_is_409_until_it_ends(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    assert slack(client, slack_form("openrouter first")).status_code == 200
    clock.advance(seconds=1)  # a new, validly signed request: not a replay
    response = slack(client, slack_form("openrouter second"), now=clock.time())
    assert response.status_code == 409
    assert "cooldown" in response.get_json()["text"]
    # Another rotation has its own cooldown.
    assert slack(client, slack_form("emergency"), now=clock.time()).status_code == 200
    clock.advance(seconds=600)
    assert slack(client, slack_form("openrouter third"), now=clock.time()).status_code == 200
    settle(app)
    reasons = sorted(d["inputs"]["reason"].rsplit(": ", 1)[1] for d in github.dispatches)
    assert reasons == ["first", "no reason given", "third"]


def test_failed_dispatch_is_reported_and_releases_the_cooldown(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher, clock: FakeClock
) -> None:
    github.fail_dispatch = GitHubStatusError(
        "Workflow does not have 'workflow_dispatch' trigger", status=422
    )
    assert slack(client, slack_form(response_url=catcher.url())).status_code == 200
    settle(app)
    text = catcher.wait_for(1)[0][1]["text"]
    assert "could not be dispatched" in text and "workflow_dispatch" in text
    github.fail_dispatch = None
    clock.advance(seconds=1)
    assert slack(client, slack_form("openrouter retry"), now=clock.time()).status_code == 200
    settle(app)
    assert len(github.dispatches) == 1


# -- accepted means done, once ------------------------------------------------------------------


def status_of(client: FlaskClient, response: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.get(
        response.get_json()["status_url"], headers=api_headers()
    ).get_json()
    return result


def test_a_lost_answer_is_settled_by_finding_the_run_not_by_dispatching_again(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher, clock: FakeClock
) -> None:
    github.lose_answers = 1
    body = slack_form(response_url=catcher.url("/r/lost"))
    assert slack(client, body).status_code == 200
    response = api(client, "emergency")
    settle(app)
    # Both dispatches landed; the Slack one's answer was lost: it waits for a lease to run out.
    assert len(github.dispatches) == 2 and github.searches == []
    assert app.extensions["openrouter_rotator"].store.backlog() == 1
    assert catcher.messages == []
    clock.advance(seconds=61)
    settle(app)
    slack_id = github.dispatches[0]["inputs"]["request-id"]
    assert github.searches == [slack_id]
    assert len(github.dispatches) == 2  # found by its run title, not dispatched again
    [(path, message)] = catcher.wait_for(1)
    assert path == "/r/lost" and "dispatched: https://github.com/" in message["text"]
    assert status_of(client, response)["status"] == "dispatched"


def test_an_unknown_outcome_with_no_run_is_dispatched_again_once(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    github.fail_dispatch = GitHubStatusError("Server Error", status=502)
    response = api(client)
    settle(app)
    assert status_of(client, response) == {"status": "accepted", "run_url": None, "error": None}
    github.fail_dispatch = None
    clock.advance(seconds=61)
    settle(app)
    [dispatch] = github.dispatches
    assert dispatch["inputs"]["request-id"] == response.get_json()["request_id"]
    assert github.searches == [response.get_json()["request_id"]]
    assert status_of(client, response)["status"] == "dispatched"


def test_an_outcome_that_stays_unknown_is_reported_and_keeps_the_cooldown(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock, catcher: Catcher
) -> None:
    github.fail_dispatch = GitHubStatusError("Server Error", status=503)
    assert slack(client, slack_form(response_url=catcher.url("/r/unknown"))).status_code == 200
    for _ in range(6):
        settle(app)
        clock.advance(seconds=61)
    text = catcher.wait_for(1)[0][1]["text"]
    assert "did not confirm the dispatch" in text and "cooldown is kept" in text
    assert len(github.searches) == 4  # attempts 2 to 5 looked first
    github.fail_dispatch = None
    # Possibly dispatched: a second rotation would be worse than a late answer.
    assert api(client).status_code == 409


def test_a_definite_failure_frees_the_claims_and_is_told(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    github.fail_dispatch = GitHubStatusError("Unexpected inputs provided", status=422)
    response = api(client, headers_key="k-1")
    settle(app)
    status = status_of(client, response)
    assert status["status"] == "failed" and "Unexpected inputs" in status["error"]
    github.fail_dispatch = None
    # The cooldown and the Idempotency-Key were given back: the same retry now acts.
    again = api(client, headers_key="k-1")
    assert again.status_code == 202
    assert again.get_json()["request_id"] != response.get_json()["request_id"]
    settle(app)
    assert len(github.dispatches) == 1


def test_an_idempotency_key_answers_with_the_first_request(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    first = api(client, headers_key="retry-me")
    second = api(client, headers_key="retry-me")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["status"] == "duplicate"
    assert second.get_json()["request_id"] == first.get_json()["request_id"]
    assert second.get_json()["status_url"] == first.get_json()["status_url"]
    settle(app)
    assert len(github.dispatches) == 1


def test_a_slack_timestamp_spelled_differently_is_the_same_request(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    body = slack_form()
    headers = slack_headers(body, now=clock.time())
    assert client.post("/slack/commands", data=body, headers=headers).status_code == 200
    # The signature covers the number, so "0<ts>" verifies: it must still be a replay.
    headers["X-Slack-Request-Timestamp"] = "0" + headers["X-Slack-Request-Timestamp"]
    again = client.post("/slack/commands", data=body, headers=headers)
    assert "already received" in again.get_json()["text"]
    settle(app)
    assert len(github.dispatches) == 1


def test_slack_ssl_check_is_200_before_anything_else(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    response = client.post(
        "/slack/commands",
        data=b"ssl_check=1&token=deprecated",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    settle(app)
    assert github.dispatches == []


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-23:59"]
)
def test_an_alert_time_past_datetimes_limits_is_400(client: FlaskClient, at: str) -> None:
    response = alert(client, alert_body(at=at))
    assert (response.status_code, response.get_json()["reason"]) == (400, "malformed")


def test_httpx_request_lines_never_log_a_slack_url() -> None:
    import webhook.logs

    webhook.logs.configure_logging()
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


# -- POST /github/events -----------------------------------------------------------------------


@pytest.mark.parametrize("login", ["alice", "dan", "carol"])
def test_comment_by_a_writer_dispatches_reacts_and_replies(
    app: Flask, client: FlaskClient, github: FakeGitHub, login: str
) -> None:
    response = comment(client, comment_event(login=login))
    assert response.status_code == 202
    settle(app)
    [dispatch] = github.dispatches
    assert dispatch["inputs"].pop("request-id") == response.get_json()["request_id"]
    assert dispatch["inputs"] == {
        "force": "true",
        "emergency": "false",
        "reason": f"GitHub: @{login} on octo-org/app#7: token leaked",
    }
    assert github.permission_checks == [("octo-org/app", login)]
    assert github.reactions == [("octo-org/app", 4242, "rocket")]
    [(repo, number, text)] = github.comments
    assert (repo, number) == ("octo-org/app", 7)
    assert "https://github.com/octo-org/app/actions/runs/1" in text


def test_without_run_details_the_reply_points_at_the_workflow(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    github.run_url = None
    assert comment(client, comment_event()).status_code == 202
    settle(app)
    assert (
        "github.com/octo-org/app/actions/workflows/rotate-openrouter-key.yml"
        in github.comments[0][2]
    )


@pytest.mark.parametrize("login", ["bob", "mallory"])
def test_comment_without_permission_is_refused(
    app: Flask, client: FlaskClient, github: FakeGitHub, login: str
) -> None:
    response = comment(client, comment_event(login=login))
    # Authentic but refused: a 2xx with the reason, or GitHub would count a failed delivery.
    assert response.status_code == 200
    assert response.get_json()["reason"] == "not_allowed"
    settle(app)
    assert github.dispatches == []
    assert github.reactions == [("octo-org/app", 4242, "-1")]
    assert "needs `write` permission" in github.comments[0][2]


@pytest.mark.parametrize(
    ("minimum", "allowed"),
    [
        ("read", {"bob", "alice", "dan", "carol"}),
        ("write", {"alice", "dan", "carol"}),
        ("maintain", {"dan", "carol"}),
        ("admin", {"carol"}),
    ],
)
def test_min_permission_levels(
    make_app: AppFactory, github: FakeGitHub, minimum: str, allowed: set[str]
) -> None:
    app = make_app(config_doc(min_permission=minimum, cooldown="0"))
    client = app.test_client()
    statuses = {
        login: comment(client, comment_event(login=login, comment_id=5000 + i)).status_code
        for i, login in enumerate(["bob", "alice", "dan", "carol", "eve"])
    }
    assert {login for login, status in statuses.items() if status == 202} == allowed
    assert {status for login, status in statuses.items() if login not in allowed} == {200}
    settle(app)


@pytest.mark.parametrize(
    ("event", "body", "reason"),
    [
        ("issue_comment", comment_event(action="edited"), "comment_edited"),
        ("issue_comment", comment_event(action="deleted"), "comment_deleted"),
        ("issue_comment", comment_event(login="rotator[bot]", user_type="Bot"), "bot_sender"),
        ("issue_comment", comment_event(body="LGTM /rotate-openrouter"), "no_command"),
        ("issue_comment", comment_event(body="/rotate-openrouterX now"), "no_command"),
        ("ping", b'{"zen": "Keep it logically awesome."}', "ping"),
        ("push", b'{"ref": "refs/heads/main"}', "other_event"),
    ],
)
def test_comments_and_events_that_are_ignored(
    app: Flask, client: FlaskClient, github: FakeGitHub, event: str, body: bytes, reason: str
) -> None:
    response = comment(client, body, event=event)
    assert response.status_code == 200
    assert response.get_json()["reason"] == reason
    settle(app)
    assert github.dispatches == github.comments == github.reactions == []
    assert github.permission_checks == []


@pytest.mark.parametrize(
    "headers",
    [
        lambda b: {k: v for k, v in github_headers(b).items() if k != "X-Hub-Signature-256"},
        lambda b: github_headers(b, secret="wrong"),
        lambda b: {**github_headers(b), "X-Hub-Signature-256": "sha1=abc"},
    ],
    ids=["missing", "wrong-secret", "sha1"],
)
def test_github_bad_signature_is_401(
    app: Flask, client: FlaskClient, github: FakeGitHub, headers: Callable[[bytes], dict[str, str]]
) -> None:
    body = comment_event()
    assert client.post("/github/events", data=body, headers=headers(body)).status_code == 401
    settle(app)
    assert github.dispatches == github.permission_checks == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"action": "created"}',
        json.dumps({"action": "created", "issue": {"number": "7"}}).encode(),
    ],
)
def test_an_authentic_malformed_payload_is_refused_with_a_2xx(
    client: FlaskClient, body: bytes
) -> None:
    response = comment(client, body)
    assert (response.status_code, response.get_json()["reason"]) == (200, "malformed")


def test_the_unsigned_delivery_id_is_neither_needed_nor_trusted(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    body = comment_event()
    headers = {k: v for k, v in github_headers(body).items() if k != "X-GitHub-Delivery"}
    assert client.post("/github/events", data=body, headers=headers).status_code == 202
    clock.advance(seconds=3600)  # past the cooldown
    # The same signed comment under a new X-GitHub-Delivery is the same request.
    again = comment(client, body, delivery="a-brand-new-delivery-id")
    assert (again.status_code, again.get_json()["status"]) == (200, "duplicate")
    # A week later (GitHub Enterprise Server redelivers for 7 days) it still is.
    clock.advance(seconds=7 * 86400)
    assert comment(client, body).get_json()["status"] == "duplicate"
    settle(app)
    assert len(github.dispatches) == 1


def test_github_redelivery_never_dispatches_twice(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    body = comment_event()
    headers = github_headers(body, delivery="d-1")
    assert client.post("/github/events", data=body, headers=headers).status_code == 202
    clock.advance(seconds=3600)  # long after the cooldown: only the delivery id stops it
    again = client.post("/github/events", data=body, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    settle(app)
    assert len(github.dispatches) == 1
    assert len(github.comments) == 1


def test_command_in_an_unconfigured_repository_is_404_and_silent(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    response = comment(client, comment_event(repository="octo-org/other"))
    assert (response.status_code, response.get_json()["reason"]) == (200, "unknown_repository")
    settle(app)
    assert github.comments == github.reactions == github.dispatches == []


def test_unknown_rotation_in_a_comment_is_404_with_a_reply(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    response = comment(client, comment_event(body="/rotate-openrouter anthropic now"))
    assert (response.status_code, response.get_json()["reason"]) == (200, "unknown_rotation")
    settle(app)
    assert github.reactions[0][2] == "-1"
    assert "`emergency`, `openrouter`" in github.comments[0][2]
    assert github.dispatches == []


def test_a_rotation_of_another_repository_cannot_be_triggered_here(
    make_app: AppFactory, github: FakeGitHub
) -> None:
    doc = config_doc()
    doc["rotations"]["emergency"]["repository"] = "octo-org/secure"
    app = make_app(doc)
    client = app.test_client()
    assert comment(client, comment_event(body="/rotate-openrouter emergency")).status_code == 202
    settle(app)
    # "emergency" is not a rotation of octo-org/app: the only one there took it as the reason.
    assert github.dispatches[0]["repo"] == "octo-org/app"
    assert github.dispatches[0]["inputs"]["reason"].endswith(": emergency")


def test_comment_inside_the_cooldown_is_409_with_a_reply(
    app: Flask, client: FlaskClient, github: FakeGitHub
) -> None:
    assert api(client).status_code == 202
    response = comment(client, comment_event())
    assert (response.status_code, response.get_json()["reason"]) == (200, "cooldown")
    settle(app)
    assert len(github.dispatches) == 1
    assert github.reactions == [("octo-org/app", 4242, "-1")]
    assert "cooldown" in github.comments[0][2]


def test_a_slow_permission_check_is_acknowledged_first(
    app: Flask, client: FlaskClient, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_events_module, "VERDICT_WAIT", 0.1)
    github.permission_delay = 0.5
    started = time.monotonic()
    response = comment(client, comment_event())
    assert time.monotonic() - started < 0.5
    assert response.status_code == 202
    assert response.get_json()["reason"] == "checking"
    settle(app)
    assert len(github.dispatches) == 1
    assert github.reactions[0][2] == "rocket"


# -- POST /rotations/<name>/rotate -------------------------------------------------------------


def test_api_dispatches(app: Flask, client: FlaskClient, github: FakeGitHub) -> None:
    response = api(client)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["status"] == "accepted"
    status_url = answer["status_url"]
    assert status_url.endswith(f"/rotations/openrouter/requests/{answer['request_id']}")
    assert client.get(status_url, headers=api_headers()).get_json() == {
        "status": "accepted",
        "run_url": None,
        "error": None,
    }
    assert client.get(status_url).status_code == 401
    other = status_url.replace("/openrouter/", "/emergency/")
    assert client.get(other, headers=api_headers()).status_code == 404
    settle(app)
    assert client.get(status_url, headers=api_headers()).get_json() == {
        "status": "dispatched",
        "run_url": "https://github.com/octo-org/app/actions/runs/1",
        "error": None,
    }
    assert github.dispatches[0]["inputs"].pop("request-id") == answer["request_id"]
    assert github.dispatches[0]["inputs"] == {
        "force": "true",
        "emergency": "false",
        "reason": "API: scheduled drill",
    }


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {API_TOKEN}", f"Bearer {API_TOKEN}x", "Bearer", f"Token {API_TOKEN}"],
)
def test_api_without_the_token_is_401(
    app: Flask, client: FlaskClient, github: FakeGitHub, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post("/rotations/openrouter/rotate", data=b'{"reason": "x"}', headers=headers)
    assert response.status_code == 401
    settle(app)
    assert github.dispatches == []


def test_api_unknown_rotation_is_404(client: FlaskClient) -> None:
    assert api(client, "nope").status_code == 404


@pytest.mark.parametrize("body", ["text", [], {}, {"reason": 3}, {"reason": "  "}, {"why": "x"}])
def test_api_malformed_body_is_400(client: FlaskClient, body: Any) -> None:
    assert api(client, body=body).status_code == 400


def test_api_cooldown_is_409(app: Flask, client: FlaskClient, github: FakeGitHub) -> None:
    assert api(client).status_code == 202
    assert api(client).status_code == 409
    settle(app)
    assert len(github.dispatches) == 1


def test_api_idempotency_key_makes_retries_count_once(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    assert api(client, **{"Idempotency-Key": "k1"}).status_code == 202
    clock.advance(seconds=3600)
    again = api(client, **{"Idempotency-Key": "k1"})
    assert (again.status_code, again.get_json()["status"]) == (200, "duplicate")
    settle(app)
    assert len(github.dispatches) == 1


# -- POST /alerts/usage ------------------------------------------------------------------------


def test_notify_alert_is_forwarded_to_slack_once_per_key_and_day(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher, clock: FakeClock
) -> None:
    assert alert(client, alert_body(), now=clock.time()).status_code == 202
    clock.advance(seconds=1)
    later = alert(client, alert_body(percent=95, at="2025-03-01T23:59:00+00:00"), now=clock.time())
    assert (later.status_code, later.get_json()["reason"]) == (200, "already_handled")
    # A new UTC day is a new usage window; another key is another alert.
    assert alert(client, alert_body(at="2025-03-02T00:00:01Z"), now=clock.time()).status_code == 202
    assert alert(client, alert_body(key_hash="other"), now=clock.time()).status_code == 202
    settle(app)
    messages = catcher.wait_for(3)
    assert len(messages) == 3
    assert {path for path, _ in messages} == {"/alerts"}
    texts = sorted(message["text"] for _, message in messages)
    # Forwarded in the background, so in any order.
    assert any(
        "`abc123def456` of rotation `openrouter` is at 91.5% of its $10 limit, $0.85 left" in t
        for t in texts
    )
    assert github.dispatches == []


def test_rotate_alert_dispatches_an_emergency_rotation(
    app: Flask, client: FlaskClient, github: FakeGitHub, catcher: Catcher
) -> None:
    response = alert(client, alert_body(rotation="emergency"))
    assert response.status_code == 202
    settle(app)
    [dispatch] = github.dispatches
    assert dispatch["inputs"]["emergency"] == "true"
    assert dispatch["inputs"]["force"] == "true"
    assert dispatch["inputs"]["reason"].startswith("usage alert: OpenRouter key `abc123def456`")
    assert "dispatched" in catcher.wait_for(1)[0][1]["text"]


def test_rotate_alert_inside_the_cooldown_is_409_and_may_act_later(
    app: Flask, client: FlaskClient, github: FakeGitHub, clock: FakeClock
) -> None:
    assert api(client, "emergency").status_code == 202
    assert alert(client, alert_body(rotation="emergency"), now=clock.time()).status_code == 409
    clock.advance(seconds=601)
    assert alert(client, alert_body(rotation="emergency"), now=clock.time()).status_code == 202
    settle(app)
    assert sorted(d["inputs"]["emergency"] for d in github.dispatches) == ["false", "true"]


def test_alert_replay_is_a_duplicate(client: FlaskClient, clock: FakeClock) -> None:
    body = alert_body()
    headers = alert_headers(body, now=clock.time())
    assert client.post("/alerts/usage", data=body, headers=headers).status_code == 202
    again = client.post("/alerts/usage", data=body, headers=headers)
    assert (again.status_code, again.get_json()["reason"]) == (200, "replay")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b, now: {k: v for k, v in h.items() if k != "X-Rotator-Signature"},
        lambda h, b, now: {k: v for k, v in h.items() if k != "X-Rotator-Timestamp"},
        lambda h, b, now: alert_headers(b, secret="wrong", now=now),
        lambda h, b, now: alert_headers(b, now=now - 400),
        lambda h, b, now: alert_headers(b + b" ", now=now),
    ],
    ids=["no-signature", "no-timestamp", "wrong-secret", "stale", "tampered"],
)
def test_alert_bad_signature_is_401(
    app: Flask,
    client: FlaskClient,
    github: FakeGitHub,
    catcher: Catcher,
    clock: FakeClock,
    tamper: Any,
) -> None:
    now = clock.time()  # the app's clock, as in the Slack test above
    body = alert_body(rotation="emergency")
    headers = tamper(alert_headers(body, now=now), body, now)
    assert client.post("/alerts/usage", data=body, headers=headers).status_code == 401
    settle(app)
    assert github.dispatches == [] and catcher.messages == []


GOOD_ALERT = json.loads(alert_body())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({k: v for k, v in GOOD_ALERT.items() if k != "limit"}).encode(),
        json.dumps({**GOOD_ALERT, "percent_used": None}).encode(),
        json.dumps({**GOOD_ALERT, "percent_used": True}).encode(),
        json.dumps({**GOOD_ALERT, "threshold": "80"}).encode(),
        json.dumps({**GOOD_ALERT, "at": "yesterday"}).encode(),
        json.dumps({**GOOD_ALERT, "key_hash": ""}).encode(),
        json.dumps({**GOOD_ALERT, "rotation": 1}).encode(),
        alert_body().replace(b"91.5", b"NaN"),
        alert_body().replace(b"91.5", b"1e999"),
    ],
)
def test_alert_malformed_body_is_400(client: FlaskClient, body: bytes) -> None:
    assert alert(client, body).status_code == 400


def test_alert_with_null_limit_is_accepted(client: FlaskClient) -> None:
    body = json.dumps({**GOOD_ALERT, "limit": None, "limit_remaining": None}).encode()
    assert alert(client, body).status_code == 202


def test_alert_unknown_rotation_is_404(client: FlaskClient) -> None:
    assert alert(client, alert_body(rotation="nope")).status_code == 404


# -- every door ------------------------------------------------------------------------------

BIG = b"x" * (64 * 1024 + 1)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/slack/commands", slack_headers(BIG)),
        ("/github/events", github_headers(BIG)),
        ("/rotations/openrouter/rotate", api_headers()),
        ("/alerts/usage", alert_headers(BIG)),
    ],
)
def test_body_over_64_kib_is_413(
    app: Flask, client: FlaskClient, github: FakeGitHub, path: str, headers: dict[str, str]
) -> None:
    response = client.post(path, data=BIG, headers=headers)
    assert response.status_code == 413
    assert response.get_json()["reason"] == "too_large"
    settle(app)
    assert github.dispatches == []


def test_exactly_64_kib_is_not_too_large(client: FlaskClient) -> None:
    body = b"{" + b" " * (64 * 1024 - 2) + b"}"
    assert alert(client, body).status_code == 400


def test_disabled_endpoint_is_not_served(make_app: AppFactory) -> None:
    doc = config_doc()
    doc["webhook"] = {"endpoints": ["api"]}
    client = make_app(doc).test_client()
    body = slack_form()
    assert client.post("/slack/commands", data=body, headers=slack_headers(body)).status_code == 404
    assert api(client).status_code == 202


def test_every_decision_is_one_json_line_without_secrets(
    app: Flask, client: FlaskClient, catcher: Catcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openrouter_rotator.webhook")
    slack(client, slack_form(response_url=catcher.url("/secret-response-url")))
    slack(client, slack_form(), secret="wrong")
    comment(client, comment_event(login="bob"))
    api(client, "emergency")
    client.post("/rotations/openrouter/rotate", headers={"Authorization": "Bearer guess"})
    alert(client, alert_body())
    settle(app)
    records = [r.getMessage() for r in caplog.records if r.name == "openrouter_rotator.webhook"]
    decisions = [json.loads(line) for line in records]
    requests = [d for d in decisions if d["event"] == "webhook.request"]
    assert [(d["door"], d["status"]) for d in requests] == [
        ("slack", 200),
        ("slack", 401),
        ("github", 200),
        ("api", 202),
        ("api", 401),
        ("alerts", 202),
    ]
    assert {d["event"] for d in decisions} >= {"webhook.request", "webhook.dispatch"}
    text = "\n".join(records)
    for secret in (*SECRETS, "ghp_test_token", "secret-response-url", catcher.url("/alerts")):
        assert secret not in text


# -- fuzzing: never a 500, never a dispatch without a valid signature -------------------------

PATHS = ["/slack/commands", "/github/events", "/rotations/openrouter/rotate", "/alerts/usage"]
HEADER_NAMES = [
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Hub-Signature-256",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Rotator-Signature",
    "X-Rotator-Timestamp",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
]
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=80),
    st.sampled_from(
        ["v0=", "sha256=", "v1=", "Bearer ", "issue_comment", "ping", "0", "-1", "9" * 30]
    ),
    st.integers(min_value=0, max_value=2**40).map(str),
)
bodies = st.one_of(
    st.binary(max_size=2048),
    st.just(comment_event()),
    st.just(alert_body()),
    st.just(slack_form()),
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=20) | st.integers(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, FakeGitHub]:
    github = FakeGitHub(permissions={"alice": "admin"})
    doc = config_doc(cooldown="0")
    doc["store"] = {"path": str(tmp_path_factory.mktemp("fuzz") / "s.sqlite3")}
    settings_ = parse_settings(doc, {**SECRET_ENV, "ROTATOR_GITHUB_TOKEN": "ghp_x"})
    app = create_app({"TESTING": True, "ROTATOR_SETTINGS": settings_, "ROTATOR_GITHUB": github})
    return app, github


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    body=bodies,
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=6),
)
def test_fuzz_unsigned_requests(
    fuzz_app: tuple[Flask, FakeGitHub], path: str, body: bytes, headers: dict[str, str]
) -> None:
    app, github = fuzz_app
    if headers.get("Authorization", "").strip().lower() == f"bearer {API_TOKEN}":
        return
    response = app.test_client().post(path, data=body, headers=headers)
    assert response.status_code in {200, 400, 401, 404, 413}, response.status_code
    assert response.is_json
    settle(app)
    assert github.dispatches == [] and github.comments == [] and github.permission_checks == []


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    door=st.sampled_from(["slack", "github", "alerts", "api"]),
    body=bodies,
    extra=st.dictionaries(
        st.sampled_from(["X-GitHub-Event", "Content-Type"]), header_values, max_size=2
    ),
)
def test_fuzz_signed_bodies_never_crash(
    fuzz_app: tuple[Flask, FakeGitHub], door: str, body: bytes, extra: dict[str, str]
) -> None:
    app, _ = fuzz_app
    if door == "slack":
        headers, path = slack_headers(body), "/slack/commands"
    elif door == "github":
        headers, path = github_headers(body), "/github/events"
    elif door == "alerts":
        headers, path = alert_headers(body), "/alerts/usage"
    else:
        headers, path = api_headers(), "/rotations/openrouter/rotate"
    response = app.test_client().post(path, data=body, headers={**headers, **extra})
    assert response.status_code in {200, 202, 400, 403, 404, 409}, response.status_code
    assert response.is_json
    settle(app)
