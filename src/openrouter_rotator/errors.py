"""The one exception tree of the engine and the webhook.

::

    RotatorError                  every error the engine raises on purpose
     +-- ConfigError              invalid configuration or usage (exit code 2, nothing changed)
     +-- StateError               the state or lock variable is corrupt or foreign
     |    +-- LockHeld             another run holds the lock (the engine reports it, exit 0)
     |    +-- LockLost             this run's lock expired under it and another run took over
     +-- RotationFailed           the run failed after it started changing things; has a result
     +-- ApiError                 a remote service refused or failed
          +-- OpenRouterError
          |    +-- OpenRouterAuthError     401/403: wrong kind of key, or a revoked one
          |    +-- OpenRouterPolicyError   an account policy refused it (IP allowlist, expiry)
          |    +-- OpenRouterStatusError   any other non-2xx answer
          |    +-- OpenRouterResponseError a 2xx answer without what it should carry
          |    +-- OpenRouterTransportError connection failure or timeout
          |    +-- CreateOutcomeUnknown    POST /keys may or may not have created a key
          +-- GitHubError
          |    +-- GitHubAuthError          401/403/404 that means "this token cannot do that"
          |    +-- GitHubStatusError
          |    |    +-- VariableExists      POST of a variable that exists (409)
          |    |    +-- VariableNotFound    PATCH of a variable that does not exist (404)
          |    +-- GitHubTransportError
          +-- SlackError                  the webhook's message to a Slack URL failed

Programming errors (a call the code should never make) are ``ValueError`` / ``TypeError``.

Messages say what to fix. None of them ever carries a key, a token or an Authorization header:
status errors keep the service's own message, the method and the path, nothing from the request
body or headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class RotatorError(Exception):
    """Base of every error raised on purpose by openrouter-rotator."""

    exit_code = 1


class ConfigError(RotatorError):
    """An option has an invalid value. Raised before any request that changes anything."""

    exit_code = 2

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option = option
        self.value = value
        self.allowed = allowed
        shown = "" if value is None else f" {_shown(value)}"
        super().__init__(f"invalid {option}{shown}: {allowed}")


def _shown(value: object) -> str:
    """The value as typed, escaped (repr shows line breaks and invisible characters as escapes),
    and cut short: a value of thousands of characters stays one readable line."""
    if isinstance(value, str) and len(value) > 80:
        return f"{value[:60]!r}... ({len(value)} characters)"
    return repr(value)


class StateError(RotatorError):
    """The rotation state cannot be read or written safely."""


class LockHeld(StateError):
    """Another run holds the lock: this run must change nothing. Not a failure (exit 0)."""

    exit_code = 0

    def __init__(self, until: datetime | None, run_url: str | None = None) -> None:
        self.until = until
        self.run_url = run_url
        when = f" until {until:%Y-%m-%dT%H:%M:%SZ}" if until else ""
        by = f" ({run_url})" if run_url else ""
        super().__init__(f"another run holds the lock{when}{by}; nothing done")


class LockLost(StateError):
    """This run's lock expired while it worked (it was stalled) and another run may own it."""


class RotationFailed(RotatorError):
    """The run failed after it started changing things; ``result`` says what stands."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result  # a rotation.RunResult (typed loosely: errors import nothing)


class ApiError(RotatorError):
    """A remote API refused or failed a request."""

    service = "API"

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.hint = hint
        self.detail = message
        where = f"{method} {path}: " if method and path else ""
        code = f"HTTP {status}: " if status is not None else ""
        text = f"{self.service} {where}{code}{message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class OpenRouterError(ApiError):
    service = "OpenRouter"


class OpenRouterAuthError(OpenRouterError):
    """401/403 from OpenRouter."""


class OpenRouterPolicyError(OpenRouterError):
    """An account policy refused the request: an IP allowlist, or keys that must expire."""


class OpenRouterStatusError(OpenRouterError):
    """A non-2xx answer that is not an auth failure."""


class OpenRouterResponseError(OpenRouterError):
    """A success answer without what it must carry (e.g. a create without the key)."""


class OpenRouterTransportError(OpenRouterError):
    """No answer: connection refused or reset, or a timeout."""


class CreateOutcomeUnknown(OpenRouterError):
    """POST /keys got no definite answer and the listing could not settle it either."""


class GitHubError(ApiError):
    service = "GitHub"


class GitHubAuthError(GitHubError):
    """The token is missing a permission, or the resource is invisible to it."""


class GitHubStatusError(GitHubError):
    """A non-2xx answer that is not an auth failure."""


class GitHubTransportError(GitHubError):
    """No answer from GitHub."""


class VariableExists(GitHubStatusError):
    """POST of a variable that already exists (409): the atomic test-and-set said "taken"."""


class VariableNotFound(GitHubStatusError):
    """PATCH of a variable that does not exist (404): create it instead."""


class SlackError(ApiError):
    """A Slack ``response_url`` or incoming webhook refused a message or did not answer. The URL
    is a credential: the message never shows it."""

    service = "Slack"
