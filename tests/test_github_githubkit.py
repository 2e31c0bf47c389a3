"""The GitHub stand-in driven by githubkit, a client nobody here wrote, under both API versions.

githubkit sends each request with its version's ``X-GitHub-Api-Version`` and parses each answer
into its models (``parsed_data``); its typed error is raised for each error status. On top of
that every exchange is checked by ``tests/githubkit_oracle.py`` (no field the model lacks) and
against the published description (``check_github_exchanges``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed
from nacl.public import PublicKey, SealedBox

from openrouter_rotator.sandbox import Sandbox

from .conftest import check_github_exchanges
from .githubkit_oracle import VERSIONS, check_exchanges

NAME = "OPENROUTER_API_KEY"
OWNER, REPO = "octo-org", "app"
WORKFLOW = "rotate-openrouter-key.yml"


def kit(box: Sandbox, token: str) -> GitHub:
    return GitHub(token, base_url=box.github_url + "/", auto_retry=False, http_cache=False)


@pytest.fixture
def box(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    check_github_exchanges(sandbox.github.exchanges)


def sealed(key: str, value: str) -> str:
    return base64.b64encode(
        SealedBox(PublicKey(base64.b64decode(key))).encrypt(value.encode())
    ).decode()


@pytest.mark.parametrize("version", list(VERSIONS))
def test_every_route_through_githubkit(box: Sandbox, version: str) -> None:
    box.github.add_repo("octo-org/web")
    box.github.set_permission("octo-org/app", "mona", "maintain")
    with kit(box, box.github.admin_token) as client:
        rest = client.rest(version)  # type: ignore[operator]
        repo = rest.repos.get(OWNER, REPO).parsed_data
        assert repo.full_name == "octo-org/app"
        assert (
            rest.repos.get_environment(OWNER, REPO, "production").parsed_data.name == "production"
        )

        key = rest.actions.get_repo_public_key(OWNER, REPO).parsed_data
        put = rest.actions.create_or_update_repo_secret(
            OWNER, REPO, NAME, encrypted_value=sealed(key.key, "one"), key_id=key.key_id
        )
        assert put.status_code == 201
        env_key = rest.actions.get_environment_public_key(OWNER, REPO, "production").parsed_data
        rest.actions.create_or_update_environment_secret(
            OWNER,
            REPO,
            "production",
            NAME,
            encrypted_value=sealed(env_key.key, "one"),
            key_id=env_key.key_id,
        )
        bot_key = rest.dependabot.get_repo_public_key(OWNER, REPO).parsed_data
        rest.dependabot.create_or_update_repo_secret(
            OWNER, REPO, NAME, encrypted_value=sealed(bot_key.key, "one"), key_id=bot_key.key_id
        )
        org_key = rest.actions.get_org_public_key(OWNER).parsed_data
        rest.actions.create_or_update_org_secret(
            OWNER,
            NAME,
            encrypted_value=sealed(org_key.key, "one"),
            key_id=org_key.key_id,
            visibility="selected",
            selected_repository_ids=[repo.id],
        )
        assert rest.actions.get_org_secret(OWNER, NAME).parsed_data.visibility == "selected"
        selected = rest.actions.list_selected_repos_for_org_secret(OWNER, NAME).parsed_data
        assert [r.full_name for r in selected.repositories] == ["octo-org/app"]
        assert box.github.open_secret("org:octo-org", NAME) == "one"

        rest.actions.create_repo_variable(OWNER, REPO, name="STATE", value="{}")
        rest.actions.update_repo_variable(OWNER, REPO, "STATE", value='{"v": 1}')
        assert rest.actions.get_repo_variable(OWNER, REPO, "STATE").parsed_data.value == '{"v": 1}'

        assert rest.actions.get_workflow(OWNER, REPO, WORKFLOW).parsed_data.state == "active"
        dispatched = rest.actions.create_workflow_dispatch(
            OWNER, REPO, WORKFLOW, ref="main", inputs={"force": "true", "request-id": "r1"}
        )
        if version == "2026-03-10":
            # The newer version answers with the run it made.
            assert dispatched.status_code == 200
            run_id = dispatched.parsed_data.workflow_run_id
        else:
            assert dispatched.status_code == 204
            run_id = box.github.dispatches[-1].run_id
        runs = rest.actions.list_workflow_runs(OWNER, REPO, WORKFLOW).parsed_data
        assert [r.id for r in runs.workflow_runs] == [run_id]
        assert rest.actions.get_workflow_run(
            OWNER, REPO, run_id
        ).parsed_data.display_title.endswith("r1")

        level = rest.repos.get_collaborator_permission_level(OWNER, REPO, "mona").parsed_data
        assert (level.permission, level.role_name) == ("write", "maintain")
        comment = rest.issues.create_comment(OWNER, REPO, 7, body="ok").parsed_data
        reaction = rest.reactions.create_for_issue_comment(OWNER, REPO, comment.id, content="+1")
        assert reaction.parsed_data.content == "+1"

    report = check_exchanges(box.github.exchanges)
    assert set(report.by_version) == {version}
    assert report.error_shape == 0


@pytest.mark.parametrize("version", list(VERSIONS))
def test_every_error_is_githubkits_error(box: Sandbox, version: str) -> None:
    calls = [
        (box.github.admin_token, lambda r: r.repos.get(OWNER, "nowhere"), 404),
        ("ghp_wrong", lambda r: r.actions.get_repo_public_key(OWNER, REPO), 401),
        (box.github.readonly_token, lambda r: r.actions.get_repo_public_key(OWNER, REPO), 403),
        (
            box.github.admin_token,
            lambda r: r.actions.create_workflow_dispatch(
                OWNER, REPO, WORKFLOW, ref="main", inputs={"colour": "red"}
            ),
            422,
        ),
        (box.github.admin_token, lambda r: r.actions.get_repo_variable(OWNER, REPO, "NONE"), 404),
        (
            box.github.admin_token,
            lambda r: r.repos.get_environment(OWNER, REPO, "staging"),
            404,
        ),
    ]
    for token, call, status in calls:
        with kit(box, token) as client, pytest.raises(RequestFailed) as raised:
            call(client.rest(version))  # type: ignore[operator]
        assert raised.value.response.status_code == status
    report = check_exchanges(box.github.exchanges)
    assert report.error_shape + report.documented == len(calls)
    forbidden = next(ex for ex in box.github.exchanges if ex.status == 403)
    assert forbidden.response_headers["X-Accepted-GitHub-Permissions"] == "secrets=read"


def test_the_oracle_is_not_vacuous() -> None:
    from .githubkit_oracle import GithubkitOracleError, check

    good = b'{"key_id": "1", "key": "a2V5"}'
    path = "/repos/o/r/actions/secrets/public-key"
    assert check("GET", path, "2022-11-28", 200, good) == "documented"
    with pytest.raises(GithubkitOracleError, match="key"):
        check("GET", path, "2022-11-28", 200, b'{"key_id": "1"}')
    with pytest.raises(GithubkitOracleError, match="colour"):
        check("GET", path, "2022-11-28", 200, b'{"key_id": "1", "key": "a2V5", "colour": "red"}')
    # The 2026-03-10 dispatch answer must carry the run it made.
    dispatch = "/repos/o/r/actions/workflows/w.yml/dispatches"
    with pytest.raises(GithubkitOracleError):
        check("POST", dispatch, "2026-03-10", 200, b"{}")
    with pytest.raises(GithubkitOracleError, match="BasicError"):
        check("GET", path, "2022-11-28", 404, b'{"error": "not GitHub-shaped"}')
