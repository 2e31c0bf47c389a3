"""The GitHub token permissions each call needs, as GitHub names them.

Taken from GitHub's own permission data, not from memory: the table GitHub publishes as
"Permissions required for fine-grained personal access tokens", generated from
``github/docs`` ``src/github-apps/data/fpt-2022-11-28/fine-grained-pat-permissions.json``
(an extract for the operations used here is kept in ``tests/specs/`` and
``tests/test_permissions.py`` checks this table against it). GitHub Apps use the same
permission names.

A permission is ``(key, access)``: ``key`` is GitHub's identifier (``environments``), the one
the ``X-Accepted-GitHub-Permissions`` header uses; :data:`TITLES` holds the name GitHub's
settings pages show ("Environments"). An operation lists every permission it needs (GitHub's
table lists environment secrets under both "Environments" and "Secrets").
"""

from __future__ import annotations

from collections.abc import Iterable

# key -> (title, "repository" | "organization")
TITLES: dict[str, tuple[str, str]] = {
    "actions": ("Actions", "repository"),
    "actions_variables": ("Variables", "repository"),
    "dependabot_secrets": ("Dependabot secrets", "repository"),
    "environments": ("Environments", "repository"),
    "issues": ("Issues", "repository"),
    "metadata": ("Metadata", "repository"),
    "organization_secrets": ("Secrets", "organization"),
    "secrets": ("Secrets", "repository"),
}

Permission = tuple[str, str]  # (key, "read" | "write")

_REPO = "/repos/{owner}/{repo}"
_ENV = _REPO + "/environments/{environment_name}"
_ORG = "/orgs/{org}"

# (METHOD, path template) -> what GitHub requires, for every operation the project sends.
REQUIRED: dict[tuple[str, str], tuple[Permission, ...]] = {
    ("GET", _REPO + "/actions/secrets/public-key"): (("secrets", "read"),),
    ("PUT", _REPO + "/actions/secrets/{secret_name}"): (("secrets", "write"),),
    ("GET", _ENV + "/secrets/public-key"): (("environments", "read"), ("secrets", "read")),
    ("PUT", _ENV + "/secrets/{secret_name}"): (("environments", "write"), ("secrets", "write")),
    ("GET", _REPO + "/dependabot/secrets/public-key"): (("dependabot_secrets", "read"),),
    ("PUT", _REPO + "/dependabot/secrets/{secret_name}"): (("dependabot_secrets", "write"),),
    ("GET", _ORG + "/actions/secrets/public-key"): (("organization_secrets", "read"),),
    ("GET", _ORG + "/actions/secrets/{secret_name}"): (("organization_secrets", "read"),),
    ("PUT", _ORG + "/actions/secrets/{secret_name}"): (("organization_secrets", "write"),),
    ("GET", _ORG + "/actions/secrets/{secret_name}/repositories"): (
        ("organization_secrets", "read"),
    ),
    ("GET", _REPO + "/actions/variables/{name}"): (("actions_variables", "read"),),
    ("POST", _REPO + "/actions/variables"): (("actions_variables", "write"),),
    ("PATCH", _REPO + "/actions/variables/{name}"): (("actions_variables", "write"),),
    ("POST", _REPO + "/actions/workflows/{workflow_id}/dispatches"): (("actions", "write"),),
    ("GET", _REPO + "/actions/workflows/{workflow_id}"): (("actions", "read"),),
    ("GET", _REPO + "/actions/workflows/{workflow_id}/runs"): (("actions", "read"),),
    ("GET", _REPO + "/actions/runs/{run_id}"): (("actions", "read"),),
    ("GET", _ENV): (("actions", "read"),),
    ("POST", _REPO + "/issues/{issue_number}/comments"): (("issues", "write"),),
    ("POST", _REPO + "/issues/comments/{comment_id}/reactions"): (("issues", "write"),),
    ("GET", _REPO + "/collaborators/{username}/permission"): (("metadata", "read"),),
    ("GET", _REPO): (("metadata", "read"),),
}


def name(permission: Permission) -> str:
    """``"Environments: write"`` (GitHub's title and the access level)."""
    key, access = permission
    return f"{TITLES.get(key, (key, ''))[0]}: {access}"


def describe(permissions: Iterable[Permission]) -> str:
    """``repository permissions "Environments: write" and "Secrets: write"`` (write covers
    read, so a key listed with both is named once, with write)."""
    highest: dict[str, str] = {}
    for key, access in permissions:
        if highest.get(key) not in ("write", "admin") or access == "admin":
            highest[key] = access
    by_scope: dict[str, list[str]] = {}
    for permission in highest.items():
        scope = TITLES.get(permission[0], ("", "repository"))[1]
        by_scope.setdefault(scope, []).append(f'"{name(permission)}"')
    parts = []
    for scope, names in by_scope.items():
        noun = "permission" if len(names) == 1 else "permissions"
        parts.append(f"{scope} {noun} {' and '.join(names)}")
    return "; ".join(parts)


def header(method: str, template: str) -> str | None:
    """The ``X-Accepted-GitHub-Permissions`` value GitHub sends for an operation."""
    needed = REQUIRED.get((method.upper(), template))
    if not needed:
        return None
    return ",".join(f"{key}={access}" for key, access in needed)


def parse_header(value: str) -> list[list[Permission]]:
    """``X-Accepted-GitHub-Permissions``: alternatives separated by ``;``, each a ``,`` list
    of ``key=access`` that must all be granted."""
    sets: list[list[Permission]] = []
    for alternative in value.split(";"):
        found: list[Permission] = []
        for item in alternative.split(","):
            key, sep, access = item.strip().partition("=")
            if key and sep and access:
                found.append((key, access))
        if found:
            sets.append(found)
    return sets


def explain_header(value: str) -> str:
    """What an ``X-Accepted-GitHub-Permissions`` value asks for, in GitHub's names."""
    sets = parse_header(value)
    if not sets:
        return ""
    return " or ".join(describe(s) for s in sets)
