"""Error paths of the GitHub client, with ``responses`` standing in for api.github.com.

Rate limits, 5xx, lost connections and 401/403/404 explanations. Waits are observed through an
injected ``sleep``, never slept.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
import responses
from nacl.public import PrivateKey, SealedBox

from openrouter_rotator.errors import (
    GitHubAuthError,
    GitHubStatusError,
    GitHubTransportError,
)
from openrouter_rotator.github import (
    GitHubClient,
    TargetResult,
    VariableExists,
    VariableNotFound,
    parse_target,
)
from openrouter_rotator.retry import RetryPolicy
from webhook.github_api import WebhookGitHub

API = "https://api.github.com"
# PyGithub's connection class spells the port out, so the mocks must too.
MOCK = "https://api.github.com:443"
TOKEN = "ghp_errorpathtoken0123456789"
NAME = "OPENROUTER_API_KEY"
VALUE = "sk-or-v1-" + "ab" * 32
PRIVATE = PrivateKey.generate()
PUBLIC_KEY = {
    "key_id": "568250167242549743",
    "key": base64.b64encode(bytes(PRIVATE.public_key)).decode(),
}
REPO_KEY = f"{MOCK}/repos/octo/app/actions/secrets/public-key"
REPO_SECRET = f"{MOCK}/repos/octo/app/actions/secrets/{NAME}"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gh(sleeps: Sleeps) -> WebhookGitHub:
    """The engine's client with the webhook's calls: every GitHub call the project makes."""
    return WebhookGitHub(TOKEN, API, write_interval=0, retries=3, sleep=sleeps)


def err(message: str, status: int) -> dict[str, str]:
    return {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }


def opened(call: responses.Call) -> str:
    body = json.loads(call.request.body or b"{}")
    return SealedBox(PRIVATE).decrypt(base64.b64decode(body["encrypted_value"])).decode()


@responses.activate
def test_secondary_rate_limit_with_retry_after_is_honoured(
    gh: WebhookGitHub, sleeps: Sleeps
) -> None:
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    responses.put(
        REPO_SECRET,
        status=403,
        json=err("You have exceeded a secondary rate limit.", 403),
        headers={"retry-after": "7"},
    )
    responses.put(REPO_SECRET, status=201, json={})
    plan = gh.preflight([parse_target("repo:octo/app")], NAME)
    assert gh.publish(plan, VALUE) == [TargetResult("repo:octo/app", "created")]
    assert sleeps == [7.0]
    assert opened(responses.calls[-1]) == VALUE
    assert gh.requests_made == 3


@responses.activate
def test_429_with_a_reset_time_waits_until_the_reset(gh: WebhookGitHub, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 20
    responses.get(
        REPO_KEY,
        status=429,
        json=err("API rate limit exceeded", 429),
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    gh.preflight([parse_target("repo:octo/app")], NAME)
    assert len(sleeps) == 1 and 19 <= sleeps[0] <= 22


@responses.activate
def test_secondary_rate_limit_without_headers_waits_a_minute(
    gh: WebhookGitHub, sleeps: Sleeps
) -> None:
    responses.post(
        f"{MOCK}/repos/octo/app/actions/variables",
        status=403,
        json=err("You have exceeded a secondary rate limit. Please wait a few minutes.", 403),
    )
    responses.post(f"{MOCK}/repos/octo/app/actions/variables", status=201, json={})
    gh.create_variable("octo/app", "STATE", "{}")  # a rate-limited POST was not processed
    assert sleeps == [60.0]


@responses.activate
def test_a_secondary_limit_waits_longer_each_time_then_gives_up_clearly(sleeps: Sleeps) -> None:
    """GitHub's guidance: honour retry-after, else wait at least a minute; if it persists,
    wait exponentially longer; give up after a few tries with a clear message."""
    gh = GitHubClient(TOKEN, API, write_interval=0, sleep=sleeps)
    responses.get(
        REPO_KEY,
        status=403,
        json=err("You have exceeded a secondary rate limit.", 403),
        headers={"retry-after": "1"},
    )
    with pytest.raises(GitHubStatusError) as caught:
        gh.preflight([parse_target("repo:octo/app")], NAME)
    assert sleeps == [1.0, 120.0, 240.0]  # what it asked, then at least 2 and 4 minutes
    assert len(responses.calls) == 4
    message = str(caught.value)
    assert "secondary rate limit" in message and "run again later" in message


@responses.activate
def test_a_secondary_limit_without_headers_doubles_from_a_minute(sleeps: Sleeps) -> None:
    gh = GitHubClient(TOKEN, API, write_interval=0, sleep=sleeps)
    limited = err("You have exceeded a secondary rate limit.", 403)
    for _ in range(3):
        responses.get(REPO_KEY, status=403, json=limited)
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    gh.preflight([parse_target("repo:octo/app")], NAME)
    assert sleeps == [60.0, 120.0, 240.0]


@responses.activate
def test_the_retry_scale_skips_the_waits_and_keeps_the_policy(sleeps: Sleeps) -> None:
    """The Config setting tests use: the same decisions, no time spent."""
    gh = GitHubClient(TOKEN, API, write_interval=0, retry=RetryPolicy(scale=0), sleep=sleeps)
    responses.get(REPO_KEY, status=403, json=err("You have exceeded a secondary rate limit.", 403))
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    gh.preflight([parse_target("repo:octo/app")], NAME)
    assert sleeps == [0.0]


@responses.activate
def test_a_wait_longer_than_the_cap_fails_at_once(sleeps: Sleeps) -> None:
    gh = GitHubClient(TOKEN, API, write_interval=0, max_rate_limit_wait=30, sleep=sleeps)
    responses.get(
        REPO_KEY,
        status=403,
        json=err("API rate limit exceeded for installation", 403),
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3000)},
    )
    with pytest.raises(GitHubStatusError, match="run again later"):
        gh.preflight([parse_target("repo:octo/app")], NAME)
    assert sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_5xx_on_an_idempotent_put_is_retried(gh: WebhookGitHub, sleeps: Sleeps) -> None:
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    responses.put(REPO_SECRET, status=502, json=err("Server Error", 502))
    responses.put(REPO_SECRET, status=503, json=err("Unavailable", 503))
    responses.put(REPO_SECRET, status=204)
    plan = gh.preflight([parse_target("repo:octo/app")], NAME)
    assert gh.publish(plan, VALUE) == [TargetResult("repo:octo/app", "updated")]
    # full jitter (retry.py): each wait within its exponential ceiling
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


@responses.activate
def test_5xx_that_persists_is_reported_after_the_retries(gh: WebhookGitHub, sleeps: Sleeps) -> None:
    responses.get(REPO_KEY, json=PUBLIC_KEY)
    responses.put(REPO_SECRET, status=500, json=err("Server Error", 500))
    plan = gh.preflight([parse_target("repo:octo/app")], NAME)
    [result] = gh.publish(plan, VALUE)
    assert result.status == "failed"
    assert (
        result.error == f"GitHub PUT /repos/octo/app/actions/secrets/{NAME}: HTTP 500: Server Error"
    )
    assert len(responses.calls) == 1 + 4 and len(sleeps) == 3


@responses.activate
def test_a_dispatch_is_never_repeated_on_5xx(gh: WebhookGitHub, sleeps: Sleeps) -> None:
    url = f"{MOCK}/repos/octo/app/actions/workflows/rotate.yml/dispatches"
    responses.post(url, status=502, json=err("Bad gateway", 502))
    with pytest.raises(GitHubStatusError, match="HTTP 502"):
        gh.dispatch_workflow("octo/app", "rotate.yml", "main", {"force": "true"})
    assert len(responses.calls) == 1 and sleeps == []
    sent = json.loads(responses.calls[0].request.body or b"{}")
    assert sent == {"ref": "main", "inputs": {"force": "true"}, "return_run_details": True}


@responses.activate
def test_dispatch_without_run_details_returns_none(gh: WebhookGitHub) -> None:
    responses.post(f"{MOCK}/repos/octo/app/actions/workflows/7/dispatches", status=204)
    assert gh.dispatch_workflow("octo/app", "7", "main", {}) is None


@responses.activate
def test_lost_connections_are_retried_on_reads_then_explained(
    gh: WebhookGitHub, sleeps: Sleeps
) -> None:
    responses.get(REPO_KEY, body=requests.ConnectionError("reset"))
    with pytest.raises(GitHubTransportError) as caught:
        gh.preflight([parse_target("repo:octo/app")], NAME)
    assert "4 attempt(s)" in str(caught.value) and "reachable" in str(caught.value)
    assert len(sleeps) == 3


@responses.activate
def test_a_timeout_is_a_transport_error(sleeps: Sleeps) -> None:
    gh = GitHubClient(TOKEN, API, write_interval=0, retries=0, sleep=sleeps)
    responses.get(
        f"{MOCK}/repos/octo/app/actions/variables/STATE", body=requests.ReadTimeout("slow")
    )
    with pytest.raises(GitHubTransportError, match="timed out"):
        gh.get_variable("octo/app", "STATE")


@responses.activate
def test_401_explains_the_token_is_bad(gh: WebhookGitHub) -> None:
    responses.get(REPO_KEY, status=401, json=err("Bad credentials", 401))
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("repo:octo/app")], NAME)
    assert caught.value.status == 401
    assert "invalid, expired or revoked" in str(caught.value)
    assert TOKEN not in str(caught.value)


@responses.activate
def test_403_on_org_secrets_names_the_org_permission(gh: WebhookGitHub) -> None:
    responses.get(
        f"{MOCK}/orgs/octo/actions/secrets/public-key",
        status=403,
        json=err("Resource not accessible by personal access token", 403),
    )
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("org:octo")], NAME)
    text = str(caught.value)
    assert "lacks a permission" in text and 'organization permission "Secrets: write"' in text


@responses.activate
def test_403_quotes_githubs_accepted_permissions(gh: WebhookGitHub) -> None:
    """When GitHub says what the call needs, the hint says it first, in GitHub's names."""
    responses.put(
        f"{MOCK}/repos/octo/app/environments/production/secrets/{NAME}",
        status=403,
        json=err("Resource not accessible by personal access token", 403),
        headers={"X-Accepted-GitHub-Permissions": "environments=write,secrets=write"},
    )
    responses.get(
        f"{MOCK}/repos/octo/app/environments/production/secrets/public-key",
        json={
            "key_id": "1",
            "key": base64.b64encode(bytes(PrivateKey.generate().public_key)).decode(),
        },
    )
    plan = gh.preflight([parse_target("env:octo/app/production")], NAME)
    [result] = gh.publish(plan, "sk-or-v1-value")
    assert result.status == "failed" and result.error is not None
    assert result.error.index("GitHub says this call needs") < result.error.index("lacks")
    assert (
        'repository permissions "Environments: write" and "Secrets: write" '
        "(X-Accepted-GitHub-Permissions: environments=write,secrets=write)"
    ) in result.error
    assert "sk-or-v1-value" not in result.error


