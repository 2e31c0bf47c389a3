"""Variables, dispatch, permissions, comments, reactions and GitHub App auth, over loopback
(the webhook's client: the engine's plus its own calls).

Every exchange is validated against the official description (``github_sandbox``).
"""

from __future__ import annotations

import pytest

from openrouter_rotator.errors import ConfigError, GitHubAuthError, GitHubStatusError
from openrouter_rotator.github import (
    VariableExists,
    VariableNotFound,
    parse_target,
)
from openrouter_rotator.sandbox import Sandbox
from webhook.github_api import WebhookGitHub

REPO = "octo-org/app"


@pytest.fixture
def gh(github_sandbox: Sandbox) -> WebhookGitHub:
    return WebhookGitHub(
        github_sandbox.github.admin_token, github_sandbox.github_url, write_interval=0
    )


def test_variable_lifecycle(github_sandbox: Sandbox, gh: WebhookGitHub) -> None:
    assert gh.get_variable(REPO, "OPENROUTER_API_KEY_ROTATION") is None
    with pytest.raises(VariableNotFound):
        gh.update_variable(REPO, "OPENROUTER_API_KEY_ROTATION", "{}")
    gh.create_variable(REPO, "OPENROUTER_API_KEY_ROTATION", '{"v": 1}')
    with pytest.raises(VariableExists):
        gh.create_variable(REPO, "OPENROUTER_API_KEY_ROTATION", '{"v": 2}')
    gh.update_variable(REPO, "OPENROUTER_API_KEY_ROTATION", '{"v": 3}')
    assert gh.get_variable(REPO, "openrouter_api_key_rotation") == '{"v": 3}'
    assert github_sandbox.github.variable(REPO, "OPENROUTER_API_KEY_ROTATION") == '{"v": 3}'
    with pytest.raises(ConfigError):
        gh.create_variable(REPO, "GITHUB_STATE", "{}")
    with pytest.raises(ValueError):  # callers pass validated names: a bug, not a user's error
        gh.get_variable("not-a-repo", "X")


def test_variables_of_a_missing_repository(gh: WebhookGitHub) -> None:
    assert gh.get_variable("octo-org/nope", "STATE") is None  # indistinguishable, by design
    with pytest.raises(GitHubAuthError, match="Variables: write"):
        gh.create_variable("octo-org/nope", "STATE", "{}")
    with pytest.raises(GitHubAuthError):
        gh.update_variable("octo-org/nope", "STATE", "{}")


def test_dispatch_returns_the_run_url_and_is_recorded(
    github_sandbox: Sandbox, gh: WebhookGitHub
) -> None:
    inputs = {"force": "true", "reason": "slack: @mona: leaked", "emergency": "false"}
    url = gh.dispatch_workflow(REPO, "rotate-openrouter-key.yml", "main", inputs)
    [dispatch] = github_sandbox.github.dispatches
    assert url is not None and url.endswith(f"/octo-org/app/actions/runs/{dispatch.run_id}")
    assert (dispatch.workflow, dispatch.ref, dispatch.inputs) == (
        "rotate-openrouter-key.yml",
        "main",
        inputs,
    )


def test_dispatch_refusals(github_sandbox: Sandbox, gh: WebhookGitHub) -> None:
    with pytest.raises(GitHubStatusError) as caught:
        gh.dispatch_workflow(REPO, "rotate-openrouter-key.yml", "main", {"colour": "red"})
    assert caught.value.status == 422 and 'Unexpected inputs provided: ["colour"]' in str(
        caught.value
    )
    with pytest.raises(GitHubAuthError, match="Actions: write"):
        gh.dispatch_workflow(REPO, "missing.yml", "main", {})
    readonly = WebhookGitHub(github_sandbox.github.readonly_token, github_sandbox.github_url)
    with pytest.raises(GitHubAuthError):
        readonly.dispatch_workflow(REPO, "rotate-openrouter-key.yml", "main", {})
    assert github_sandbox.github.dispatches == []


@pytest.mark.parametrize("role", ["admin", "maintain", "write", "triage", "read", "none"])
def test_collaborator_permission(github_sandbox: Sandbox, gh: WebhookGitHub, role: str) -> None:
    github_sandbox.github.set_permission(REPO, "mona", role)
    assert gh.collaborator_permission(REPO, "mona") == role
    assert gh.collaborator_permission(REPO, "someone-else") == "none"


def test_comments_and_reactions_are_recorded(github_sandbox: Sandbox, gh: WebhookGitHub) -> None:
    gh.create_issue_comment(REPO, 12, "Rotation dispatched: run 1")
    gh.add_reaction(REPO, 987654, "rocket")
    gh.add_reaction(REPO, 987654, "rocket")  # the same reaction twice is one reaction
    [comment] = github_sandbox.github.comments
    assert (comment.repo, comment.issue_number, comment.body) == (
        REPO,
        12,
        "Rotation dispatched: run 1",
    )
    [reaction] = github_sandbox.github.reactions
    assert (reaction.comment_id, reaction.content) == (987654, "rocket")
    with pytest.raises(ValueError):
        gh.add_reaction(REPO, 987654, "thumbsup")


def test_github_app_installation_token(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    app = WebhookGitHub.from_app(
        box.github.app_id, box.github.app_private_key, REPO, box.github_url, write_interval=0
    )
    assert app.requests_made == 2
    plan = app.preflight([parse_target("repo:octo-org/app")], "OPENROUTER_API_KEY")
    app.publish(plan, "sk-or-v1-from-the-app")
    assert box.github.open_secret("repo:octo-org/app", "OPENROUTER_API_KEY") == (
        "sk-or-v1-from-the-app"
    )


def test_github_app_with_the_wrong_key_is_refused(github_sandbox: Sandbox) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    box = github_sandbox
    with pytest.raises(GitHubAuthError) as caught:
        WebhookGitHub.from_app(box.github.app_id, other, REPO, box.github_url)
    assert caught.value.status == 401 and "installed on octo-org/app" in str(caught.value)
    with pytest.raises(GitHubAuthError):
        WebhookGitHub.from_app(box.github.app_id, box.github.app_private_key, "x/y", box.github_url)
    with pytest.raises(ConfigError):
        WebhookGitHub.from_app(box.github.app_id, "not a key", REPO, box.github_url)
