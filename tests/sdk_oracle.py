"""The official OpenRouter SDK as the oracle for every answer the OpenRouter stand-in gives.

``openrouter`` 1.3.84 (pinned in the dev extra) is generated from OpenRouter's current API; its
pydantic models are what a real client parses. :func:`check_answer` parses an answer the way
the SDK does (``openrouter.utils.unmarshal_json``, the function behind every SDK call) with the
model the SDK uses for that operation and status, and then goes one step further than the SDK:
a field the model does not know is an error too, so the stand-in cannot drift into shapes the
real API does not have (pydantic would drop them silently).

Errors: the operation's own error model when the SDK lists that status for it, else the SDK's
model for that status (every one is ``{"error": {"code", "message", "metadata"?}}``); both
counted separately so a report says how many answers were covered by a documented status.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from openrouter import components, errors, operations
from openrouter.utils import unmarshal_json
from pydantic import BaseModel

# (method, path pattern under /api/v1) -> (success status, success model, documented errors)
ROUTES: list[tuple[str, str, int, Any, tuple[int, ...]]] = [
    ("GET", "/key", 200, operations.GetCurrentKeyResponse, (401, 500)),
    ("GET", "/keys", 200, operations.ListResponse, (400, 401, 404, 429, 500)),
    ("POST", "/keys", 201, operations.CreateKeysResponse, (400, 401, 403, 429, 500)),
    ("GET", "/keys/{hash}", 200, operations.GetKeyResponse, (401, 404, 429, 500)),
    (
        "PATCH",
        "/keys/{hash}",
        200,
        operations.UpdateKeysResponse,
        (400, 401, 403, 404, 409, 429, 500),
    ),
    ("DELETE", "/keys/{hash}", 200, operations.DeleteKeysResponse, (401, 404, 429, 500)),
    ("GET", "/credits", 200, operations.GetCreditsResponse, (401, 403, 500)),
    (
        "GET",
        "/guardrails/assignments/keys",
        200,
        components.ListKeyAssignmentsResponse,
        (400, 401, 403, 404, 500),
    ),
    ("GET", "/guardrails", 200, components.ListGuardrailsResponse, (400, 401, 403, 500)),
    ("GET", "/guardrails/{id}", 200, components.GetGuardrailResponse, (401, 403, 404, 500)),
    (
        "GET",
        "/guardrails/{id}/assignments/keys",
        200,
        components.ListKeyAssignmentsResponse,
        (401, 403, 404, 500),
    ),
    (
        "POST",
        "/guardrails/{id}/assignments/keys",
        200,
        components.BulkAssignKeysResponse,
        (400, 401, 403, 404, 500),
    ),
    (
        "POST",
        "/guardrails/{id}/assignments/keys/remove",
        200,
        components.BulkUnassignKeysResponse,
        (400, 401, 403, 404, 500),
    ),
    ("GET", "/workspaces", 200, components.ListWorkspacesResponse, (401, 403, 500)),
    ("GET", "/workspaces/{id}", 200, components.GetWorkspaceResponse, (401, 403, 404, 500)),
]

ERROR_MODELS: dict[int, Any] = {
    400: errors.BadRequestResponseErrorData,
    401: errors.UnauthorizedResponseErrorData,
    402: errors.PaymentRequiredResponseErrorData,
    403: errors.ForbiddenResponseErrorData,
    404: errors.NotFoundResponseErrorData,
    408: errors.RequestTimeoutResponseErrorData,
    409: errors.ConflictResponseErrorData,
    410: errors.GoneResponseErrorData,
    413: errors.PayloadTooLargeResponseErrorData,
    422: errors.UnprocessableEntityResponseErrorData,
    429: errors.TooManyRequestsResponseErrorData,
    500: errors.InternalServerResponseErrorData,
    502: errors.BadGatewayResponseErrorData,
    503: errors.ServiceUnavailableResponseErrorData,
    504: errors.GatewayTimeoutResponseErrorData,
}


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", pattern) + "/?$")


_ROUTES = [(m, _compile(p), p, s, model, errs) for m, p, s, model, errs in ROUTES]


class OracleError(AssertionError):
    """An answer the official SDK would not accept (or that carries fields it does not know)."""


@dataclass
class SdkReport:
    documented: int = 0  # status listed by the SDK for the operation
    by_status: int = 0  # an error status the operation does not list: the SDK's model for it
    operations: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.documented + self.by_status

    def add(self, other: SdkReport) -> None:
        self.documented += other.documented
        self.by_status += other.by_status
        for op, n in other.operations.items():
            self.operations[op] = self.operations.get(op, 0) + n


SDK_TOTAL = SdkReport()


def operation(method: str, path: str) -> tuple[str, int, Any, tuple[int, ...]]:
    """(path pattern, success status, success model, documented errors) for a request."""
    for m, regex, pattern, status, model, errs in _ROUTES:
        if m == method.upper() and regex.match(path):
            return pattern, status, model, errs
    raise OracleError(f"{method} {path}: not an operation of the official SDK")


def unknown_fields(parsed: Any, data: Any, where: str = "") -> list[str]:
    """Paths of keys in ``data`` that the pydantic model(s) ``parsed`` from it have no field
    for, recursively. pydantic drops (or keeps aside) such keys silently; an oracle must not.
    Shared with ``githubkit_oracle.py``."""
    with warnings.catch_warnings():  # reading a deprecated field (rate_limit) warns
        warnings.simplefilter("ignore", DeprecationWarning)
        return _walk(parsed, data, where)


def _unknown_fields(model: BaseModel, data: Any, where: str) -> list[str]:
    if not isinstance(data, dict):
        return []
    by_key = {(f.alias or name): name for name, f in type(model).model_fields.items()}
    by_key.update({name: name for name in type(model).model_fields})
    found: list[str] = []
    for key, value in data.items():
        name = by_key.get(key)
        if name is None:
            found.append(f"{where}{key}")
            continue
        found.extend(_walk(getattr(model, name), value, f"{where}{key}."))
    return found


def _walk(parsed: Any, value: Any, where: str) -> list[str]:
    if isinstance(parsed, BaseModel):
        return _unknown_fields(parsed, value, where)
    if isinstance(parsed, list) and isinstance(value, list):
        pairs = enumerate(zip(parsed, value))
        return [p for i, (a, b) in pairs for p in _walk(a, b, f"{where}{i}.")]
    return []


def check_answer(method: str, path: str, status: int, body: bytes) -> str:
    """Validate one answer with the SDK; returns ``"documented"`` or ``"by_status"``."""
    pattern, ok_status, ok_model, documented = operation(method, path)
    if status < 400:
        if status != ok_status:
            raise OracleError(f"{method} {pattern} answered {status}; the SDK expects {ok_status}")
        model, kind = ok_model, "documented"
    else:
        model = ERROR_MODELS.get(status)
        if model is None:
            raise OracleError(f"{method} {pattern} answered {status}: no SDK model for it")
        kind = "documented" if status in documented else "by_status"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            parsed = unmarshal_json(body.decode() or "null", model)
    except Exception as exc:  # pydantic's ValidationError, or bad JSON
        problem = f"{method} {pattern} {status}: the SDK rejects the answer: {exc}"
        raise OracleError(problem) from None
    extra = unknown_fields(parsed, json.loads(body or b"null"))
    if extra:
        raise OracleError(f"{method} {pattern} {status}: fields the SDK does not know: {extra}")
    return kind


# Request bodies of the operations the August description does not have.
REQUEST_MODELS: dict[tuple[str, str], Any] = {
    ("POST", "/guardrails/{id}/assignments/keys"): components.BulkAssignKeysRequest,
    ("POST", "/guardrails/{id}/assignments/keys/remove"): components.BulkUnassignKeysRequest,
}


def check_request(method: str, path: str, body: bytes) -> None:
    """Validate a request body with the SDK's request model for the operation (if it has one)."""
    pattern = operation(method, path)[0]
    model = REQUEST_MODELS.get((method.upper(), pattern))
    if model is None:
        if body:
            raise OracleError(f"{method} {pattern}: a body where the SDK sends none")
        return
    try:
        parsed = unmarshal_json(body.decode() or "null", model)
    except Exception as exc:
        raise OracleError(f"{method} {pattern}: the SDK would not send this body: {exc}") from None
    extra = unknown_fields(parsed, json.loads(body))
    if extra:
        raise OracleError(f"{method} {pattern}: request fields the SDK does not know: {extra}")


def check_records(records: list[Any], prefix: str = "/api/v1") -> SdkReport:
    """Validate every OpenRouter answer the sandbox recorded (``Sandbox.requests()``)."""
    report = SdkReport()
    for record in records:
        if not record.path.startswith(prefix):
            continue
        path = record.path[len(prefix) :]
        kind = check_answer(record.method, path, record.status, record.response_body)
        setattr(report, kind, getattr(report, kind) + 1)
        op = f"{record.method} {operation(record.method, path)[0]} {record.status}"
        report.operations[op] = report.operations.get(op, 0) + 1
    SDK_TOTAL.add(report)
    return report
