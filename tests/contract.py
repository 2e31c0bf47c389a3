"""Validate real HTTP exchanges against the official OpenAPI descriptions.

A :class:`RecordingTransport` wraps httpx's real transport and keeps every request/response
pair; :func:`validate_exchanges` checks each one against the spec with openapi-core. The specs'
servers are ``https://openrouter.ai/api/v1`` and ``https://api.github.com``; the sandbox serves
the same paths under ``/api/v1`` and ``/github``, so paths are mapped onto the official hosts.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Copies of the official descriptions, vendored so the tests run from a bare clone;
# test_specs_are_current checks them against the project's shared/specs when it is there.
SPECS = Path(__file__).resolve().parent / "specs"
SHARED_SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"

OPENROUTER_SPEC = "openrouter-keys.openapi.json"
GITHUB_SPEC = "github-actions-secrets.openapi.json"


@functools.cache
def openapi(name: str) -> OpenAPI:
    spec = json.loads((SPECS / name).read_text())
    # openapi-core cannot deserialise a *parameter* whose schema type is a list
    # (OpenAPI 3.1 ``["integer", "null"]``); a query string is never JSON null, so the
    # non-null member is the same contract for a parameter. Bodies keep their list types.
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if isinstance(schema.get("type"), list):
                    schema["type"] = next(t for t in schema["type"] if t != "null")
    return OpenAPI.from_dict(spec)


@dataclass
class SpecRequest:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)


@dataclass
class SpecResponse:
    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


def spec_request(method: str, url: str, headers: dict[str, str], body: bytes) -> SpecRequest:
    split = urlsplit(url)
    path = split.path
    if path.startswith("/github"):
        host, path = "https://api.github.com", path[len("/github") :] or "/"
    else:
        host = "https://openrouter.ai"
    lower = {k.lower(): v for k, v in headers.items()}
    return SpecRequest(
        host_url=host,
        path=path,
        method=method.lower(),
        body=body or None,
        content_type=lower.get("content-type", "application/json").split(";")[0],
        parameters=RequestParameters(
            query=ImmutableMultiDict(parse_qsl(split.query)),
            header=Headers(list(headers.items())),
        ),
    )


def spec_response(status: int, headers: dict[str, str], body: bytes) -> SpecResponse:
    lower = {k.lower(): v for k, v in headers.items()}
    return SpecResponse(
        status_code=status,
        content_type=lower.get("content-type", "application/json").split(";")[0],
        headers=Headers(list(headers.items())),
        data=body or None,
    )


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


class RecordingTransport(httpx.BaseTransport):
    """httpx's real transport, keeping a copy of every exchange."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self._inner.handle_request(request)
        content = response.read()
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                dict(request.headers),
                body,
                response.status_code,
                dict(response.headers),
                content,
            )
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    def close(self) -> None:
        self._inner.close()


def validate_exchange(spec: str, exchange: Exchange) -> None:
    """Raise if the request or the response breaks the official contract."""
    api = openapi(spec)
    request = spec_request(
        exchange.method, exchange.url, exchange.request_headers, exchange.request_body
    )
    api.validate_request(request)
    api.validate_response(
        request,
        spec_response(exchange.status, exchange.response_headers, exchange.response_body),
    )


# Pairs validated in this test session, per spec (printed at the end by conftest).
VALIDATED: dict[str, int] = {}


def validate_exchanges(spec: str, exchanges: list[Exchange]) -> dict[str, Any]:
    """Validate all; return a summary (count per operation) for the test's own assertions."""
    summary: dict[str, int] = {}
    for exchange in exchanges:
        validate_exchange(spec, exchange)
        VALIDATED[spec] = VALIDATED.get(spec, 0) + 1
        op = f"{exchange.method} {urlsplit(exchange.url).path} {exchange.status}"
        summary[op] = summary.get(op, 0) + 1
    return summary


def check_openrouter_records(records: list[Any]) -> int:
    """Validate every OpenRouter exchange the sandbox recorded (its ``requests()``).

    Requests against the published description (the operations it has); answers with the
    official SDK's models (``tests/sdk_oracle.py``): the SDK is newer than the description
    (OpenRouter added fields since August), and where the two disagree the SDK is right.
    Requests to operations the description lacks (guardrails, workspaces) are checked with the
    SDK's request models. Returns the number of exchanges checked.
    """
    from openapi_core.templating.paths.exceptions import PathError

    from .sdk_oracle import check_records, check_request

    api = openapi(OPENROUTER_SPEC)
    checked = 0
    for record in records:
        if not record.path.startswith("/api/v1"):
            continue
        query = (
            ("?" + "&".join(f"{k}={v}" for k, v in record.query.items())) if record.query else ""
        )
        headers = dict(record.headers)
        if record.authorization:
            headers["authorization"] = "Bearer redacted"
        request = spec_request(
            record.method, f"http://sandbox{record.path}{query}", headers, record.body
        )
        try:
            api.validate_request(request)
        except PathError:  # an operation the August description does not have
            check_request(record.method, record.path[len("/api/v1") :], record.body)
        checked += 1
    check_records(records)
    VALIDATED[OPENROUTER_SPEC] = VALIDATED.get(OPENROUTER_SPEC, 0) + checked
    return checked
