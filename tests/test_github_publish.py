"""Publishing one value to every kind of target, against the GitHub stand-in over loopback.

Every secret written is opened with its scope's private key and compared with the exact value.
Every exchange is validated against the official description (``github_sandbox``).
"""

from __future__ import annotations

import logging
import secrets
import time

import pytest

from openrouter_rotator.config import parse_config
from openrouter_rotator.errors import (
    ConfigError,
    GitHubAuthError,
    GitHubError,
    GitHubStatusError,
    GitHubTransportError,
)
from openrouter_rotator.github import GitHubClient, TargetResult, parse_target
from openrouter_rotator.rotation import Rotator
from openrouter_rotator.sandbox import Sandbox

NAME = "OPENROUTER_API_KEY"


def new_value() -> str:
    return "sk-or-v1-" + secrets.token_hex(32)


def client(box: Sandbox, token: str | None = None, **options: object) -> GitHubClient:
    options.setdefault("write_interval", 0)
    return GitHubClient(token or box.github.admin_token, box.github_url, **options)  # type: ignore[arg-type]


def writes(box: Sandbox) -> list[str]:
    return [f"{r.method} {r.path}" for r in box.requests() if r.method != "GET"]


def test_one_value_reaches_every_kind_of_target(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    box.github.add_org("acme")
    box.github.add_repo("acme/web")
    box.github.add_repo("acme/worker")
    specs = [
        "repo:octo-org/app",
        "env:octo-org/app/production",
        "org:octo-org",
        "dependabot:octo-org/app",
        "org:acme?visibility=selected&repositories=web,worker",
    ]
    gh = client(box)
    plan = gh.preflight([parse_target(s) for s in specs], NAME)
    assert plan.targets == tuple(specs)
    value = new_value()
    assert gh.publish(plan, value) == [TargetResult(s, "created") for s in specs]
    for spec in specs:
        assert box.github.open_secret(spec, NAME) == value
    acme = box.github.secret("org:acme", NAME)
    assert acme is not None and acme.visibility == "selected"
    assert acme.selected_repository_ids == [
        box.github.repos["acme/web"].id,
        box.github.repos["acme/worker"].id,
    ]
    assert box.github.secret("org:octo-org", NAME).visibility == "private"  # type: ignore[union-attr]

    second = new_value()
    plan = gh.preflight([parse_target(s) for s in specs], NAME)
    assert gh.publish(plan, second) == [TargetResult(s, "updated") for s in specs]
    for spec in specs:
        assert box.github.open_secret(spec, NAME) == second


@pytest.mark.parametrize(
    ("kind", "n", "expected"),
    [
        # one public-key GET per scope + one PUT per target
        ("repo", 1, 2),
        ("repo", 5, 10),
        ("env", 4, 8),
        ("dependabot", 3, 6),
        # key + read of the existing secret + PUT, per organization
        ("org", 1, 3),
        ("org", 3, 9),
        # key + one repository GET per selected name + PUT (no read: the scope is given)
        ("org-selected-3", 1, 5),
    ],
)
def test_requests_needed_to_write_one_value(
    github_sandbox: Sandbox, kind: str, n: int, expected: int
) -> None:
    box = github_sandbox
    specs: list[str] = []
    for i in range(n):
        if kind in ("repo", "dependabot"):
            box.github.add_repo(f"octo-org/r{i}")
            specs.append(f"{kind}:octo-org/r{i}")
        elif kind == "env":
            box.github.add_environment("octo-org/app", f"env{i}")
            specs.append(f"env:octo-org/app/env{i}")
        elif kind == "org":
            box.github.add_org(f"org{i}")
            specs.append(f"org:org{i}")
        else:
            for name in ("a", "b", "c"):
                box.github.add_repo(f"octo-org/{name}")
            specs.append("org:octo-org?visibility=selected&repositories=a,b,c")
    gh = client(box)
    plan = gh.preflight([parse_target(s) for s in specs], NAME)
    results = gh.publish(plan, new_value())
    assert all(r.status == "created" for r in results)
    assert gh.requests_made == expected == len(box.requests())
    assert len(writes(box)) == len(specs)  # the PUTs are the only writes


@pytest.mark.parametrize(
    ("first", "ids"),
    [
        ("org:octo-org?visibility=all", ()),
        ("org:octo-org?visibility=private", ()),
        ("org:octo-org?visibility=selected&repositories=app,api", ("app", "api")),
    ],
)
def test_org_secret_keeps_visibility_and_selected_repositories(
    github_sandbox: Sandbox, first: str, ids: tuple[str, ...]
) -> None:
    box = github_sandbox
    gh = client(box)
    gh.publish(gh.preflight([parse_target(first)], NAME), new_value())
    before = box.github.secret("org:octo-org", NAME)
    assert before is not None
    expected_ids = [box.github.repos[f"octo-org/{n}"].id for n in ids]
    assert before.selected_repository_ids == expected_ids

    value = new_value()
    plan = gh.preflight([parse_target("org:octo-org")], NAME)
    assert gh.publish(plan, value) == [TargetResult("org:octo-org", "updated")]
    after = box.github.secret("org:octo-org", NAME)
    assert after is not None
    assert (after.visibility, after.selected_repository_ids) == (
        first.split("visibility=")[1].split("&")[0],
        expected_ids,
    )
    assert box.github.open_secret("org:octo-org", NAME) == value


def test_selected_repositories_of_an_existing_secret_are_read_page_by_page(
    github_sandbox: Sandbox,
) -> None:
    box = github_sandbox
    names = [f"svc{i}" for i in range(105)]
    for name in names:
        box.github.add_repo(f"octo-org/{name}")
    gh = client(box)
    spec = "org:octo-org?visibility=selected&repositories=" + ",".join(names)
    gh.publish(gh.preflight([parse_target(spec)], NAME), new_value())
    box.reset_requests()
    gh.publish(gh.preflight([parse_target("org:octo-org")], NAME), new_value())
    pages = [r for r in box.requests() if r.path.endswith("/repositories")]
    assert [r.query["page"] for r in pages] == ["1", "2"]
    stored = box.github.secret("org:octo-org", NAME)
    assert stored is not None and len(stored.selected_repository_ids) == 105


def test_a_missing_environment_is_found_before_anything_is_written(
    github_sandbox: Sandbox,
) -> None:
    box = github_sandbox
    gh = client(box)
    targets = [parse_target("repo:octo-org/app"), parse_target("env:octo-org/app/staging")]
    with pytest.raises(GitHubStatusError) as caught:
        gh.preflight(targets, NAME)
    message = str(caught.value)
    assert "environment 'staging' does not exist in octo-org/app" in message
    assert "Settings > Environments" in message
    assert writes(box) == []


def test_a_missing_repository_is_found_before_anything_is_written(
    github_sandbox: Sandbox,
) -> None:
    box = github_sandbox
    gh = client(box)
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("repo:octo-org/app"), parse_target("repo:octo-org/nope")], NAME)
    assert caught.value.status == 404
    assert "/repos/octo-org/nope/actions/secrets/public-key" in str(caught.value)
    assert "does not exist, or the token cannot see it" in str(caught.value)
    assert writes(box) == []


