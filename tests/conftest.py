from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from openrouter_rotator.sandbox import FakeClock, Sandbox
from webhook import create_app
from webhook.config import parse_settings
from webhook.store import SQLiteStore

from .webhook_fixtures import SECRET_ENV, AppFactory, Catcher, FakeGitHub, config_doc

# Hypothesis keeps its example database and caches in ./.hypothesis unless told otherwise: keep
# them out of the checkout (read lazily, at the first test that needs them).
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    os.path.join(tempfile.gettempdir(), "openrouter-rotator-hypothesis"),
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox; afterwards every OpenRouter exchange it served is checked: the client's
    requests against the official description, the stand-in's answers with the official SDK."""
    from .contract import check_openrouter_records

    with Sandbox() as box:
        yield box
        check_openrouter_records(box.requests())


# -- the webhook app: a Flask test app on a fake GitHub, a fake clock and its own store --------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub(
        permissions={"alice": "write", "bob": "read", "carol": "admin", "dan": "maintain"}
    )


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    """An HTTP server that records what the webhook posts to Slack."""
    c = Catcher()
    yield c
    c.close()


@pytest.fixture
def make_app(tmp_path: Path, github: FakeGitHub, catcher: Catcher, clock: FakeClock) -> AppFactory:
    """``make_app(doc, env)``: the webhook for ``doc`` (default :func:`config_doc`) on the fake
    GitHub and the fake clock, jobs run by ``settle`` rather than a thread. ``live=True``: the
    real GitHub client of the settings, real time and the drain thread, for an app served over
    HTTP."""

    def make(
        doc: dict[str, Any] | None = None, env: dict[str, str] | None = None, *, live: bool = False
    ) -> Flask:
        doc = doc or config_doc()
        doc.setdefault("store", {"path": str(tmp_path / "webhook.sqlite3")})
        full_env = {
            **SECRET_ENV,
            "ROTATOR_GITHUB_TOKEN": "ghp_test_token",
            "ROTATOR_SLACK_ALERT_WEBHOOK_URL": catcher.url("/alerts"),
            **(env or {}),
        }
        settings_ = parse_settings(doc, full_env)
        if live:
            return create_app({"ROTATOR_SETTINGS": settings_})
        return create_app(
            {
                "TESTING": True,
                "ROTATOR_SETTINGS": settings_,
                "ROTATOR_GITHUB": github,
                "ROTATOR_STORE": SQLiteStore(settings_.store_path, clock=clock.time),
                "ROTATOR_CLOCK": clock.time,
                "ROTATOR_DRAIN_THREAD": False,
            }
        )

    return make


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# -- GitHub: every exchange with the GitHub stand-in checked against the official description --


@dataclass
class GitHubContractReport:
    """How many request/response pairs were validated, and how."""

    documented: int = 0  # request and response validated by openapi-core
    error_shape: int = 0  # request validated; an undocumented error status checked as basic-error
    operations: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.documented + self.error_shape


GITHUB_CONTRACT_TOTAL = GitHubContractReport()


def check_github_exchanges(
    exchanges: list[Any], *, validate_requests: bool = True
) -> GitHubContractReport:
    """Validate the stand-in's exchanges (``GitHubStandIn.exchanges``) against the spec.

    Many GitHub operations list only their success codes (a secret PUT lists 201 and 204), yet
    GitHub answers them with 401, 403, 404 or 422 too. Those answers are checked against the
    spec's own error schemas (``validation-error`` for 422, ``basic-error`` otherwise).

    Every answer is also parsed by githubkit, under the API version its request asked for
    (``tests/githubkit_oracle.py``).
    """
    import jsonschema
    from openapi_core.templating.responses.exceptions import ResponseNotFound

    from .contract import GITHUB_SPEC, SPECS, openapi, spec_request, spec_response
    from .githubkit_oracle import check_exchanges

    api = openapi(GITHUB_SPEC)
    schemas = json.loads((SPECS / GITHUB_SPEC).read_text())["components"]["schemas"]
    report = GitHubContractReport()
    for ex in exchanges:
        query = ("?" + urlencode(ex.query)) if ex.query else ""
        request = spec_request(
            ex.method, f"http://sandbox/github{ex.path}{query}", ex.headers, ex.body
        )
        if validate_requests:
            api.validate_request(request)
        response = spec_response(
            ex.status,
            {"content-type": "application/json", **ex.response_headers} if ex.response_body else {},
            ex.response_body,
        )
        try:
            api.validate_response(request, response)
            report.documented += 1
        except ResponseNotFound:
            if ex.status < 400:
                raise
            schema = schemas["validation-error" if ex.status == 422 else "basic-error"]
            jsonschema.validate(json.loads(ex.response_body), schema)
            report.error_shape += 1
        op = f"{ex.method} {ex.path} {ex.status}"
        report.operations[op] = report.operations.get(op, 0) + 1
    GITHUB_CONTRACT_TOTAL.documented += report.documented
    GITHUB_CONTRACT_TOTAL.error_shape += report.error_shape
    check_exchanges(exchanges)
    return report