@responses.activate
def test_403_without_the_header_keeps_the_general_advice(gh: WebhookGitHub) -> None:
    responses.get(REPO_KEY, status=403, json=err("Must have admin rights to Repository.", 403))
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("repo:octo/app")], NAME)
    assert "GitHub says" not in str(caught.value)
    assert 'repository permission "Secrets: write" for repo: targets' in str(caught.value)


@responses.activate
def test_404_of_an_environment_key_tells_a_missing_environment(gh: WebhookGitHub) -> None:
    responses.get(
        f"{MOCK}/repos/octo/app/environments/review%2Fpr-1/secrets/public-key",
        status=404,
        json=err("Not Found", 404),
    )
    responses.get(f"{MOCK}/repos/octo/app", json={"id": 1, "full_name": "octo/app"})
    with pytest.raises(GitHubStatusError) as caught:
        gh.preflight([parse_target("env:octo/app/review/pr-1")], NAME)
    assert "environment 'review/pr-1' does not exist in octo/app" in str(caught.value)


@responses.activate
def test_404_of_an_environment_key_in_a_missing_repository(gh: WebhookGitHub) -> None:
    responses.get(
        f"{MOCK}/repos/octo/gone/environments/prod/secrets/public-key",
        status=404,
        json=err("Not Found", 404),
    )
    responses.get(f"{MOCK}/repos/octo/gone", status=404, json=err("Not Found", 404))
    with pytest.raises(GitHubAuthError, match="cannot see it"):
        gh.preflight([parse_target("env:octo/gone/prod")], NAME)