def test_every_bad_target_is_reported_at_once(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    gh = client(box)
    targets = [
        parse_target("repo:octo-org/nope"),
        parse_target("env:octo-org/app/staging"),
        parse_target("org:no-such-org"),
        parse_target("org:octo-org?visibility=selected&repositories=app,ghost"),
    ]
    with pytest.raises(GitHubError) as caught:
        gh.preflight(targets, NAME)
    text = str(caught.value)
    assert text.count(" | ") == 3 and "4 targets cannot be written" in text
    for spec in ("repo:octo-org/nope", "env:octo-org/app/staging", "org:no-such-org", "ghost"):
        assert spec in text
    assert writes(box) == []


def test_the_same_location_twice_is_a_configuration_error(github_sandbox: Sandbox) -> None:
    twice = ["org:octo-org", "org:Octo-Org?visibility=all"]
    with pytest.raises(ConfigError) as caught:
        parse_config({"targets": twice, "state_repository": "o/r"}, github_sandbox.env())
    assert caught.value.option == "--target" and "same secret location" in str(caught.value)
    gh = client(github_sandbox)
    with pytest.raises(ValueError):  # what the configuration refused is a bug past it
        gh.preflight([parse_target(t) for t in twice], NAME)
    with pytest.raises(ConfigError):
        gh.preflight([parse_target("repo:octo-org/app")], "GITHUB_KEY")
    assert github_sandbox.requests() == []


def test_the_default_workflow_token_is_refused_with_the_fix(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    gh = client(box, box.github.readonly_token)
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("repo:octo-org/app")], NAME)
    text = str(caught.value)
    assert caught.value.status == 403
    assert "Resource not accessible by integration" in text
    assert "default GITHUB_TOKEN cannot write secrets" in text
    assert '"Secrets: write"' in text
    assert "actions/create-github-app-token" in text
    assert writes(box) == []
    with pytest.raises(GitHubAuthError) as caught:
        gh.create_variable("octo-org/app", "STATE", "{}")
    assert '"Variables: write"' in str(caught.value)


