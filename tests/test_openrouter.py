"""The OpenRouter client against the sandbox stand-in, over real HTTP on loopback."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from openrouter_rotator.errors import (
    CreateOutcomeUnknown,
    OpenRouterAuthError,
    OpenRouterPolicyError,
    OpenRouterResponseError,
    OpenRouterStatusError,
    OpenRouterTransportError,
)
from openrouter_rotator.openrouter import OpenRouterClient, blocking_budget, retry_after_seconds
from openrouter_rotator.sandbox import Sandbox

from .contract import OPENROUTER_SPEC, RecordingTransport, validate_exchanges


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def client(sandbox: Sandbox, recorder: RecordingTransport, sleeps: Sleeps) -> OpenRouterClient:
    return OpenRouterClient(
        sandbox.management_key,
        sandbox.openrouter_url,
        transport=recorder,
        sleep=sleeps,
        timeout=2.0,
    )


def test_lifecycle_and_contract(
    sandbox: Sandbox, client: OpenRouterClient, recorder: RecordingTransport
) -> None:
    me = client.current_key()
    assert me.is_management_key
    expires = datetime.now(timezone.utc) + timedelta(days=30)
    created = client.create_key(
        "ci-key", limit=25, limit_reset="monthly", include_byok_in_limit=True, expires_at=expires
    )
    assert created.key.startswith("sk-or-v1-") and len(created.key) == 9 + 64
    assert created.info.name == "ci-key"
    assert created.info.usage.limit == 25
    assert created.info.expires_at is not None
    assert abs((created.info.expires_at - expires).total_seconds()) < 1
    assert created.key not in repr(created)

    verified = client.current_key(api_key=created.key)
    assert not verified.is_management_key
    assert verified.usage.limit_remaining == 25

    sandbox.openrouter.set_usage(created.info.hash, usage_monthly=20, usage=30)
    fetched = client.get_key(created.info.hash)
    assert fetched.usage.percent_used == 80.0

    updated = client.update_key(created.info.hash, disabled=True, limit=None)
    assert updated.disabled and updated.usage.limit is None
    assert [k.hash for k in client.list_keys()] == []
    assert [k.hash for k in client.list_keys(include_disabled=True)] == [created.info.hash]
    assert client.credits().total_credits > 0

    assert client.delete_key(created.info.hash) is True
    assert client.delete_key(created.info.hash) is False  # 404 means already gone
    with pytest.raises(OpenRouterAuthError):
        client.current_key(api_key=created.key)

    summary = validate_exchanges(OPENROUTER_SPEC, recorder.exchanges)
    assert sum(summary.values()) == len(recorder.exchanges) >= 10


def test_pagination_past_100_newest_first(
    sandbox: Sandbox, client: OpenRouterClient, recorder: RecordingTransport
) -> None:
    made = [sandbox.openrouter.add_key(f"bulk-{i}") for i in range(230)]
    keys = client.list_keys()
    assert len(keys) == 230
    assert keys[0].name == "bulk-229" and keys[-1].name == "bulk-0"
    offsets = [e.url.split("offset=")[1] for e in recorder.exchanges if "/keys?" in e.url]
    assert offsets == ["0", "100", "200"]
    validate_exchanges(OPENROUTER_SPEC, recorder.exchanges)
    assert len(made) == 230


def test_ordinary_key_cannot_manage(sandbox: Sandbox, recorder: RecordingTransport) -> None:
    plain = sandbox.openrouter.add_key("inference")
    client = OpenRouterClient(plain, sandbox.openrouter_url, transport=recorder)
    with pytest.raises(OpenRouterAuthError) as info:
        client.create_key("nope")
    assert info.value.status == 403
    assert "management key" in str(info.value)
    assert plain not in str(info.value)
    with pytest.raises(OpenRouterAuthError):
        client.list_keys()
    validate_exchanges(OPENROUTER_SPEC, recorder.exchanges)


def test_429_with_retry_after_is_honoured(
    sandbox: Sandbox, client: OpenRouterClient, sleeps: Sleeps
) -> None:
    sandbox.fault(r"/keys$", method="GET", status=429, retry_after="3")
    assert client.list_keys() == []
    assert sleeps.calls == [3.0]


def test_create_retried_after_429_makes_one_key(
    sandbox: Sandbox, client: OpenRouterClient, sleeps: Sleeps
) -> None:
    sandbox.fault(r"/keys$", method="POST", status=429, retry_after="1", times=2)
    client.create_key("rate-limited")
    assert len(sandbox.openrouter.live_keys("rate-limited")) == 1
    assert sleeps.calls == [1.0, 1.0]


def test_5xx_once_is_retried_with_backoff(
    sandbox: Sandbox, client: OpenRouterClient, sleeps: Sleeps
) -> None:
    sandbox.fault(r"/key$", status=502)
    assert client.current_key().is_management_key
    assert len(sleeps.calls) == 1 and 0 <= sleeps.calls[0] <= client.backoff


def test_persistent_5xx_gives_up_bounded(
    sandbox: Sandbox, client: OpenRouterClient, sleeps: Sleeps
) -> None:
    sandbox.fault(r"/keys$", method="GET", status=503, times=None)
    with pytest.raises(OpenRouterStatusError) as info:
        client.list_keys()
    assert info.value.status == 503
    assert len(sleeps.calls) == client.retries
    # full jitter: every wait is within its exponential ceiling
    for attempt, waited in enumerate(sleeps.calls):
        assert 0 <= waited <= client.backoff * 2**attempt


def test_timeout_is_retried_then_reported(sandbox: Sandbox, sleeps: Sleeps) -> None:
    client = OpenRouterClient(
        sandbox.management_key, sandbox.openrouter_url, timeout=0.2, retries=1, sleep=sleeps
    )
    sandbox.fault(r"/keys$", method="GET", latency=1.0, times=None)
    with pytest.raises(OpenRouterTransportError) as info:
        client.list_keys()
    assert "timed out" in str(info.value)
    assert len(sleeps.calls) == 1


def test_retry_after_too_long_is_a_failure_not_a_wait(
    sandbox: Sandbox, client: OpenRouterClient, sleeps: Sleeps
) -> None:
    sandbox.fault(r"/keys$", method="GET", status=429, retry_after="3600")
    with pytest.raises(OpenRouterStatusError):
        client.list_keys()
    assert sleeps.calls == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502, "when": "after"},  # the key was made, the answer says it failed
        {"latency": 1.0, "when": "after"},  # the key was made, the answer never came
        {"status": 500, "when": "before"},  # nothing was made
    ],
)
def test_unknown_create_outcome_leaves_exactly_one_key(
    sandbox: Sandbox, sleeps: Sleeps, fault: dict[str, object]
) -> None:
    client = OpenRouterClient(
        sandbox.management_key, sandbox.openrouter_url, timeout=0.5, sleep=sleeps
    )
    existing = sandbox.openrouter.add_key("svc")  # an older key with the same name, ours
    old_hash = sandbox.openrouter.live_keys("svc")[0].hash
    sandbox.fault(r"/keys$", method="POST", **fault)
    created = client.create_key("svc", known_hashes=[old_hash])
    live = {k.hash for k in sandbox.openrouter.live_keys("svc")}
    assert live == {old_hash, created.info.hash}
    assert sandbox.openrouter.works(created.key)
    assert sandbox.openrouter.works(existing)


def test_unknown_create_outcome_twice_is_reported_without_leftovers(
    sandbox: Sandbox, sleeps: Sleeps
) -> None:
    client = OpenRouterClient(sandbox.management_key, sandbox.openrouter_url, sleep=sleeps)
    sandbox.fault(r"/keys$", method="POST", status=502, when="after", times=None)
    with pytest.raises(CreateOutcomeUnknown):
        client.create_key("svc")
    assert sandbox.openrouter.live_keys("svc") == []


def test_no_key_in_errors_or_logs(
    sandbox: Sandbox, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = OpenRouterClient(sandbox.management_key, sandbox.openrouter_url, sleep=sleeps)
    created = client.create_key("secretive")
    sandbox.fault(r"/keys", status=500, times=None)
    texts: list[str] = []
    for call in (
        lambda: client.list_keys(),
        lambda: client.delete_key(created.info.hash),
        lambda: client.create_key("again"),
    ):
        with pytest.raises(Exception) as info:
            call()
        texts.append(str(info.value) + repr(info.value) + repr(info.value.__cause__))
    sandbox.clear_faults()
    client.delete_key(created.info.hash)
    with pytest.raises(OpenRouterAuthError) as info:
        client.current_key(api_key=created.key)
    texts.append(str(info.value))
    texts.append(caplog.text)
    for text in texts:
        assert created.key not in text
        assert sandbox.management_key not in text
        assert "sk-or-v1-" not in text


def test_error_paths_without_a_server() -> None:
    """Shapes the sandbox never sends: non-JSON errors and HTTP-date Retry-After."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, text="<html>upstream down</html>")
        return httpx.Response(400, text="not json")

    client = OpenRouterClient(
        "k",
        "https://openrouter.test/api/v1",
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )
    with pytest.raises(OpenRouterStatusError) as info:
        client.get_key("abc")
    assert info.value.status == 400
    assert len(calls) == 2

    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"})
    assert (
        retry_after_seconds(dated, now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc))
        == 30.0
    )
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "junk"})) is None


