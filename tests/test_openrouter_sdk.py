"""The OpenRouter stand-in against the official SDK (``openrouter`` 1.3.84), over real HTTP.

The SDK is driven against the sandbox on every route the stand-in serves, for every answer it
gives: success and each error status. The SDK parses each answer with its own models and raises
its typed error for each documented error status; on top of that the ``sandbox`` fixture checks
every answer with ``tests/sdk_oracle.py`` (the same models, and no field the SDK does not know).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from openrouter import OpenRouter, errors

from openrouter_rotator.sandbox import Sandbox
from openrouter_rotator.sandbox.openrouter import DEFAULT_WORKSPACE, key_hash

from .sdk_oracle import ROUTES, OracleError, check_answer, check_records


def sdk_for(box: Sandbox, api_key: str) -> OpenRouter:
    # No retries: a 5xx must reach the test as the SDK's typed error, not be retried away.
    return OpenRouter(api_key=api_key, server_url=box.openrouter_url, retry_config=None)


@pytest.fixture
def sdk(sandbox: Sandbox) -> Iterator[OpenRouter]:
    with sdk_for(sandbox, sandbox.management_key) as client:
        yield client


@pytest.fixture
def seeded(sandbox: Sandbox) -> dict[str, str]:
    """A second workspace, a guardrail with a daily $2 budget, a key with some spend."""
    team = sandbox.openrouter.add_workspace("Team")
    guardrail = sandbox.openrouter.add_guardrail("daily cap", limit_usd=2.0, reset_interval="daily")
    plaintext = sandbox.openrouter.add_key("ci-key", limit=10.0, limit_reset="monthly")
    digest = key_hash(plaintext)
    sandbox.openrouter.set_usage(digest, usage=4.0, usage_daily=1.5, usage_monthly=3.0)
    return {"team": team, "guardrail": guardrail, "key": plaintext, "hash": digest}


# The SDK's GET /key model marks rate_limit and is_provisioning_key deprecated, and warns on
# parsing them; OpenRouter still sends both.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_route_succeeds_through_the_sdk(
    sandbox: Sandbox, sdk: OpenRouter, seeded: dict[str, str]
) -> None:
    expires = datetime.now(timezone.utc) + timedelta(days=30)
    created = sdk.api_keys.create(
        name="rotated",
        limit=5.0,
        limit_reset="weekly",
        expires_at=expires,
        workspace_id=seeded["team"],
        external={"user": "partner-user-7"},
    )
    assert created.key.startswith("sk-or-v1-")
    assert created.data.workspace_id == seeded["team"]
    assert created.data.external_user == "partner-user-7"
    assert created.data.last_used_at is None
    new_hash = created.data.hash

    listed = sdk.api_keys.list(workspace_id=seeded["team"], include_expired=True)
    assert [k.hash for k in listed.data] == [new_hash]
    assert seeded["hash"] in [k.hash for k in sdk.api_keys.list().data]
    assert sdk.api_keys.get(hash=seeded["hash"]).data.last_used_at is not None
    assert sdk.api_keys.update(hash=new_hash, name="renamed").data.name == "renamed"

    assigned = sdk.guardrails.bulk_assign_keys(id=seeded["guardrail"], key_hashes=[seeded["hash"]])
    assert assigned.assigned_count == 1
    assert sdk.guardrails.get(id=seeded["guardrail"]).data.limit_usd == 2.0
    guardrails = sdk.guardrails.list()
    assert guardrails is not None and seeded["guardrail"] in [g.id for g in guardrails.result.data]
    everywhere = sdk.guardrails.list_key_assignments()
    assert everywhere is not None
    assert [(a.guardrail_id, a.key_hash) for a in everywhere.result.data] == [
        (seeded["guardrail"], seeded["hash"])
    ]
    one = sdk.guardrails.list_guardrail_key_assignments(id=seeded["guardrail"])
    assert one is not None and one.result.total_count == 1

    with sdk_for(sandbox, seeded["key"]) as as_key:
        current = as_key.api_keys.get_current_key_metadata().data
    # The guardrail's $2 a day (1.5 spent) blocks before the key's own $10 a month (3 spent).
    assert [b.scope for b in current.budgets] == ["api_key", "key_limit"]
    assert current.effective_budget is not None
    assert current.effective_budget.scope == "api_key"
    assert current.effective_budget.remaining_usd == pytest.approx(0.5)
    assert current.effective_budget.resets_at is not None
    assert current.limit_remaining == pytest.approx(7.0)  # the key's own limit only
    assert current.workspace_id == DEFAULT_WORKSPACE
    assert current.free_model_daily_requests.limit >= 0

    removed = sdk.guardrails.bulk_unassign_keys(id=seeded["guardrail"], key_hashes=[seeded["hash"]])
    assert removed.unassigned_count == 1
    workspaces = sdk.workspaces.list()
    assert workspaces is not None
    assert {w.id for w in workspaces.result.data} == {DEFAULT_WORKSPACE, seeded["team"]}
    assert sdk.workspaces.get(id=seeded["team"]).data.name == "Team"
    assert sdk.credits.get_credits().data.total_credits == 100.0
    assert sdk.api_keys.delete(hash=new_hash).DELETED is True

    report = check_records(sandbox.requests())
    served = {op.rsplit(" ", 1)[0] for op in report.operations}
    assert served == {f"{m} {p}" for m, p, *_ in ROUTES}  # every route the stand-in serves


# (call, expected SDK error) for each documented error status of each operation.
MISSING = "0" * 64
NO_WORKSPACE = "11111111-1111-4111-8111-111111111111"


def error_calls(box: Sandbox, guardrail: str) -> list[tuple[str, str, object, type]]:
    management, bad = box.management_key, "sk-or-v1-" + "0" * 64
    ordinary = box.openrouter.add_key("ordinary")
    unauthorized = errors.UnauthorizedResponseError
    calls: list[tuple[str, str, object, type]] = [
        ("GET /key", bad, lambda s: s.api_keys.get_current_key_metadata(), unauthorized),
        ("GET /keys", bad, lambda s: s.api_keys.list(), unauthorized),
        ("GET /keys", ordinary, lambda s: s.api_keys.list(), unauthorized),
        (
            "GET /keys",
            management,
            lambda s: s.api_keys.list(workspace_id=NO_WORKSPACE),
            errors.NotFoundResponseError,
        ),
        ("POST /keys", bad, lambda s: s.api_keys.create(name="x"), unauthorized),
        (
            "POST /keys",
            ordinary,
            lambda s: s.api_keys.create(name="x"),
            errors.ForbiddenResponseError,
        ),
        (
            "POST /keys",
            management,
            lambda s: s.api_keys.create(name="x", workspace_id=NO_WORKSPACE),
            errors.BadRequestResponseError,
        ),
        ("GET /keys/{hash}", bad, lambda s: s.api_keys.get(hash=MISSING), unauthorized),
        (
            "GET /keys/{hash}",
            management,
            lambda s: s.api_keys.get(hash=MISSING),
            errors.NotFoundResponseError,
        ),
        (
            "PATCH /keys/{hash}",
            management,
            lambda s: s.api_keys.update(hash=MISSING, name="x"),
            errors.NotFoundResponseError,
        ),
        (
            "PATCH /keys/{hash}",
            management,
            lambda s: s.api_keys.update(hash=key_hash(ordinary)),  # nothing to change
            errors.BadRequestResponseError,
        ),
        (
            "PATCH /keys/{hash}",
            bad,
            lambda s: s.api_keys.update(hash=MISSING, name="x"),
            unauthorized,
        ),
        (
            "DELETE /keys/{hash}",
            management,
            lambda s: s.api_keys.delete(hash=MISSING),
            errors.NotFoundResponseError,
        ),
        ("DELETE /keys/{hash}", bad, lambda s: s.api_keys.delete(hash=MISSING), unauthorized),
        ("GET /credits", bad, lambda s: s.credits.get_credits(), unauthorized),
        (
            "GET /credits",
            ordinary,
            lambda s: s.credits.get_credits(),
            errors.ForbiddenResponseError,
        ),
        ("GET /guardrails", ordinary, lambda s: s.guardrails.list(), errors.ForbiddenResponseError),
        (
            "GET /guardrails/{id}",
            management,
            lambda s: s.guardrails.get(id="nope"),
            errors.NotFoundResponseError,
        ),
        (
            "POST /guardrails/{id}/assignments/keys",
            management,
            lambda s: s.guardrails.bulk_assign_keys(id=guardrail, key_hashes=[MISSING]),
            errors.NotFoundResponseError,
        ),
        (
            "POST /guardrails/{id}/assignments/keys/remove",
            management,
            lambda s: s.guardrails.bulk_unassign_keys(id="nope", key_hashes=[MISSING]),
            errors.NotFoundResponseError,
        ),
        (
            "GET /guardrails/{id}/assignments/keys",
            ordinary,
            lambda s: s.guardrails.list_guardrail_key_assignments(id=guardrail),
            errors.ForbiddenResponseError,
        ),
        (
            "GET /guardrails/assignments/keys",
            bad,
            lambda s: s.guardrails.list_key_assignments(),
            unauthorized,
        ),
        ("GET /workspaces", ordinary, lambda s: s.workspaces.list(), errors.ForbiddenResponseError),
        (
            "GET /workspaces/{id}",
            management,
            lambda s: s.workspaces.get(id="nope"),
            errors.NotFoundResponseError,
        ),
    ]
    return calls


def test_every_error_is_the_sdks_typed_error(sandbox: Sandbox) -> None:
    guardrail = sandbox.openrouter.add_guardrail("cap", limit_usd=1.0)
    for label, api_key, call, expected in error_calls(sandbox, guardrail):
        with sdk_for(sandbox, api_key) as client, pytest.raises(expected) as raised:
            call(client)  # type: ignore[operator]
        assert raised.value.data.error.message, label  # the SDK parsed the error body


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, errors.TooManyRequestsResponseError),
        (500, errors.InternalServerResponseError),
    ],
)
def test_injected_faults_are_the_sdks_typed_errors(
    sandbox: Sandbox, sdk: OpenRouter, status: int, expected: type
) -> None:
    sandbox.fault(r"/api/v1/keys$", method="GET", status=status, retry_after="1")
    with pytest.raises(expected):
        sdk.api_keys.list()


# -- behaviour the SDK documents ------------------------------------------------------------


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.management_key}"}
    with httpx.Client(base_url=sandbox.openrouter_url, headers=headers) as client:
        yield client


def test_an_empty_patch_is_400_and_unknown_fields_are_ignored(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    digest = key_hash(sandbox.openrouter.add_key("k"))
    assert http.patch(f"/keys/{digest}", json={}).status_code == 400
    assert http.patch(f"/keys/{digest}", json={"colour": "red"}).status_code == 400
    answer = http.patch(f"/keys/{digest}", json={"name": "renamed", "colour": "red"})
    assert answer.status_code == 200 and answer.json()["data"]["name"] == "renamed"
    made = http.post("/keys", json={"name": "new", "colour": "red"})
    assert made.status_code == 201 and "colour" not in made.json()["data"]


@pytest.mark.parametrize(
    ("expires_at", "status"),
    [
        ("2099-01-01T10:00Z", 400),  # minute precision is refused
        ("2099-01-01T10:00", 400),
        ("2099-01-01", 400),
        ("2000-01-01T10:00:00Z", 400),  # in the past
        ("2099-01-01T10:00:00Z", 201),
        ("2099-01-01T10:00:00.250Z", 201),  # fractional seconds are allowed
    ],
)
def test_expires_at_must_carry_seconds(expires_at: str, status: int) -> None:
    # Requests outside the published contract on purpose: only the answers are checked.
    with Sandbox() as box:
        headers = {"Authorization": f"Bearer {box.management_key}"}
        body = {"name": "k", "expires_at": expires_at}
        answer = httpx.post(f"{box.openrouter_url}/keys", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        assert check_records(box.requests()).total == 1


def test_expired_keys_are_listed_only_when_asked(sandbox: Sandbox, http: httpx.Client) -> None:
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    expired = key_hash(sandbox.openrouter.add_key("old", expires_at=past))
    live = key_hash(sandbox.openrouter.add_key("new"))
    shown = [k["hash"] for k in http.get("/keys").json()["data"]]
    assert shown == [live]
    everything = http.get("/keys", params={"include_expired": "true"}).json()["data"]
    assert [k["hash"] for k in everything] == [live, expired]


def test_a_listing_shows_one_workspace(sandbox: Sandbox, http: httpx.Client) -> None:
    team = sandbox.openrouter.add_workspace("Team")
    there = key_hash(sandbox.openrouter.add_key("k", workspace_id=team))
    assert http.get("/keys").json()["data"] == []
    listed = http.get("/keys", params={"workspace_id": team}).json()["data"]
    assert [k["hash"] for k in listed] == [there]


def test_account_policies(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.openrouter.require_expiration = True
    refused = http.post("/keys", json={"name": "k"})
    assert refused.status_code == 400 and "expir" in refused.json()["error"]["message"]
    assert http.post("/keys", json={"name": "k", "expires_at": "2099-01-01T00:00:00Z"}).is_success
    sandbox.openrouter.ip_allowlist = ["203.0.113.7"]
    blocked = http.get("/keys")
    assert blocked.status_code == 403 and "allowlist" in blocked.json()["error"]["message"]


# -- the oracle is not vacuous ---------------------------------------------------------------


def test_the_oracle_rejects_what_the_sdk_would(sandbox: Sandbox, http: httpx.Client) -> None:
    plaintext = sandbox.openrouter.add_key("k")
    good = httpx.get(
        f"{sandbox.openrouter_url}/key", headers={"Authorization": f"Bearer {plaintext}"}
    ).content
    assert check_answer("GET", "/key", 200, good) == "documented"
    data = json.loads(good)
    # What the stand-in answered before this release: no budgets.
    del data["data"]["budgets"]
    with pytest.raises(OracleError, match="budgets"):
        check_answer("GET", "/key", 200, json.dumps(data).encode())
    # A field the SDK does not know.
    data = json.loads(good)
    data["data"]["effective_budget"] = {"scope": "key_limit"}
    with pytest.raises(OracleError):
        check_answer("GET", "/key", 200, json.dumps(data).encode())
    data = json.loads(good)
    data["data"]["colour"] = "red"
    with pytest.raises(OracleError, match="colour"):
        check_answer("GET", "/key", 200, json.dumps(data).encode())
    with pytest.raises(OracleError):
        check_answer("GET", "/key", 403, b'{"message": "GitHub-shaped"}')
    with pytest.raises(OracleError, match="not an operation"):
        check_answer("GET", "/nowhere", 200, b"{}")
