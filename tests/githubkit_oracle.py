"""githubkit as the oracle for every answer the GitHub stand-in gives, under both API versions.

githubkit (pinned in the dev extra, with the schemas of ``2022-11-28`` and ``2026-03-10``) is
generated from GitHub's REST description; each of its REST methods names the URL template,
the HTTP method, the model it parses a success into (``response_model``) and the models of the
errors GitHub documents (``error_models``). :func:`routes` reads those straight from githubkit's
source, so the table is githubkit's, not ours. :func:`check` then parses an answer the way
githubkit does (pydantic, its models) under the version the request asked for
(``X-GitHub-Api-Version``, default 2022-11-28), and refuses fields the model does not declare
(pydantic would drop them silently, which would let the stand-in drift).

An error status the operation does not document is checked against ``BasicError`` (or
``ValidationError`` for 422), the shapes GitHub uses for every error; a 204 must be empty.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from .sdk_oracle import unknown_fields

VERSIONS = {"2022-11-28": "v2022_11_28", "2026-03-10": "v2026_03_10"}
DEFAULT_VERSION = "2022-11-28"


class GithubkitOracleError(AssertionError):
    """An answer githubkit would not parse into its model (or with fields it does not know)."""


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    response_model: str | None  # source text, evaluated in the version's models module
    error_models: dict[str, str]


# The githubkit modules that hold the operations the stand-in serves (reading all of
# githubkit's 1,100 operations would take long for nothing).
MODULES = ("actions", "apps", "dependabot", "issues", "reactions", "repos")

_METHOD = re.compile(r"\n    def (?!async_)(\w+)\(.*?(?=\n    (?:async )?def |\n    @|\Z)", re.S)
_URL = re.compile(r'\n        url = \(?\s*f"([^"]+)"')
_CALL = re.compile(r'self\._github\.request\(\s*"(\w+)",(.*?)\n        \)', re.S)
_RESPONSE = re.compile(r"^\s*response_model=([^\n]+?),?$", re.M)
_ERRORS = re.compile(r"error_models=\{(.*?)\}", re.S)
_ERROR = re.compile(r'"(\d{3})":\s*([\w\[\], ]+?),?\s*(?=\n|"|$)')


@functools.cache
def routes(version: str) -> tuple[Route, ...]:
    """The REST operations githubkit knows for ``version``, read from its source."""
    package = importlib.import_module(f"githubkit_schemas.{VERSIONS[version]}.rest")
    found: list[Route] = []
    for name in MODULES:
        module = importlib.import_module(f"{package.__name__}.{name}")
        source = open(module.__file__ or "").read()  # noqa: PTH123, SIM115
        for method in _METHOD.finditer(source):
            body = method.group(0)
            url, call = _URL.search(body), _CALL.search(body)
            if url is None or call is None:
                continue
            response = _RESPONSE.search(call.group(2))
            errors = _ERRORS.search(call.group(2))
            template = url.group(1)
            found.append(
                Route(
                    call.group(1).upper(),
                    template,
                    re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"),
                    response.group(1).strip() if response else None,
                    dict(_ERROR.findall(errors.group(1))) if errors else {},
                )
            )
    # Literal paths before templated ones (".../secrets/public-key" before ".../{secret_name}").
    found.sort(key=lambda r: (r.template.count("{"), -len(r.template)))
    return tuple(found)


@functools.cache
def _model(version: str, expression: str) -> TypeAdapter[Any]:
    models = importlib.import_module(f"githubkit_schemas.{VERSIONS[version]}.models")

    class Names(dict[str, Any]):
        # githubkit's models module loads each model on first attribute access.
        def __missing__(self, name: str) -> Any:
            return getattr(models, name, None) or getattr(typing, name)

    return TypeAdapter(eval(expression, {}, Names()))  # noqa: S307 - githubkit's own source


def route(version: str, method: str, path: str) -> Route:
    for candidate in routes(version):
        if candidate.method == method.upper() and candidate.regex.match(path):
            return candidate
    raise GithubkitOracleError(f"{method} {path}: not an operation githubkit knows ({version})")


def check(method: str, path: str, version: str, status: int, body: bytes) -> str:
    """Parse one answer with githubkit; returns ``"documented"`` or ``"error_shape"``."""
    found = route(version, method, path)
    kind = "documented"
    if status == 200 and found.response_model is None:
        # The 2022-11-28 description gained answers githubkit's snapshot of it lacks (a
        # dispatch with return_run_details answers 200); the other version's model has them.
        other = next(v for v in VERSIONS if v != version)
        found = route(other, method, path)
        version = other
    if status == 204 or (status < 400 and found.response_model is None):
        if body.strip():
            raise GithubkitOracleError(f"{method} {found.template} {status}: a body where none is")
        return kind
    if status < 400:
        expression = found.response_model
    elif str(status) in found.error_models:
        expression = found.error_models[str(status)]
    else:
        expression, kind = ("ValidationError" if status == 422 else "BasicError"), "error_shape"
    assert expression is not None
    try:
        parsed = _model(version, expression).validate_json(body)
    except Exception as exc:  # pydantic's ValidationError
        raise GithubkitOracleError(
            f"{method} {found.template} {status} ({version}): githubkit rejects it as "
            f"{expression}: {exc}"
        ) from None
    extra = unknown_fields(parsed, json.loads(body))
    if extra:
        raise GithubkitOracleError(
            f"{method} {found.template} {status} ({version}): fields {expression} lacks: {extra}"
        )
    return kind


@dataclass
class GithubkitReport:
    documented: int = 0
    error_shape: int = 0
    by_version: dict[str, int] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.documented + self.error_shape


GITHUBKIT_TOTAL = GithubkitReport()


def check_exchanges(exchanges: list[Any]) -> GithubkitReport:
    """Validate every exchange the GitHub stand-in recorded (``GitHubStandIn.exchanges``)."""
    report = GithubkitReport()
    for ex in exchanges:
        version = ex.headers.get("x-github-api-version") or DEFAULT_VERSION
        if version not in VERSIONS:  # a 400 for the version itself: GitHub's error shape
            json.loads(ex.response_body)
            continue
        kind = check(ex.method, ex.path, version, ex.status, ex.response_body)
        setattr(report, kind, getattr(report, kind) + 1)
        report.by_version[version] = report.by_version.get(version, 0) + 1
        op = f"{ex.method} {route(version, ex.method, ex.path).template} {ex.status} {version}"
        report.operations[op] = report.operations.get(op, 0) + 1
    GITHUBKIT_TOTAL.documented += report.documented
    GITHUBKIT_TOTAL.error_shape += report.error_shape
    for version, n in report.by_version.items():
        GITHUBKIT_TOTAL.by_version[version] = GITHUBKIT_TOTAL.by_version.get(version, 0) + n
    return report
