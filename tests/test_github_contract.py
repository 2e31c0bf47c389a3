"""Contract: what PyGithub sends for us, and what the stand-in answers, per the official spec."""

from __future__ import annotations

import pytest
from openapi_core.validation.response.exceptions import InvalidData

from openrouter_rotator.github import parse_target
from openrouter_rotator.sandbox import Sandbox
from webhook.github_api import WebhookGitHub

from .conftest import assert_api_version, check_github_exchanges

NAME = "OPENROUTER_API_KEY"


def run_everything(box: Sandbox) -> None:
    box.github.add_repo("octo-org/web")
    gh = WebhookGitHub(box.github.admin_token, box.github_url, write_interval=0)
    specs = [
        "repo:octo-org/app",
        "env:octo-org/app/production",
        "dependabot:octo-org/app",
        "org:octo-org?visibility=selected&repositories=app,web",
    ]
    gh.publish(gh.preflight([parse_target(s) for s in specs], NAME), "sk-or-v1-one")
    # Without a visibility: the existing org secret and its repositories are read back.
    gh.publish(gh.preflight([parse_target("org:octo-org")], NAME), "sk-or-v1-two")
    gh.get_variable("octo-org/app", "STATE")
    gh.create_variable("octo-org/app", "STATE", "{}")
    gh.update_variable("octo-org/app", "STATE", '{"v": 1}')
    gh.get_variable("octo-org/app", "STATE")
    gh.dispatch_workflow("octo-org/app", "rotate-openrouter-key.yml", "main", {"force": "true"})
    gh.collaborator_permission("octo-org/app", "mona")
    gh.create_issue_comment("octo-org/app", 1, "ok")
    gh.add_reaction("octo-org/app", 1, "+1")
    WebhookGitHub.from_app(
        box.github.app_id, box.github.app_private_key, "octo-org/app", box.github_url
    )
    try:
        gh.preflight([parse_target("env:octo-org/app/staging")], NAME)
    except Exception:  # noqa: BLE001 - the 404s are what is being recorded here
        pass


def test_every_operation_the_client_uses_is_in_the_contract(sandbox: Sandbox) -> None:
    run_everything(sandbox)
    report = check_github_exchanges(sandbox.github.exchanges)
    operations = {op.rsplit(" ", 1)[0] for op in report.operations}
    assert operations == {
        "GET /repos/octo-org/app/actions/secrets/public-key",
        "GET /repos/octo-org/app/environments/production/secrets/public-key",
        "GET /repos/octo-org/app/dependabot/secrets/public-key",
        "GET /orgs/octo-org/actions/secrets/public-key",
        "GET /repos/octo-org/app",
        "GET /repos/octo-org/web",
        f"GET /orgs/octo-org/actions/secrets/{NAME}",
        f"GET /orgs/octo-org/actions/secrets/{NAME}/repositories",
        f"PUT /repos/octo-org/app/actions/secrets/{NAME}",
        f"PUT /repos/octo-org/app/environments/production/secrets/{NAME}",
        f"PUT /repos/octo-org/app/dependabot/secrets/{NAME}",
        f"PUT /orgs/octo-org/actions/secrets/{NAME}",
        "GET /repos/octo-org/app/actions/variables/STATE",
        "POST /repos/octo-org/app/actions/variables",
        "PATCH /repos/octo-org/app/actions/variables/STATE",
        "POST /repos/octo-org/app/actions/workflows/rotate-openrouter-key.yml/dispatches",
        "GET /repos/octo-org/app/collaborators/mona/permission",
        "POST /repos/octo-org/app/issues/1/comments",
        "POST /repos/octo-org/app/issues/comments/1/reactions",
        "GET /repos/octo-org/app/installation",
        "POST /app/installations/7100001/access_tokens",
        "GET /repos/octo-org/app/environments/staging/secrets/public-key",
    }
    assert report.total == len(sandbox.github.exchanges) == 26
    assert report.error_shape == 2  # the variable read before it exists, the missing environment
    # Every request, the GitHub App's JWT calls included, names the API version.
    assert_api_version(sandbox.github.exchanges)


def test_the_check_is_not_vacuous(sandbox: Sandbox) -> None:
    gh = WebhookGitHub(sandbox.github.admin_token, sandbox.github_url, write_interval=0)
    gh.collaborator_permission("octo-org/app", "mona")
    [exchange] = sandbox.github.exchanges
    exchange.response_body = exchange.response_body.replace(b'"role_name"', b'"role"', 1)
    with pytest.raises(InvalidData):
        check_github_exchanges([exchange])