@responses.activate
def test_an_unusable_public_key_is_refused(gh: WebhookGitHub) -> None:
    responses.get(REPO_KEY, json={"key_id": "1", "key": "bm90IGEga2V5"})
    with pytest.raises(GitHubStatusError, match="not a base64 Curve25519 key"):
        gh.preflight([parse_target("repo:octo/app")], NAME)


@responses.activate
def test_enterprise_server_api_root_with_a_path(sleeps: Sleeps) -> None:
    ghes = "https://ghe.example.com/api/v3"
    gh = GitHubClient(TOKEN, ghes, write_interval=0, sleep=sleeps)
    responses.get(
        "https://ghe.example.com:443/api/v3/repos/octo/app/actions/variables/STATE",
        json={"name": "STATE", "value": "{}"},
    )
    assert gh.get_variable("octo/app", "STATE") == "{}"
    assert responses.calls[0].request.headers["Authorization"] == f"token {TOKEN}"


@responses.activate
def test_variables_conflict_and_missing_are_distinct_errors(gh: WebhookGitHub) -> None:
    base = f"{MOCK}/repos/octo/app/actions/variables"
    responses.post(base, status=409, json=err("Already exists - Variable already exists", 409))
    responses.patch(f"{base}/STATE", status=404, json=err("Not Found", 404))
    responses.get(f"{MOCK}/repos/octo/app", json={"id": 1})
    responses.patch(f"{base}/STATE", status=404, json=err("Not Found", 404))
    responses.get(f"{MOCK}/repos/octo/app", status=404, json=err("Not Found", 404))
    with pytest.raises(VariableExists):
        gh.create_variable("octo/app", "STATE", "{}")
    with pytest.raises(VariableNotFound):
        gh.update_variable("octo/app", "STATE", "{}")
    with pytest.raises(GitHubAuthError, match='"Variables: write"'):
        gh.update_variable("octo/app", "STATE", "{}")


