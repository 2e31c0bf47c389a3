"""The GitHub stand-in itself, spoken to over raw HTTP: GitHub's rules, tokens, control API.

Responses are validated against the official description after each test; requests too,
except in the tests that send deliberately malformed ones.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from nacl.public import PrivateKey, PublicKey, SealedBox

from openrouter_rotator.sandbox import Sandbox

from .conftest import check_github_exchanges

NAME = "OPENROUTER_API_KEY"


@pytest.fixture
def box(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    check_github_exchanges(sandbox.github.exchanges)


@pytest.fixture
def loose_box(sandbox: Sandbox) -> Iterator[Sandbox]:
    """For tests that send requests the spec forbids: only the responses are validated."""
    yield sandbox
    check_github_exchanges(sandbox.github.exchanges, validate_requests=False)


def call(
    box: Sandbox, method: str, path: str, body: Any = None, token: str | None = "admin"
) -> requests.Response:
    headers = {"Accept": "application/vnd.github+json"}
    if token == "admin":
        token = box.github.admin_token
    elif token == "readonly":
        token = box.github.readonly_token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, box.github_url + path, json=body, headers=headers, timeout=5)


def sealed_for(box: Sandbox, key_path: str, value: str) -> dict[str, str]:
    key = call(box, "GET", key_path).json()
    box_ = SealedBox(PublicKey(base64.b64decode(key["key"])))
    return {
        "encrypted_value": base64.b64encode(box_.encrypt(value.encode())).decode(),
        "key_id": key["key_id"],
    }


def test_tokens(box: Sandbox) -> None:
    path = "/repos/octo-org/app/actions/variables"
    assert call(box, "GET", path, token="ghp_unknown").json()["message"] == "Bad credentials"
    assert (
        call(box, "GET", "/orgs/octo-org/actions/secrets/public-key", token=None).status_code == 401
    )
    assert call(box, "GET", "/repos/octo-org/app", token="readonly").status_code == 200
    refused = call(box, "POST", path, {"name": "A", "value": "b"}, token="readonly")
    assert refused.status_code == 403
    assert refused.json() == {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest",
        "status": "403",
    }
    # As GitHub does for fine-grained and App tokens: what the route needs.
    assert refused.headers["X-Accepted-GitHub-Permissions"] == "actions_variables=write"
    key = call(box, "GET", "/repos/octo-org/app/actions/secrets/public-key", token="readonly")
    assert key.status_code == 403  # the default token has no secrets permission at all
    sealed = {"encrypted_value": "c2VhbGVk", "key_id": "1"}
    env_put = call(
        box,
        "PUT",
        f"/repos/octo-org/app/environments/production/secrets/{NAME}",
        sealed,
        "readonly",
    )
    assert env_put.headers["X-Accepted-GitHub-Permissions"] == "environments=write,secrets=write"


def test_anonymous_reads_see_private_repositories_as_missing(box: Sandbox) -> None:
    """GitHub hides a private repository from anonymous callers: 404, not 401."""
    box.github.add_repo("octo-org/site", private=False)
    for path in ("/repos/octo-org/app", "/repos/octo-org/app/actions/variables/X"):
        answer = call(box, "GET", path, token=None)
        assert (answer.status_code, answer.json()["message"]) == (404, "Not Found"), path
    assert call(box, "GET", "/repos/octo-org/nowhere", token=None).status_code == 404
    assert call(box, "GET", "/repos/octo-org/site", token=None).json()["private"] is False
    assert (
        call(box, "GET", "/repos/octo-org/site/actions/variables/X", token=None).status_code == 401
    )


def test_routes_it_does_not_serve_are_githubs_404(box: Sandbox) -> None:
    """Operations of the description the stand-in does not implement, and methods a path does
    not have, answer as GitHub answers a route it does not have."""
    for method, path in [
        ("GET", "/repos/octo-org/app/actions/secrets"),  # list-repo-secrets
        ("DELETE", "/repos/octo-org/app"),  # repos/delete
        ("GET", "/orgs/octo-org/installation"),  # apps/get-org-installation
        ("POST", "/repos/octo-org/app/dispatches"),  # repos/create-dispatch-event
    ]:
        answer = call(box, method, path, {"event_type": "x"} if method == "POST" else None)
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        }


@pytest.mark.parametrize("version", ["2022-11-28", "2026-03-10", None])
def test_both_api_versions_are_served(box: Sandbox, version: str | None) -> None:
    headers = {"Authorization": f"Bearer {box.github.admin_token}"}
    if version:
        headers["X-GitHub-Api-Version"] = version
    answer = requests.get(box.github_url + "/repos/octo-org/app", headers=headers, timeout=5)
    assert answer.status_code == 200


def test_an_unknown_api_version_is_400(loose_box: Sandbox) -> None:
    headers = {
        "Authorization": f"Bearer {loose_box.github.admin_token}",
        "X-GitHub-Api-Version": "2021-01-01",
    }
    answer = requests.get(loose_box.github_url + "/repos/octo-org/app", headers=headers, timeout=5)
    assert answer.status_code == 400 and "2021-01-01" in answer.json()["message"]


def test_secret_put_creates_then_updates_and_stays_sealed(box: Sandbox) -> None:
    path = f"/repos/octo-org/app/actions/secrets/{NAME}"
    key_path = "/repos/octo-org/app/actions/secrets/public-key"
    assert call(box, "PUT", path, sealed_for(box, key_path, "one")).status_code == 201
    assert call(box, "PUT", path, sealed_for(box, key_path, "two")).status_code == 204
    stored = box.github.secret("repo:octo-org/app", NAME)
    assert stored is not None and b"two" not in base64.b64decode(stored.encrypted_value)
    assert box.github.open_secret("repo:octo-org/app", NAME) == "two"
    got = call(box, "GET", path).json()
    assert got["name"] == NAME and "value" not in got


def test_a_value_sealed_for_another_scope_is_refused(box: Sandbox) -> None:
    other = sealed_for(box, "/repos/octo-org/api/actions/secrets/public-key", "x")
    mine = call(box, "GET", "/repos/octo-org/app/actions/secrets/public-key").json()
    path = f"/repos/octo-org/app/actions/secrets/{NAME}"
    wrong_scope = call(box, "PUT", path, {**other, "key_id": mine["key_id"]})
    assert wrong_scope.status_code == 422 and "cannot be decrypted" in wrong_scope.json()["message"]
    stale_key = call(box, "PUT", path, other)
    assert stale_key.status_code == 422 and "key_id" in stale_key.json()["message"]
    forged = SealedBox(PrivateKey.generate().public_key).encrypt(b"x")
    body = {"encrypted_value": base64.b64encode(forged).decode(), "key_id": mine["key_id"]}
    assert call(box, "PUT", path, body).status_code == 422
    assert box.github.secret("repo:octo-org/app", NAME) is None


def test_every_scope_has_its_own_key(box: Sandbox) -> None:
    paths = [
        "/repos/octo-org/app/actions/secrets/public-key",
        "/repos/octo-org/app/environments/production/secrets/public-key",
        "/repos/octo-org/app/dependabot/secrets/public-key",
        "/orgs/octo-org/actions/secrets/public-key",
    ]
    keys = [call(box, "GET", p).json() for p in paths]
    assert len({k["key"] for k in keys}) == len({k["key_id"] for k in keys}) == 4
    assert call(box, "GET", paths[0]).json() == keys[0]  # stable until rotated
    missing = "/repos/octo-org/app/environments/staging/secrets/public-key"
    assert call(box, "GET", missing).status_code == 404
    assert call(box, "GET", "/orgs/nobody/actions/secrets/public-key").status_code == 404


def test_org_visibility_rules(loose_box: Sandbox) -> None:
    box = loose_box
    app, api = box.github.repos["octo-org/app"].id, box.github.repos["octo-org/api"].id
    path = f"/orgs/octo-org/actions/secrets/{NAME}"
    key_path = "/orgs/octo-org/actions/secrets/public-key"

    def put(**extra: Any) -> requests.Response:
        return call(box, "PUT", path, {**sealed_for(box, key_path, "v"), **extra})

    assert put(visibility="selected").status_code == 422
    assert put(visibility="all", selected_repository_ids=[app]).status_code == 422
    assert put(visibility="public").status_code == 422
    assert put(visibility="selected", selected_repository_ids=[999]).status_code == 422
    assert put(visibility="selected", selected_repository_ids=[app, str(api)]).status_code == 201
    got = call(box, "GET", path).json()
    assert got["visibility"] == "selected" and got["selected_repositories_url"].endswith(
        f"/orgs/octo-org/actions/secrets/{NAME}/repositories"
    )
    listed = call(box, "GET", f"{path}/repositories?per_page=1&page=2").json()
    assert listed["total_count"] == 2 and [r["id"] for r in listed["repositories"]] == [api]
    # A PUT without visibility is a new scope: GitHub drops the old one.
    assert put().status_code == 204
    stored = box.github.secret("org:octo-org", NAME)
    assert stored is not None
    assert (stored.visibility, stored.selected_repository_ids) == ("private", [])
    assert call(box, "GET", f"{path}/repositories").status_code == 409


def test_environments(box: Sandbox) -> None:
    listed = call(box, "GET", "/repos/octo-org/app/environments").json()
    assert [e["name"] for e in listed["environments"]] == ["production"]
    assert call(box, "GET", "/repos/octo-org/app/environments/staging").status_code == 404
    made = call(box, "PUT", "/repos/octo-org/app/environments/review%2Fpr-1")
    assert made.status_code == 200 and made.json()["name"] == "review/pr-1"
    key = call(box, "GET", "/repos/octo-org/app/environments/review%2Fpr-1/secrets/public-key")
    assert key.status_code == 200
    assert call(box, "GET", "/repos/octo-org/app").json()["full_name"] == "octo-org/app"
    assert call(box, "GET", "/repos/octo-org/nope").status_code == 404


def test_variables(box: Sandbox) -> None:
    base = "/repos/octo-org/app/actions/variables"
    assert call(box, "GET", f"{base}/STATE").status_code == 404
    assert call(box, "POST", base, {"name": "STATE", "value": "1"}).status_code == 201
    assert call(box, "POST", base, {"name": "state", "value": "2"}).status_code == 409
    assert call(box, "PATCH", f"{base}/STATE", {"name": "STATE", "value": "3"}).status_code == 204
    assert call(box, "PATCH", f"{base}/OTHER", {"value": "3"}).status_code == 404
    assert call(box, "GET", f"{base}/state").json()["value"] == "3"
    assert call(box, "GET", base).json()["total_count"] == 1
    assert call(box, "POST", base, {"name": "GITHUB_X", "value": "1"}).status_code == 422


def test_workflow_dispatch(loose_box: Sandbox) -> None:
    box = loose_box  # sends requests the spec forbids, to see them refused
    wf = "/repos/octo-org/app/actions/workflows/rotate-openrouter-key.yml"
    workflow = call(box, "GET", wf).json()
    assert workflow["path"] == ".github/workflows/rotate-openrouter-key.yml"
    by_id = f"/repos/octo-org/app/actions/workflows/{workflow['id']}/dispatches"
    assert call(box, "POST", by_id, {"ref": "main", "inputs": {"force": "true"}}).status_code == 204
    details = call(box, "POST", f"{wf}/dispatches", {"ref": "main", "return_run_details": True})
    assert details.status_code == 200 and details.json()["html_url"].endswith(
        f"/actions/runs/{details.json()['workflow_run_id']}"
    )
    bad = call(box, "POST", f"{wf}/dispatches", {"ref": "main", "inputs": {"x": "1", "y": "2"}})
    assert (
        bad.status_code == 422 and bad.json()["message"] == 'Unexpected inputs provided: ["x", "y"]'
    )
    assert call(box, "POST", f"{wf}/dispatches", {"inputs": {}}).status_code == 422
    box.github.add_workflow("octo-org/api", "deploy.yml", inputs=["env"], required=["env"])
    deploy = "/repos/octo-org/api/actions/workflows/deploy.yml/dispatches"
    assert call(box, "POST", deploy, {"ref": "main"}).status_code == 422
    assert len(box.github.dispatches) == 2


def test_a_dispatch_makes_a_run_titled_by_the_run_name(box: Sandbox) -> None:
    wf = "/repos/octo-org/app/actions/workflows/rotate-openrouter-key.yml"
    inputs = {"force": "true", "reason": "leak", "request-id": "req-0123"}
    dispatch = {"ref": "main", "inputs": inputs}
    assert call(box, "POST", f"{wf}/dispatches", dispatch).status_code == 204
    # Under API version 2026-03-10 the run's details come back without being asked for.
    newer = requests.post(
        box.github_url + f"{wf}/dispatches",
        json={"ref": "main", "inputs": {**inputs, "request-id": "req-4567"}},
        headers={
            "Authorization": f"Bearer {box.github.admin_token}",
            "X-GitHub-Api-Version": "2026-03-10",
        },
        timeout=5,
    )
    assert newer.status_code == 200
    details = newer.json()
    assert set(details) == {"workflow_run_id", "run_url", "html_url"}
    runs = call(box, "GET", f"{wf}/runs?event=workflow_dispatch&per_page=1").json()
    assert runs["total_count"] == 2
    [latest] = runs["workflow_runs"]  # newest first
    assert latest["id"] == details["workflow_run_id"]
    assert latest["display_title"] == "Rotate OpenRouter key req-4567"
    assert latest["html_url"] == details["html_url"]
    older = call(box, "GET", f"{wf}/runs?per_page=1&page=2").json()["workflow_runs"]
    assert older[0]["display_title"] == "Rotate OpenRouter key req-0123"
    assert call(box, "GET", f"/repos/octo-org/app/actions/runs/{latest['id']}").json() == latest
    assert call(box, "GET", "/repos/octo-org/app/actions/runs/1").status_code == 404
    assert call(box, "GET", f"{wf}/runs?event=push").json()["total_count"] == 0

    # The run-name is a per-workflow template, settable from another process.
    control = box.url + "/_sandbox/github/run-name"
    body = {"repo": "octo-org/app", "workflow": "rotate-openrouter-key.yml", "run_name": None}
    assert requests.put(control, json=body, timeout=5).status_code == 204
    call(box, "POST", f"{wf}/dispatches", {"ref": "main", "inputs": inputs})
    assert call(box, "GET", f"{wf}/runs").json()["workflow_runs"][0]["display_title"] == (
        "Rotate OpenRouter key"
    )
    body["run_name"] = "${{ github.event.inputs.reason }} / ${{ inputs.request-id }}"
    assert requests.put(control, json=body, timeout=5).status_code == 204
    call(box, "POST", f"{wf}/dispatches", {"ref": "main", "inputs": inputs})
    assert call(box, "GET", f"{wf}/runs").json()["workflow_runs"][0]["display_title"] == (
        "leak / req-0123"
    )


def test_the_webhook_finds_a_run_by_its_title(box: Sandbox) -> None:
    from webhook.github_api import WebhookGitHub

    gh = WebhookGitHub(box.github.admin_token, box.github_url, write_interval=0)
    started = time.time()
    url = gh.dispatch_workflow(
        "octo-org/app", "rotate-openrouter-key.yml", "main", {"request-id": "r-77"}
    )
    assert gh.find_run("octo-org/app", "rotate-openrouter-key.yml", "r-77", started) == url
    assert gh.find_run("octo-org/app", "rotate-openrouter-key.yml", "r-78", started) is None


def test_permissions_comments_reactions(loose_box: Sandbox) -> None:
    box = loose_box  # sends requests the spec forbids, to see them refused
    box.github.set_permission("octo-org/app", "Mona", "maintain")
    perm = call(box, "GET", "/repos/octo-org/app/collaborators/mona/permission").json()
    assert (perm["permission"], perm["role_name"]) == ("write", "maintain")
    nobody = call(box, "GET", "/repos/octo-org/app/collaborators/ghost/permission").json()
    assert nobody["permission"] == "none"
    made = call(box, "POST", "/repos/octo-org/app/issues/5/comments", {"body": "done"})
    assert made.status_code == 201 and made.json()["body"] == "done"
    path = "/repos/octo-org/app/issues/comments/77/reactions"
    assert call(box, "POST", path, {"content": "eyes"}).status_code == 201
    assert call(box, "POST", path, {"content": "eyes"}).status_code == 200
    assert call(box, "POST", path, {"content": "wow"}).status_code == 422


def test_faults_and_latency_reach_github_routes(box: Sandbox) -> None:
    box.fault(r"^/github/repos/octo-org/app$", status=503, retry_after="2")
    failed = call(box, "GET", "/repos/octo-org/app")
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
    assert failed.json()["documentation_url"].startswith("https://docs.github.com")
    assert call(box, "GET", "/repos/octo-org/app").status_code == 200


def test_control_api(box: Sandbox) -> None:
    control = box.url + "/_sandbox/github"
    assert requests.post(f"{control}/orgs", json={"login": "acme"}, timeout=5).status_code == 201
    made = requests.post(
        f"{control}/repos",
        json={"full_name": "acme/web", "environments": ["prod"]},
        timeout=5,
    )
    assert made.status_code == 201 and made.json()["id"] == box.github.repos["acme/web"].id
    assert requests.post(
        f"{control}/environments", json={"repo": "acme/web", "name": "stage"}, timeout=5
    ).ok
    assert requests.put(
        f"{control}/permissions",
        json={"repo": "acme/web", "user": "bob", "permission": "write"},
        timeout=5,
    ).ok
    assert requests.post(
        f"{control}/workflows",
        json={"repo": "acme/web", "path": "r.yml", "inputs": ["a"]},
        timeout=5,
    ).ok
    key_path = "/repos/acme/web/environments/stage/secrets/public-key"
    put = call(
        box,
        "PUT",
        f"/repos/acme/web/environments/stage/secrets/{NAME}",
        sealed_for(box, key_path, "v1"),
    )
    assert put.status_code == 201
    opened = requests.get(
        f"{control}/secret", params={"scope": "env:acme/web/stage", "name": NAME}, timeout=5
    ).json()
    assert opened["value"] == "v1" and opened["scope"] == "env:acme/web/stage"
    listed = requests.get(f"{control}/secrets", timeout=5).json()
    assert [(s["scope"], s["name"]) for s in listed] == [("env:acme/web/stage", NAME)]
    assert "value" not in listed[0]
    assert call(
        box,
        "POST",
        "/repos/acme/web/actions/workflows/r.yml/dispatches",
        {"ref": "m", "inputs": {"a": "1"}},
    ).ok
    assert requests.get(f"{control}/dispatches", timeout=5).json()[0]["inputs"] == {"a": "1"}
    assert (
        call(box, "GET", "/repos/acme/web/collaborators/bob/permission").json()["permission"]
        == "write"
    )
    assert requests.get(f"{control}/comments", timeout=5).json() == []
    assert requests.get(f"{control}/reactions", timeout=5).json() == []
    app = requests.get(f"{control}/app", timeout=5).json()
    assert app["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    missing = requests.get(
        f"{control}/secret", params={"scope": "repo:a/b", "name": "X"}, timeout=5
    )
    assert missing.status_code == 404


def test_app_endpoints_need_the_apps_jwt(box: Sandbox) -> None:
    import time

    import jwt

    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 300, "iss": str(box.github.app_id)}
    good = jwt.encode(claims, box.github.app_private_key, algorithm="RS256")
    assert call(box, "GET", "/repos/octo-org/app/installation", token=good).status_code == 200
    assert call(box, "GET", "/repos/octo-org/app/installation", token="a.b.c").status_code == 401
    wrong_iss = jwt.encode({**claims, "iss": "1"}, box.github.app_private_key, algorithm="RS256")
    assert call(box, "GET", "/repos/octo-org/app/installation", token=wrong_iss).status_code == 401
    assert call(box, "GET", "/repos/octo-org/app/installation").status_code == 401  # a PAT
    path = f"/app/installations/{box.github.installation_id}/access_tokens"
    token = call(box, "POST", path, {}, token=good).json()["token"]
    assert (
        call(
            box,
            "POST",
            "/repos/octo-org/app/actions/variables",
            {"name": "A", "value": "1"},
            token=token,
        ).status_code
        == 201
    )
    assert (
        call(box, "POST", "/app/installations/1/access_tokens", {}, token=good).status_code == 404
    )
