"""Token permissions are named as GitHub names them, from GitHub's own permission data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from openrouter_rotator import github, permissions
from openrouter_rotator.permissions import REQUIRED, TITLES
from openrouter_rotator.sandbox import Sandbox
from webhook import github_api

from .test_github_contract import run_everything

DATA = Path(__file__).resolve().parent / "specs" / "github-fine-grained-permissions.json"
ROOT = Path(__file__).resolve().parents[1]


def githubs_table() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(METHOD, path) -> {(permission key, access)} from GitHub's data (the vendored extract)."""
    table: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key, group in json.loads(DATA.read_text())["permissions"].items():
        for entry in group["permissions"]:
            operation = (entry["verb"].upper(), entry["requestPath"])
            table.setdefault(operation, set()).add((key, entry["access"]))
    return table


def test_the_table_is_githubs() -> None:
    table = githubs_table()
    assert {op: set(needed) for op, needed in REQUIRED.items()} == table


def test_titles_are_githubs() -> None:
    groups = json.loads(DATA.read_text())["permissions"]
    for key, group in groups.items():
        title, scope = TITLES[key]
        assert group["title"] == title
        assert group["displayTitle"] == f'{scope.capitalize()} permissions for "{title}"'


def test_every_operation_the_client_sends_is_in_the_table(sandbox: Sandbox) -> None:
    """Every call the engine and the webhook make has GitHub's permission for it (the App's
    own JWT calls excepted: they are authorised by the App's key, not a permission)."""
    run_everything(sandbox)
    patterns = {
        (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")): path
        for method, path in REQUIRED
    }
    for ex in sandbox.github.exchanges:
        if ex.path.endswith("/installation") or ex.path.startswith("/app/"):
            continue
        found = [p for (m, rx), p in patterns.items() if m == ex.method and rx.match(ex.path)]
        assert found, f"{ex.method} {ex.path} is not in the permission table"


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (
            ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}"),
            'repository permissions "Environments: write" and "Secrets: write"',
        ),
        (
            ("PUT", "/orgs/{org}/actions/secrets/{secret_name}"),
            'organization permission "Secrets: write"',
        ),
        (
            ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"),
            'repository permission "Actions: write"',
        ),
    ],
)
def test_descriptions(operation: tuple[str, str], expected: str) -> None:
    assert permissions.describe(REQUIRED[operation]) == expected


def test_the_hints_name_githubs_permissions() -> None:
    assert '"Environments: write" and "Secrets: write" for env: targets' in github._NEED_SECRETS
    assert 'organization permission "Secrets: write" for org: targets' in github._NEED_SECRETS
    assert '"Dependabot secrets: write"' in github._NEED_SECRETS
    assert '"Variables: write"' in github._NEED_VARIABLES
    assert '"Actions: write"' in github_api._NEED_DISPATCH
    assert '"Issues: write"' in github_api._NEED_ISSUES
    assert '"Metadata: read"' in github_api._NEED_METADATA
    for text in (github._NEED_SECRETS, github._NEED_VARIABLES):
        assert "read and write" not in text and "Environments: read" not in text


def test_the_documentation_names_the_same_permissions() -> None:
    doc = (ROOT / "docs" / "action.md").read_text()
    assert "**Environments: write**" in doc and "Environments: Read" not in doc
    for title in ("Secrets", "Dependabot secrets", "Variables"):
        assert f"**{title}: write**" in doc


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("secrets=write", 'repository permission "Secrets: write"'),
        (
            "environments=write,secrets=write",
            'repository permissions "Environments: write" and "Secrets: write"',
        ),
        (
            "repository_projects=write; organization_secrets=read",
            'repository permission "repository_projects: write" or '
            'organization permission "Secrets: read"',
        ),
        ("", ""),
        ("garbage", ""),
    ],
)
def test_the_header_is_read_as_github_documents_it(header: str, expected: str) -> None:
    """Alternatives separated by ';', each a ',' list that must all be granted."""
    assert permissions.explain_header(header) == expected