# -- today's API: budgets, workspaces, account policies ------------------------------------


def test_budgets_from_the_key_and_from_the_management_api_agree(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    """``GET /key`` shows every layer to the key itself; between rotations the engine rebuilds
    the key-scoped ones with the management key. Both must name the same blocking budget."""
    box = sandbox.openrouter
    team = box.add_workspace("Team")
    box.guardrails[box.workspaces[team].default_guardrail_id].limit_usd = 50.0
    weekly = box.add_guardrail("weekly", workspace_id=team, limit_usd=3.0, reset_interval="weekly")
    plaintext = box.add_key("k", limit=20.0, limit_reset="monthly", workspace_id=team)
    digest = box.live_keys("k")[0].hash
    box.assign(weekly, digest)
    box.set_usage(digest, usage=9.0, usage_weekly=2.5, usage_monthly=6.0)

    seen_by_key = client.current_key(api_key=plaintext)
    rebuilt = client.key_budgets(client.get_key(digest))
    assert [b.scope for b in seen_by_key.budgets] == [
        "workspace_default_key",
        "api_key",
        "key_limit",
    ]
    assert rebuilt == list(seen_by_key.budgets)
    assert seen_by_key.effective_budget == blocking_budget(rebuilt)
    blocking = blocking_budget(rebuilt)
    assert blocking is not None and blocking.guardrail_id == weekly
    assert blocking.percent_used == pytest.approx(83.33)
    assert blocking.resets_at is not None and blocking.resets_at.weekday() == 0  # Monday
    assert seen_by_key.workspace_id == team


def test_an_exhausted_layer_blocks_before_the_least_remaining(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    box = sandbox.openrouter
    spent = box.add_guardrail("spent", limit_usd=1.0, reset_interval="daily")
    plaintext = box.add_key("k", limit=0.5)
    digest = box.live_keys("k")[0].hash
    box.assign(spent, digest)
    box.set_usage(digest, usage=1.0, usage_daily=1.0)
    me = client.current_key(api_key=plaintext)
    # Both are spent; enforcement rejects on the first it checks: the guardrail.
    assert me.effective_budget is not None and me.effective_budget.guardrail_id == spent


def test_an_account_that_requires_expiry_names_the_option(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    sandbox.openrouter.require_expiration = True
    with pytest.raises(OpenRouterPolicyError) as info:
        client.create_key("k")
    assert "expires-after" in str(info.value)
    expires = datetime.now(timezone.utc) + timedelta(days=90)
    assert client.create_key("k", expires_at=expires).info.expires_at is not None


def test_an_ip_allowlist_is_not_mistaken_for_a_wrong_key(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    sandbox.openrouter.ip_allowlist = ["203.0.113.7"]
    with pytest.raises(OpenRouterPolicyError) as info:
        client.list_keys()
    assert "allowlist" in str(info.value)
    assert "management key" not in str(info.value)


def test_unclaimed_keys_are_found_in_every_workspace(
    sandbox: Sandbox, client: OpenRouterClient
) -> None:
    team = sandbox.openrouter.add_workspace("Team")
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    ours = client.create_key("svc", workspace_id=team)
    lost = client.create_key("svc", workspace_id=team)  # as if its answer had been lost
    deleted = client.delete_unclaimed("svc", since, [ours.info.hash])
    assert deleted == [lost.info.hash]
    assert [k.hash for k in sandbox.openrouter.live_keys("svc")] == [ours.info.hash]


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"hash": "ab" * 32}},  # no key at all
        {"data": {"hash": "ab" * 32}, "api_key": "sk-or-v1-" + "0" * 64},  # renamed
        {"key": "sk-or-v1-" + "0" * 64},  # no data
        {"key": None, "data": {"hash": "ab" * 32}},
    ],
)
def test_a_create_answer_without_the_key_stops_the_run(body: dict[str, object]) -> None:
    client = OpenRouterClient(
        "k",
        "https://openrouter.test/api/v1",
        transport=httpx.MockTransport(lambda request: httpx.Response(201, json=body)),
        sleep=lambda s: None,
    )
    with pytest.raises(OpenRouterResponseError) as info:
        client.create_key("k")
    assert "next run deletes" in str(info.value)
    assert "sk-or-v1-" not in str(info.value)


def test_an_empty_update_is_refused_before_it_is_sent(client: OpenRouterClient) -> None:
    with pytest.raises(ValueError):
        client.update_key("ab" * 32)
    assert client.requests_made == 0