@pytest.fixture
def github_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox, with every GitHub exchange of the test validated against the spec after it,
    and every request checked to ask for the API version the project is built against."""
    yield sandbox
    check_github_exchanges(sandbox.github.exchanges)
    assert_api_version(sandbox.github.exchanges)


def assert_api_version(exchanges: list[Any]) -> None:
    """Every request the project sent named ``X-GitHub-Api-Version: 2022-11-28``."""
    from openrouter_rotator.github import API_VERSION

    assert API_VERSION == "2022-11-28"
    unversioned = [
        f"{ex.method} {ex.path}"
        for ex in exchanges
        if ex.headers.get("x-github-api-version") != API_VERSION
    ]
    assert not unversioned, f"sent without X-GitHub-Api-Version: {API_VERSION}: {unversioned}"


def _contract_counts() -> dict[str, int]:
    from .contract import OPENROUTER_SPEC, VALIDATED
    from .githubkit_oracle import GITHUBKIT_TOTAL
    from .sdk_oracle import SDK_TOTAL

    return {
        "openrouter": VALIDATED.get(OPENROUTER_SPEC, 0),
        "sdk_documented": SDK_TOTAL.documented,
        "sdk_by_status": SDK_TOTAL.by_status,
        "github_documented": GITHUB_CONTRACT_TOTAL.documented,
        "github_error_shape": GITHUB_CONTRACT_TOTAL.error_shape,
        "githubkit_documented": GITHUBKIT_TOTAL.documented,
        "githubkit_error_shape": GITHUBKIT_TOTAL.error_shape,
        **{f"githubkit_{v}": n for v, n in GITHUBKIT_TOTAL.by_version.items()},
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its contract counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["contract_counts"] = _contract_counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Under pytest-xdist, the controller adds up what each worker validated."""
    from .contract import OPENROUTER_SPEC, VALIDATED
    from .githubkit_oracle import GITHUBKIT_TOTAL, VERSIONS
    from .sdk_oracle import SDK_TOTAL

    counts = getattr(node, "workeroutput", {}).get("contract_counts")
    if not counts:
        return
    GITHUBKIT_TOTAL.documented += counts.get("githubkit_documented", 0)
    GITHUBKIT_TOTAL.error_shape += counts.get("githubkit_error_shape", 0)
    for version in VERSIONS:
        n = counts.get(f"githubkit_{version}", 0)
        if n:
            GITHUBKIT_TOTAL.by_version[version] = GITHUBKIT_TOTAL.by_version.get(version, 0) + n
    VALIDATED[OPENROUTER_SPEC] = VALIDATED.get(OPENROUTER_SPEC, 0) + counts["openrouter"]
    SDK_TOTAL.documented += counts["sdk_documented"]
    SDK_TOTAL.by_status += counts["sdk_by_status"]
    GITHUB_CONTRACT_TOTAL.documented += counts["github_documented"]
    GITHUB_CONTRACT_TOTAL.error_shape += counts["github_error_shape"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from .contract import OPENROUTER_SPEC, VALIDATED
    from .sdk_oracle import SDK_TOTAL

    if VALIDATED.get(OPENROUTER_SPEC):
        terminalreporter.write_line(
            f"OpenRouter contract: {VALIDATED[OPENROUTER_SPEC]} requests validated against the "
            f"official description; {SDK_TOTAL.total} answers validated with the official SDK "
            f"1.3.84 ({SDK_TOTAL.documented} with the operation's own model, "
            f"{SDK_TOTAL.by_status} undocumented error statuses with the SDK's model for them)"
        )
    total = GITHUB_CONTRACT_TOTAL
    if total.total:
        terminalreporter.write_line(
            f"GitHub contract: {total.total} request/response pairs validated "
            f"({total.documented} against their documented response, "
            f"{total.error_shape} undocumented error statuses against the error schemas)"
        )
    from .githubkit_oracle import GITHUBKIT_TOTAL

    kit = GITHUBKIT_TOTAL
    if kit.total:
        versions = ", ".join(f"{n} under {v}" for v, n in sorted(kit.by_version.items()))
        terminalreporter.write_line(
            f"GitHub answers parsed by githubkit: {kit.total} ({versions}; "
            f"{kit.documented} with the operation's model, {kit.error_shape} error shapes)"
        )