@responses.activate
def test_a_selected_org_secret_keeps_all_its_repositories(gh: WebhookGitHub) -> None:
    base = f"{MOCK}/orgs/octo/actions/secrets"
    responses.get(f"{base}/public-key", json=PUBLIC_KEY)
    responses.get(
        f"{base}/{NAME}",
        json={"name": NAME, "visibility": "selected", "created_at": "x", "updated_at": "x"},
    )
    for page in (1, 2):
        ids = range(1, 101) if page == 1 else range(101, 151)
        responses.get(
            f"{base}/{NAME}/repositories",
            match=[responses.matchers.query_param_matcher({"per_page": "100", "page": str(page)})],
            json={"total_count": 150, "repositories": [{"id": i} for i in ids]},
        )
    responses.put(f"{base}/{NAME}", status=204)
    plan = gh.preflight([parse_target("org:octo")], NAME)
    assert gh.publish(plan, VALUE) == [TargetResult("org:octo", "updated")]
    sent = json.loads(responses.calls[-1].request.body or b"{}")
    assert sent["visibility"] == "selected"
    assert sent["selected_repository_ids"] == list(range(1, 151))
    assert opened(responses.calls[-1]) == VALUE


@responses.activate
def test_collaborator_permission_uses_the_role_name(gh: WebhookGitHub) -> None:
    url = f"{MOCK}/repos/octo/app/collaborators/mona/permission"
    for permission, role, expected in [
        ("write", "maintain", "maintain"),
        ("read", "triage", "triage"),
        ("write", "security-reviewer", "write"),  # a custom role counts as its base
        ("none", "", "none"),
    ]:
        responses.get(url, json={"permission": permission, "role_name": role, "user": None})
        assert gh.collaborator_permission("octo/app", "mona") == expected
        responses.reset()
    responses.get(url, status=404, json=err("Not Found", 404))
    with pytest.raises(GitHubAuthError):
        gh.collaborator_permission("octo/app", "mona")
