"""The one exception tree of the engine.

::

    RotatorError                  every error the engine raises on purpose
     +-- ConfigError              invalid configuration or usage (exit code 2, nothing changed)
     +-- StateError               the state variable is corrupt, foreign or leased by another run
     +-- ApiError                 a remote service refused or failed
          +-- OpenRouterError
          |    +-- OpenRouterAuthError     401/403: wrong kind of key, or a revoked one
          |    +-- OpenRouterPolicyError   an account policy refused it (IP allowlist, expiry)
          |    +-- OpenRouterStatusError   any other non-2xx answer
          |    +-- OpenRouterResponseError a 2xx answer without what it should carry
          |    +-- OpenRouterTransportError connection failure or timeout
          |    +-- CreateOutcomeUnknown    POST /keys may or may not have created a key
          +-- GitHubError
               +-- GitHubAuthError          401/403/404 that means "this token cannot do that"
               +-- GitHubStatusError
               +-- GitHubTransportError

Messages say what to fix. None of them ever carries a key, a token or an Authorization header:
status errors keep the service's own message, the method and the path, nothing from the request
body or headers.
"""

from __future__ import annotations


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
        shown = "" if value is None else f" {value!r}"
        super().__init__(f"invalid {option}{shown}: {allowed}")


class StateError(RotatorError):
    """The rotation state cannot be read or written safely."""


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
