"""SPEC §3 target specs and GitHub's secret-name rules: parsed and refused before any request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrouter_rotator.errors import ConfigError
from openrouter_rotator.github import Target, parse_target, validate_secret_name

VALID_TARGETS = [
    ("repo:octo/app", Target("repo:octo/app", "repo", "octo", "app")),
    ("  repo:octo/app  ", Target("repo:octo/app", "repo", "octo", "app")),
    ("REPO:octo/app", Target("repo:octo/app", "repo", "octo", "app")),
    ("repo:my-org/my.repo_1", Target("repo:my-org/my.repo_1", "repo", "my-org", "my.repo_1")),
    ("repo:octo_emu/app", Target("repo:octo_emu/app", "repo", "octo_emu", "app")),
    (
        "env:octo/app/production",
        Target("env:octo/app/production", "env", "octo", "app", "production"),
    ),
    (
        "env:octo/app/review/feature-x",
        Target("env:octo/app/review/feature-x", "env", "octo", "app", "review/feature-x"),
    ),
    (
        "env:octo/app/Production US",
        Target("env:octo/app/Production US", "env", "octo", "app", "Production US"),
    ),
    ("org:octo", Target("org:octo", "org", "octo")),
    (
        "org:octo?visibility=all",
        Target("org:octo?visibility=all", "org", "octo", visibility="all"),
    ),
    (
        "org:octo?visibility=private",
        Target("org:octo?visibility=private", "org", "octo", visibility="private"),
    ),
    (
        "org:octo?visibility=selected&repositories=a,b",
        Target(
            "org:octo?visibility=selected&repositories=a,b",
            "org",
            "octo",
            visibility="selected",
            repositories=("a", "b"),
        ),
    ),
    (
        "org:octo?repositories= a , b,a &visibility=selected",
        Target(
            "org:octo?visibility=selected&repositories=a,b",
            "org",
            "octo",
            visibility="selected",
            repositories=("a", "b"),
        ),
    ),
    ("dependabot:octo/app", Target("dependabot:octo/app", "dependabot", "octo", "app")),
]


@pytest.mark.parametrize(("spec", "expected"), VALID_TARGETS)
def test_valid_targets(spec: str, expected: Target) -> None:
    assert parse_target(spec) == expected
    assert parse_target(expected.spec) == expected  # the canonical text parses to itself


INVALID_TARGETS = [
    ("", "unknown target kind"),
    ("octo/app", "unknown target kind"),
    ("repository:octo/app", "unknown target kind"),
    ("secret:octo/app", "unknown target kind"),
    ("repo:octo", "OWNER/REPO"),
    ("repo:octo/app/extra", "OWNER/REPO"),
    ("repo:/app", "account name"),
    ("repo:-octo/app", "account name"),
    ("repo:octo-/app", "account name"),
    ("repo:" + "o" * 40 + "/app", "account name"),
    ("repo:oc to/app", "account name"),
    ("repo:octo/", "repository name"),
    ("repo:octo/..", "repository name"),
    ("repo:octo/a b", "repository name"),
    ("repo:octo/" + "r" * 101, "repository name"),
    ("repo:octo/app?visibility=all", "org: targets only"),
    ("dependabot:octo", "OWNER/REPO"),
    ("env:octo/app", "OWNER/REPO/ENVIRONMENT"),
    ("env:octo/app/", "environment name"),
    ("env:octo/app/ production", "environment name"),
    ("env:octo/app/prod\tx", "environment name"),
    ("env:octo/app/" + "e" * 256, "environment name"),
    ("env:octo/app/prod?visibility=all", "org: targets only"),
    ("org:", "account name"),
    ("org:octo/app", "account name"),
    ("org:octo?visibility=public", "visibility must be one of"),
    ("org:octo?visibility=", "needs a value"),
    ("org:octo?visibility", "needs a value"),
    ("org:octo?color=red", "unknown org option"),
    ("org:octo?visibility=all&visibility=private", "given twice"),
    ("org:octo?repositories=a,b", "only allowed with visibility=selected"),
    ("org:octo?visibility=all&repositories=a", "only allowed with visibility=selected"),
    ("org:octo?visibility=selected", "needs repositories"),
    ("org:octo?visibility=selected&repositories=a,,b", "repository name"),
    ("org:octo?visibility=selected&repositories=octo/a", "repository name"),
]


@pytest.mark.parametrize(("spec", "why"), INVALID_TARGETS)
def test_invalid_targets_are_config_errors(spec: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_target(spec)
    assert caught.value.option == "target"
    assert caught.value.value == spec
    assert why in str(caught.value)
    assert "expected repo:OWNER/REPO" in str(caught.value)  # the message shows what is allowed


@pytest.mark.parametrize(
    "name", ["OPENROUTER_API_KEY", "openrouter_key", "_PRIVATE", "A", "KEY2", "GITHUBX_TOKEN"]
)
def test_valid_secret_names(name: str) -> None:
    assert validate_secret_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "required"),
        ("2KEY", "do not start with a digit"),
        ("MY-KEY", "letters, digits and underscores"),
        ("MY KEY", "letters, digits and underscores"),
        ("KEY.1", "letters, digits and underscores"),
        ("CLÉ", "letters, digits and underscores"),
        ("GITHUB_TOKEN", "reserved"),
        ("github_api_key", "reserved"),
        ("GitHub_Key", "reserved"),
    ],
)
def test_invalid_secret_names(name: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_secret_name(name, option="state-variable")
    assert caught.value.option == "state-variable"
    assert why in str(caught.value)


# -- properties -------------------------------------------------------------------------------

owners = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,20}[A-Za-z0-9_])?", fullmatch=True)
repos = st.from_regex(r"[A-Za-z0-9._-]{1,30}", fullmatch=True).filter(
    lambda r: r not in (".", "..")
)
# Printable: no control or format characters, and no space but the ASCII one (a no-break space
# makes a name that looks like another).
environments = st.text(
    alphabet=st.characters(
        min_codepoint=32,
        max_codepoint=0x2FF,
        exclude_characters="?#",
        exclude_categories=["C", "Zl", "Zp", "Zs"],
        include_characters=" ",
    ),
    min_size=1,
    max_size=40,
).filter(lambda e: e == e.strip() and e not in (".", ".."))


@st.composite
def target_specs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["repo", "env", "org", "dependabot"]))
    owner = draw(owners)
    if kind in ("repo", "dependabot"):
        return f"{kind}:{owner}/{draw(repos)}"
    if kind == "env":
        return f"env:{owner}/{draw(repos)}/{draw(environments)}"
    visibility = draw(st.sampled_from([None, "all", "private", "selected"]))
    if visibility is None:
        return f"org:{owner}"
    if visibility != "selected":
        return f"org:{owner}?visibility={visibility}"
    names = draw(st.lists(repos, min_size=1, max_size=4))
    return f"org:{owner}?visibility=selected&repositories={','.join(names)}"


@given(target_specs())
def test_valid_specs_round_trip_through_their_canonical_text(spec: str) -> None:
    target = parse_target(spec)
    assert parse_target(target.spec) == target
    assert target.kind == spec.split(":", 1)[0]
    if target.kind == "org":
        assert target.repo is None and target.environment is None
        assert bool(target.repositories) == (target.visibility == "selected")
    else:
        assert target.repo is not None and target.visibility is None


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_config_error(text: str) -> None:
    try:
        target = parse_target(text)
    except ConfigError as exc:
        assert exc.option == "target"
    else:
        assert parse_target(target.spec) == target


@given(st.text(max_size=30))
def test_secret_names_follow_githubs_rule(name: str) -> None:
    import re

    allowed = bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)) and not name.upper().startswith(
        "GITHUB_"
    )
    try:
        validate_secret_name(name)
    except ConfigError:
        assert not allowed
    else:
        assert allowed
