"""GitHub's names and roles, and the target grammar of SPEC §3, checked before any request is sent.

The one definition of each rule, imported by everything that checks one: account and
repository names (:func:`parse_repository`, also inside every target spec), secret and variable
names (:func:`validate_secret_name`), and the ladder of repository roles (:data:`PERMISSIONS`).

Kept apart from :mod:`openrouter_rotator.github` (which re-exports these names) so that parsing
the configuration does not import PyGithub, requests and PyJWT: a configuration error, ``--help``
and everything that only validates options start without them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "KINDS",
    "PERMISSIONS",
    "VISIBILITIES",
    "Target",
    "is_repository",
    "parse_repository",
    "parse_target",
    "permission_reaches",
    "validate_secret_name",
]

KINDS = ("repo", "env", "org", "dependabot")
VISIBILITIES = ("all", "private", "selected")

# GitHub: letters, digits and underscores, not starting with a digit; the GITHUB_ prefix is
# reserved (case-insensitively, as secret names are).
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Account names: letters, digits and hyphens, no leading or trailing hyphen, at most 39
# characters. Underscores are accepted too: Enterprise Managed Users and GHES logins carry them.
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,37}[A-Za-z0-9_])?")
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_ENV_MAX = 255
# GitHub's repository roles, lowest first; each includes the ones before it.
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")

_TARGET_FORMS = (
    "repo:OWNER/REPO, env:OWNER/REPO/ENVIRONMENT, dependabot:OWNER/REPO, org:ORG or "
    "org:ORG?visibility=all|private|selected[&repositories=NAME,NAME] "
    "(repositories only, and always, with visibility=selected)"
)


def validate_secret_name(name: str, option: str = "secret-name") -> str:
    """Return ``name`` if GitHub accepts it as a secret (or variable) name, else ConfigError."""
    if not isinstance(name, str) or not name:
        raise ConfigError(option, name, "a secret name is required")
    if not _SECRET_NAME.fullmatch(name):
        raise ConfigError(
            option,
            name,
            "use only letters, digits and underscores, and do not start with a digit",
        )
    if name.upper().startswith("GITHUB_"):
        raise ConfigError(option, name, "names starting with GITHUB_ are reserved by GitHub")
    return name


def permission_reaches(permission: str, needed: str) -> bool:
    """Whether a role (one of :data:`PERMISSIONS`; anything else is none) includes ``needed``."""
    if permission not in PERMISSIONS:
        return False
    return PERMISSIONS.index(permission) >= PERMISSIONS.index(needed)


def _owner_problem(owner: str) -> str | None:
    if _OWNER.fullmatch(owner):
        return None
    return (
        f"{owner!r} is not a GitHub account name (letters, digits, hyphens, underscores; "
        "no leading or trailing hyphen; at most 39 characters)"
    )


def _repo_problem(repo: str) -> str | None:
    if _REPO.fullmatch(repo) and repo not in (".", ".."):
        return None
    return (
        f"{repo!r} is not a repository name (letters, digits, '.', '-', '_'; "
        "at most 100 characters)"
    )


def _repository_problem(text: str) -> str | None:
    owner, slash, repo = text.partition("/")
    if not slash:
        return "no / between the owner and the repository"
    return _owner_problem(owner) or _repo_problem(repo)


def is_repository(text: str) -> bool:
    """Whether ``text`` is ``OWNER/REPO`` by the same rule as the targets."""
    return isinstance(text, str) and _repository_problem(text) is None


def parse_repository(text: str, option: str) -> str:
    """``OWNER/REPO`` as given (surrounding spaces removed), or ConfigError naming ``option``."""
    if not isinstance(text, str):
        raise ConfigError(option, text, "OWNER/REPO")
    text = text.strip()
    problem = _repository_problem(text)
    if problem:
        raise ConfigError(option, text, f"OWNER/REPO: {problem}")
    return text


@dataclass(frozen=True)
class Target:
    """One place a secret goes, parsed from a SPEC §3 target spec."""

    spec: str
    kind: str
    owner: str
    repo: str | None = None
    environment: str | None = None
    visibility: str | None = None
    repositories: tuple[str, ...] = ()

    @property
    def scope(self) -> tuple[str, ...]:
        """Identity of the public key this target is sealed with (names are case-insensitive)."""
        parts: tuple[str, ...] = (self.kind, self.owner.lower())
        if self.repo is not None:
            parts += (self.repo.lower(),)
        if self.environment is not None:
            parts += (self.environment.lower(),)
        return parts

    @property
    def full_repo(self) -> str | None:
        return None if self.repo is None else f"{self.owner}/{self.repo}"


def _bad_target(spec: str, why: str) -> ConfigError:
    return ConfigError("target", spec, f"{why}; expected {_TARGET_FORMS}")


def _check_owner(spec: str, owner: str) -> str:
    problem = _owner_problem(owner)
    if problem:
        raise _bad_target(spec, problem)
    return owner


def _check_repo(spec: str, repo: str) -> str:
    problem = _repo_problem(repo)
    if problem:
        raise _bad_target(spec, problem)
    return repo


def invisible(char: str) -> bool:
    """Control, format (bidi overrides, zero-width), line/paragraph separators, private use,
    unassigned, and any space but the ASCII one: what makes a name or a log line lie."""
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " ")


def _check_environment(spec: str, environment: str) -> str:
    bad = (
        not environment
        or len(environment) > _ENV_MAX
        or environment != environment.strip()
        or any(invisible(c) for c in environment)
        or "?" in environment
        or "#" in environment
        or environment in (".", "..")  # a path segment of its own in the API's URL
    )
    if bad:
        raise _bad_target(
            spec,
            f"{environment!r} is not an environment name (1 to {_ENV_MAX} printable "
            "characters, no surrounding spaces, no '?' or '#', not '.' or '..')",
        )
    return environment


def parse_target(spec: str) -> Target:
    """Parse and validate a target spec; ConfigError("target", spec, ...) when it is invalid."""
    if not isinstance(spec, str):
        raise ConfigError("target", spec, f"expected {_TARGET_FORMS}")
    text = spec.strip()
    kind, colon, rest = text.partition(":")
    kind = kind.strip().lower()
    if not colon or kind not in KINDS:
        raise _bad_target(spec, "unknown target kind")
    location, question, query = rest.partition("?")
    if question and kind != "org":
        raise _bad_target(spec, "query options (?visibility=...) apply to org: targets only")
    if kind in ("repo", "dependabot"):
        parts = location.split("/")
        if len(parts) != 2:
            raise _bad_target(spec, f"{kind}: needs OWNER/REPO")
        owner = _check_owner(spec, parts[0])
        repo = _check_repo(spec, parts[1])
        return Target(f"{kind}:{owner}/{repo}", kind, owner, repo)
    if kind == "env":
        # Environment names may contain slashes (review/feature-x), so split twice only.
        parts = location.split("/", 2)
        if len(parts) != 3:
            raise _bad_target(spec, "env: needs OWNER/REPO/ENVIRONMENT")
        owner = _check_owner(spec, parts[0])
        repo = _check_repo(spec, parts[1])
        environment = _check_environment(spec, parts[2])
        return Target(f"env:{owner}/{repo}/{environment}", "env", owner, repo, environment)
    owner = _check_owner(spec, location)
    visibility, repositories = _parse_org_query(spec, query if question else None)
    canonical = f"org:{owner}"
    if visibility is not None:
        canonical += f"?visibility={visibility}"
    if repositories:
        canonical += "&repositories=" + ",".join(repositories)
    return Target(canonical, "org", owner, visibility=visibility, repositories=repositories)


def _parse_org_query(spec: str, query: str | None) -> tuple[str | None, tuple[str, ...]]:
    if query is None:
        return None, ()
    options: dict[str, str] = {}
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if key not in ("visibility", "repositories"):
            raise _bad_target(spec, f"unknown org option {key!r} (visibility, repositories)")
        if not equals or not value.strip():
            raise _bad_target(spec, f"org option {key!r} needs a value")
        if key in options:
            raise _bad_target(spec, f"org option {key!r} is given twice")
        options[key] = value.strip()
    visibility = options.get("visibility")
    if visibility is not None and visibility not in VISIBILITIES:
        raise _bad_target(spec, f"visibility must be one of {', '.join(VISIBILITIES)}")
    names: list[str] = []
    if "repositories" in options:
        for name in options["repositories"].split(","):
            name = _check_repo(spec, name.strip())
            if name.lower() not in (n.lower() for n in names):
                names.append(name)
    if names and visibility != "selected":
        raise _bad_target(spec, "repositories= is only allowed with visibility=selected")
    if visibility == "selected" and not names:
        raise _bad_target(spec, "visibility=selected needs repositories=NAME,NAME")
    return visibility, tuple(names)