def test_an_unknown_token_is_a_clear_auth_error(github_sandbox: Sandbox) -> None:
    gh = client(github_sandbox, "ghp_not_a_real_token")
    with pytest.raises(GitHubAuthError) as caught:
        gh.preflight([parse_target("repo:octo-org/app"), parse_target("org:octo-org")], NAME)
    assert caught.value.status == 401
    assert "Bad credentials" in str(caught.value)
    assert "invalid, expired or revoked" in str(caught.value)
    assert "ghp_not_a_real_token" not in str(caught.value)
    assert gh.requests_made == 1  # a 401 stops the pre-flight: nothing else can work


def test_a_failed_target_does_not_stop_the_others(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    gh = client(box, retries=1, sleep=lambda s: None)
    specs = ["repo:octo-org/app", "repo:octo-org/api", "dependabot:octo-org/app"]
    plan = gh.preflight([parse_target(s) for s in specs], NAME)
    box.fault(
        r"/repos/octo-org/api/actions/secrets/OPENROUTER", method="PUT", status=502, times=None
    )
    value = new_value()
    results = gh.publish(plan, value)
    assert [r.status for r in results] == ["created", "failed", "created"]
    assert results[1].error is not None and "HTTP 502" in results[1].error
    assert value not in results[1].error
    assert box.github.open_secret("repo:octo-org/app", NAME) == value
    assert box.github.open_secret("dependabot:octo-org/app", NAME) == value
    puts = [r for r in box.requests() if r.method == "PUT" and "/api/" in r.path]
    assert len(puts) == 2  # a secret PUT is idempotent: retried once, then reported


def test_a_key_rotated_after_the_preflight_is_fetched_again(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    gh = client(box)
    plan = gh.preflight([parse_target("env:octo-org/app/production")], NAME)
    box.github.rotate_key("env:octo-org/app/production")
    value = new_value()
    assert gh.publish(plan, value) == [TargetResult("env:octo-org/app/production", "created")]
    assert box.github.open_secret("env:octo-org/app/production", NAME) == value


def test_the_plaintext_never_leaves_sealed(
    github_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    box = github_sandbox
    caplog.set_level(logging.DEBUG)  # PyGithub logs every request body at DEBUG
    value = new_value()
    gh = client(box, retries=0)
    specs = [
        "repo:octo-org/app",
        "env:octo-org/app/production",
        "org:octo-org",
        "repo:octo-org/api",
    ]
    plan = gh.preflight([parse_target(s) for s in specs], NAME)
    box.fault(r"/repos/octo-org/api/actions/secrets/", method="PUT", status=500, times=None)
    results = gh.publish(plan, value)
    assert results[-1].status == "failed"
    bodies = b"".join(r.body for r in box.requests())
    assert value.encode() not in bodies
    assert b"encrypted_value" in bodies
    assert value not in caplog.text
    assert box.github.admin_token not in caplog.text
    assert all(value not in (r.error or "") for r in results)
    assert repr(plan).count(value) == 0


def test_writes_are_paced_by_pygithub(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    for i in range(3):
        box.github.add_repo(f"octo-org/p{i}")
    gh = client(box, write_interval=0.15)
    plan = gh.preflight([parse_target(f"repo:octo-org/p{i}") for i in range(3)], NAME)
    started = time.monotonic()
    gh.publish(plan, new_value())
    assert time.monotonic() - started >= 0.29  # three writes, at least 0.15 s apart


def test_a_slow_github_times_out_explicitly(github_sandbox: Sandbox) -> None:
    box = github_sandbox
    box.fault(r"/public-key$", latency=1.6)
    gh = client(box, timeout=1, retries=0)
    with pytest.raises(GitHubTransportError) as caught:
        gh.preflight([parse_target("repo:octo-org/app")], NAME)
    assert "timed out" in str(caught.value)
    box.clear_faults()


def test_api_root_comes_from_github_api_url(github_sandbox: Sandbox) -> None:
    """Config reads GITHUB_API_URL (the client never reads the environment itself)."""
    env = {**github_sandbox.env(), "GITHUB_API_URL": github_sandbox.github_url + "/"}
    config = parse_config({"state_repository": "octo-org/app", "targets": ["repo:o/r"]}, env)
    with Rotator.from_config(config) as rotator:
        assert rotator.github.base_url == github_sandbox.github_url
        assert rotator.github.get_variable("octo-org/app", "NOTHING") is None
    del env["GITHUB_API_URL"]
    config = parse_config({"state_repository": "octo-org/app", "targets": ["repo:o/r"]}, env)
    assert config.github_api_url == "https://api.github.com"
    assert GitHubClient("t").base_url == "https://api.github.com"
