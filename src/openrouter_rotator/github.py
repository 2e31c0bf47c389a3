"""The engine's GitHub layer: sealed secrets to every target, the Actions variables of the state.

What this module owns:

* the target grammar of SPEC §3 (:func:`parse_target`) and GitHub's secret-name rules
  (:func:`validate_secret_name`), checked before any request is sent (they live in
  :mod:`openrouter_rotator.targets`, which does not import PyGithub, and are re-exported here);
* publishing one value to many targets in two phases. :meth:`GitHubClient.preflight` reads one
  public key per scope (repository Actions, environment, organization Actions, repository
  Dependabot), resolves ``selected`` repository names to ids and reads the current visibility of
  existing organization secrets; every missing repository, environment, organization or
  permission surfaces there, before the engine creates a key. :meth:`GitHubClient.publish` then
  seals the value with each scope's key and writes the targets serially;
* the repository Actions variables the state store lives in (the webhook's own calls, workflow
  dispatch, permissions, comments and reactions, are :mod:`webhook.github_api`);
* turning GitHub's answers into the engine's error tree with the fix in the message.

Transport is PyGithub's :class:`~github.Requester.Requester`: it knows the API root (a GitHub
Enterprise Server path prefix included), authentication, the ``X-GitHub-Api-Version`` header,
pacing (``seconds_between_writes`` is GitHub's "at least one second between writes") and
debug logging with the token masked. Sealing is PyGithub's ``PublicKey.encrypt`` (PyNaCl
``SealedBox``, base64).

Retries are decided here rather than by PyGithub's ``GithubRetry``, because that one retries
``POST`` on 5xx (a second workflow dispatch, a second comment), cannot see
``x-ratelimit-remaining`` on a 429, raises from inside the transport for an ordinary 403, and
sleeps with ``time.sleep`` where tests need to observe the wait instead. The policy: a
rate-limited answer (403/429 with ``retry-after``, ``x-ratelimit-remaining: 0`` or a rate-limit
message) is retried for every method after the wait GitHub asks for, since the request was not
processed: the primary limit (``x-ratelimit-remaining: 0``) after its reset, a secondary limit
after at least a minute, then exponentially longer, then it gives up with a clear message; a 5xx
or a lost connection is retried only for idempotent calls (GET, PUT of a sealed secret, PATCH of
a variable). How long and how often is :mod:`openrouter_rotator.retry`, shared with OpenRouter.

Nothing here ever logs or raises with the plaintext value, the token or a request body: error
texts carry GitHub's own message, the method, the path and the fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
import requests
from github import Auth, GithubException, GithubIntegration
from github.PublicKey import encrypt as _seal_with_pygithub
from github.Requester import Requester

from .config import DEFAULT_GITHUB_API_URL
from .errors import (
    ConfigError,
    GitHubAuthError,
    GitHubError,
    GitHubStatusError,
    GitHubTransportError,
    VariableExists,
    VariableNotFound,
)
from .permissions import REQUIRED, describe, explain_header
from .retry import RetryPolicy, rate_limit_reset, retry_after
from .targets import (
    KINDS,
    VISIBILITIES,
    Target,
    is_repository,
    parse_target,
    validate_secret_name,
)

__all__ = [
    "KINDS",
    "VISIBILITIES",
    "GitHubClient",
    "PublishPlan",
    "Target",
    "TargetResult",
    "VariableExists",
    "VariableNotFound",
    "parse_target",
    "seal",
    "validate_secret_name",
]

log = logging.getLogger(__name__)

USER_AGENT = "openrouter-rotator"
# Sent on every request, so the API the project was built against stays the one it gets when
# GitHub makes a newer version the default (a request without the header gets the default).
API_VERSION = "2022-11-28"

# What each kind of call needs from the token, in GitHub's own names (permissions.py holds
# GitHub's table); appended to 401/403/404 explanations.
_APP_TOKEN = "or a GitHub App installation token with the same (actions/create-github-app-token)"
_NEED_SECRETS = (
    "a fine-grained personal access token with "
    + describe(REQUIRED[("PUT", "/repos/{owner}/{repo}/actions/secrets/{secret_name}")])
    + " for repo: targets, "
    + describe(
        REQUIRED[
            ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}")
        ]
    )
    + " for env: targets, "
    + describe(REQUIRED[("PUT", "/orgs/{org}/actions/secrets/{secret_name}")])
    + " for org: targets, "
    + describe(REQUIRED[("PUT", "/repos/{owner}/{repo}/dependabot/secrets/{secret_name}")])
    + f" for dependabot: targets; {_APP_TOKEN}"
)
_NEED_VARIABLES = (
    "a fine-grained personal access token with "
    + describe(
        REQUIRED[("GET", "/repos/{owner}/{repo}/actions/variables/{name}")]
        + REQUIRED[("PATCH", "/repos/{owner}/{repo}/actions/variables/{name}")]
    )
    + f" on the state repository; {_APP_TOKEN}"
)
_METADATA = describe(REQUIRED[("GET", "/repos/{owner}/{repo}")])
_DEFAULT_TOKEN = (
    "the workflow's default GITHUB_TOKEN cannot write secrets or variables, whatever the "
    "workflow's permissions: block grants"
)


@dataclass(frozen=True)
class TargetResult:
    """What happened to one target in :meth:`GitHubClient.publish`."""

    target: str
    status: str  # "created" | "updated" | "failed"
    error: str | None = None


# --------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ScopeKey:
    key_id: str
    key: str


@dataclass(frozen=True)
class _Write:
    target: Target
    key_path: str
    secret_path: str
    visibility: str | None = None
    selected_repository_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PublishPlan:
    """Everything :meth:`GitHubClient.publish` needs, gathered by the pre-flight reads.

    Opaque to callers: build it with :meth:`GitHubClient.preflight` only.
    """

    secret_name: str
    writes: tuple[_Write, ...]
    keys: Mapping[tuple[str, ...], _ScopeKey] = field(repr=False)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(w.target.spec for w in self.writes)


def seal(public_key: str, value: str) -> str:
    """Seal ``value`` for a scope's base64 Curve25519 public key (crypto_box_seal, base64)."""
    return _seal_with_pygithub(public_key, value)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _repo_path(full_repo: str) -> str:
    if not is_repository(full_repo):  # callers pass validated names: a bug, not a user's error
        raise ValueError(f"expected OWNER/REPO, got {full_repo!r}")
    owner, _, name = full_repo.partition("/")
    return f"/repos/{_quote(owner)}/{_quote(name)}"


def _paths(target: Target, secret_name: str) -> tuple[str, str]:
    """(public-key path, secret path) of a target."""
    name = _quote(secret_name)
    if target.kind == "org":
        base = f"/orgs/{_quote(target.owner)}/actions/secrets"
    else:
        repo = _repo_path(f"{target.owner}/{target.repo}")
        if target.kind == "repo":
            base = f"{repo}/actions/secrets"
        elif target.kind == "dependabot":
            base = f"{repo}/dependabot/secrets"
        else:
            base = f"{repo}/environments/{_quote(target.environment or '')}/secrets"
    return f"{base}/public-key", f"{base}/{name}"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    data: Any

    @property
    def message(self) -> str:
        if isinstance(self.data, dict):
            message = str(self.data.get("message") or "")
            details = []
            for item in self.data.get("errors") or []:
                if isinstance(item, dict) and item.get("message"):
                    details.append(str(item["message"]))
                elif isinstance(item, str):
                    details.append(item)
            if details:
                message = f"{message} ({'; '.join(details)})" if message else "; ".join(details)
            return message or "no message"
        return "no message"


def _is_rate_limited(reply: _Reply) -> bool:
    if reply.status not in (403, 429):
        return False
    if reply.status == 429 or reply.headers.get("retry-after"):
        return True
    if reply.headers.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in reply.message.lower()


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


_Client = TypeVar("_Client", bound="GitHubClient")


class GitHubClient:
    """GitHub REST calls the engine and the webhook make, with pacing, retries and clear errors."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_GITHUB_API_URL,
        *,
        timeout: float = 15,
        retries: int = 3,
        write_interval: float = 1.0,
        read_interval: float = 0.0,
        max_rate_limit_wait: float = 300.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Programming errors: the configuration (config.py, webhook/config.py) refuses an empty
        # token, with the fix, before any client exists.
        if not token or not token.strip():
            raise ValueError("GitHubClient needs a token")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries}")
        self.base_url = base_url.rstrip("/")
        self.requests_made = 0
        # The shared policy (retry.py); without one, the arguments make it.
        self._retry = retry or RetryPolicy(retries, max_wait=max_rate_limit_wait)
        self._sleep = sleep
        self._timeout = timeout
        # PyGithub takes whole seconds; round up so a timeout is never shorter than asked.
        self._requester = Requester(
            auth=Auth.Token(token.strip()),
            base_url=self.base_url,
            timeout=max(1, math.ceil(timeout)),
            user_agent=USER_AGENT,
            per_page=100,
            verify=True,
            retry=0,
            pool_size=None,
            seconds_between_requests=read_interval or None,
            seconds_between_writes=write_interval or None,
            api_version=API_VERSION,
        )

    def close(self) -> None:
        """Close the HTTP connections (the client is not used afterwards)."""
        self._requester.close()

    @classmethod
    def from_app(
        cls: type[_Client],
        app_id: int,
        private_key: str,
        repo: str,
        base_url: str = DEFAULT_GITHUB_API_URL,
        **options: Any,
    ) -> _Client:
        """A client authenticated as the GitHub App's installation on ``repo`` ("owner/name").

        The installation token lives one hour; build a new client per job or request.
        """
        base = base_url.rstrip("/")
        owner, _, name = repo.partition("/")
        _repo_path(repo)  # validates the form
        try:
            auth = Auth.AppAuth(app_id, private_key)
            integration = GithubIntegration(
                auth=auth,
                base_url=base,
                timeout=max(1, math.ceil(float(options.get("timeout", 15)))),
                retry=0,
                user_agent=USER_AGENT,
                api_version=API_VERSION,
            )
            installation = integration.get_repo_installation(owner, name)
            token = integration.get_access_token(installation.id).token
        except GithubException as exc:
            message = exc.message or (
                exc.data.get("message") if isinstance(exc.data, dict) else None
            )
            raise GitHubAuthError(
                str(message or "GitHub App authentication failed"),
                status=exc.status,
                hint=(
                    f"check the app id and private key, and that the app is installed on {repo} "
                    "with the permissions it needs"
                ),
            ) from None
        except requests.RequestException as exc:
            raise GitHubTransportError(f"no answer from {base}: {type(exc).__name__}") from None
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            # PyJWT/cryptography refuse a malformed key before any request is sent.
            raise ConfigError(
                "github-app-private-key", None, f"not a usable PEM RSA private key ({exc})"
            ) from None
        client = cls(token, base, **options)
        client.requests_made += 2
        return client

    # ----------------------------------------------------------------------------------------
    # transport
    # ----------------------------------------------------------------------------------------

    def _request(
        self,
        verb: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> _Reply:
        attempt = 0  # retries after an ordinary failure or a primary rate limit
        secondary = 0  # retries after a secondary rate limit
        while True:
            try:
                self.requests_made += 1
                status, headers, text = self._requester.requestJson(
                    verb, path, parameters=query, input=body
                )
            except requests.RequestException as exc:
                if idempotent and attempt < self._retry.retries:
                    self._backoff(attempt, f"{verb} {path}: {type(exc).__name__}")
                    attempt += 1
                    continue
                kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
                raise GitHubTransportError(
                    f"request {kind} ({type(exc).__name__}) after {attempt + 1} attempt(s)",
                    method=verb,
                    path=path,
                    hint=f"check that {self.base_url} is reachable; timeout {self._timeout}s",
                ) from None
            reply = _Reply(status, {k.lower(): str(v) for k, v in headers.items()}, _json(text))
            if _is_rate_limited(reply):
                # Retried for every method: a rate-limited request was not processed.
                now = time.time()
                asked = retry_after(reply.headers, now)
                reset = rate_limit_reset(reply.headers, now)
                if reset is not None:  # the primary limit: wait for its reset
                    wait = asked if asked is not None else reset
                    done = attempt >= self._retry.retries
                    attempt += 1
                    why = f"GitHub's rate limit resets in {wait:.0f}s"
                else:
                    # A secondary limit: at least a minute, then exponentially longer, then
                    # give up (GitHub's guidance for integrators).
                    wait = self._retry.secondary_for(secondary, asked)
                    done = secondary >= self._retry.secondary_retries
                    secondary += 1
                    why = f"GitHub's secondary rate limit (would wait {wait:.0f}s more)"
                if done or wait > self._retry.max_wait:
                    raise GitHubStatusError(
                        reply.message,
                        method=verb,
                        path=path,
                        status=status,
                        hint=(
                            f"rate limited: {why}; gave up after {attempt + secondary} "
                            "attempt(s) and the waits GitHub asks for: run again later, or "
                            "spread the targets over several rotations"
                        ),
                    )
                log.warning(
                    "GitHub rate limit on %s %s (HTTP %s): waiting %.1fs", verb, path, status, wait
                )
                self._sleep(wait * self._retry.scale)
                continue
            if status >= 500 and idempotent and attempt < self._retry.retries:
                self._backoff(attempt, f"{verb} {path}: HTTP {status}")
                attempt += 1
                continue
            return reply

    def _backoff(self, attempt: int, what: str) -> None:
        wait = self._retry.backoff_for(attempt)
        log.warning("GitHub %s; retrying in %.1fs", what, wait)
        self._sleep(wait * self._retry.scale)

    def _fail(self, reply: _Reply, verb: str, path: str, need: str) -> GitHubError:
        """The error for an unexpected answer, with the fix for auth-shaped ones."""
        message = reply.message
        if reply.status == 401:
            return GitHubAuthError(
                message,
                method=verb,
                path=path,
                status=401,
                hint=f"the token is invalid, expired or revoked; GITHUB_TOKEN must be {need}",
            )
        if reply.status == 403:
            if "not accessible by integration" in message.lower():
                hint = f"{_DEFAULT_TOKEN}; use {need}"
            else:
                hint = f"the token lacks a permission; use {need}"
            accepted = reply.headers.get("x-accepted-github-permissions")
            if accepted and explain_header(accepted):
                # GitHub's own word on this call beats the general advice: quote it first.
                hint = (
                    f"GitHub says this call needs {explain_header(accepted)} "
                    f"(X-Accepted-GitHub-Permissions: {accepted}); {hint}"
                )
            return GitHubAuthError(message, method=verb, path=path, status=403, hint=hint)
        if reply.status == 404:
            return GitHubAuthError(
                message,
                method=verb,
                path=path,
                status=404,
                hint=(
                    "it does not exist, or the token cannot see it (GitHub answers 404 then): "
                    f"check the spelling, and that the token covers it; use {need}"
                ),
            )
        return GitHubStatusError(message, method=verb, path=path, status=reply.status)

    # ----------------------------------------------------------------------------------------
    # secrets
    # ----------------------------------------------------------------------------------------

    def preflight(self, targets: Sequence[Target], secret_name: str) -> PublishPlan:
        """Read what publishing needs; raise with the fix before anything is written.

        Requests: one public-key GET per distinct scope; for an org target without a
        visibility, one GET of the existing secret (plus its repository list when it is
        ``selected``); for ``selected`` targets one repository GET per name.
        """
        validate_secret_name(secret_name)
        # The configuration guarantees both (config.py, with the fix for the user).
        if not targets:
            raise ValueError("preflight needs at least one target")
        if len({t.scope for t in targets}) != len(targets):
            raise ValueError("two targets name the same secret location")
        keys: dict[tuple[str, ...], _ScopeKey] = {}
        writes: list[_Write] = []
        problems: list[tuple[Target, GitHubError]] = []
        for target in targets:
            key_path, secret_path = _paths(target, secret_name)
            try:
                keys[target.scope] = self._public_key(target, key_path)
                visibility, ids = (None, None)
                if target.kind == "org":
                    visibility, ids = self._org_scope(target, secret_name, secret_path)
                writes.append(_Write(target, key_path, secret_path, visibility, ids))
            except GitHubError as exc:
                if isinstance(exc, GitHubTransportError) or exc.status == 401:
                    raise  # nothing else can work either
                problems.append((target, exc))
        if problems:
            if len(problems) == 1:
                raise problems[0][1]
            kind = (
                GitHubAuthError
                if all(isinstance(e, GitHubAuthError) for _, e in problems)
                else GitHubError
            )
            raise kind(
                f"{len(problems)} targets cannot be written: "
                + " | ".join(f"{t.spec}: {e}" for t, e in problems)
            )
        return PublishPlan(secret_name, tuple(writes), keys)

    def _public_key(self, target: Target, path: str) -> _ScopeKey:
        reply = self._request("GET", path, idempotent=True)
        if reply.status == 404 and target.kind == "env":
            raise self._missing_environment(target, path, reply)
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise self._fail(reply, "GET", path, _NEED_SECRETS)
        key_id, key = reply.data.get("key_id"), reply.data.get("key")
        try:
            usable = (
                isinstance(key_id, str)
                and isinstance(key, str)
                and len(base64.b64decode(key, validate=True)) == 32
            )
        except (binascii.Error, ValueError):
            usable = False
        if not usable:
            raise GitHubStatusError(
                "the public key GitHub returned is not a base64 Curve25519 key",
                method="GET",
                path=path,
                status=reply.status,
            )
        return _ScopeKey(str(key_id), str(key))

    def _missing_environment(self, target: Target, path: str, reply: _Reply) -> GitHubError:
        """Tell a missing environment from a missing (or invisible) repository."""
        repo_path = _repo_path(target.full_repo or "")
        repo = self._request("GET", repo_path, idempotent=True)
        if repo.status != 200:
            return self._fail(repo, "GET", repo_path, _NEED_SECRETS)
        return GitHubStatusError(
            f"environment {target.environment!r} does not exist in {target.full_repo}",
            method="GET",
            path=path,
            status=404,
            hint=(
                f"create it under Settings > Environments of {target.full_repo}, or fix the "
                'target (a fine-grained token also needs repository "Environments: read")'
            ),
        )

    def _org_scope(
        self, target: Target, secret_name: str, secret_path: str
    ) -> tuple[str, tuple[int, ...] | None]:
        """The visibility and repository ids to send with an organization secret."""
        if target.visibility == "selected":
            return "selected", tuple(self._repo_id(target.owner, n) for n in target.repositories)
        if target.visibility is not None:
            return target.visibility, None
        # Keep what the secret has: GitHub resets visibility and selected repositories on a PUT
        # that does not send them back.
        reply = self._request("GET", secret_path, idempotent=True)
        if reply.status == 404:
            return "private", None
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise self._fail(reply, "GET", secret_path, _NEED_SECRETS)
        visibility = str(reply.data.get("visibility") or "private")
        if visibility != "selected":
            return visibility, None
        return "selected", self._selected_ids(secret_path + "/repositories")

    def _selected_ids(self, path: str) -> tuple[int, ...]:
        ids: list[int] = []
        page = 1
        while True:
            reply = self._request(
                "GET", path, query={"per_page": 100, "page": page}, idempotent=True
            )
            if reply.status != 200 or not isinstance(reply.data, dict):
                raise self._fail(reply, "GET", path, _NEED_SECRETS)
            batch = reply.data.get("repositories") or []
            ids.extend(int(r["id"]) for r in batch)
            if not batch or len(ids) >= int(reply.data.get("total_count") or 0):
                return tuple(ids)
            page += 1

    def _repo_id(self, owner: str, name: str) -> int:
        path = _repo_path(f"{owner}/{name}")
        reply = self._request("GET", path, idempotent=True)
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise self._fail(reply, "GET", path, f"{_NEED_SECRETS}, and {_METADATA}")
        return int(reply.data["id"])

    def publish(
        self,
        plan: PublishPlan,
        value: str,
        before_each: Callable[[], None] | None = None,
    ) -> list[TargetResult]:
        """Seal ``value`` per scope and PUT it to every planned target, one after another.

        A failed target is reported in its result and the others are still written.
        ``before_each`` runs before every write (the engine renews its lock there).
        """
        results: list[TargetResult] = []
        for write in plan.writes:
            if before_each is not None:
                before_each()
            try:
                status = self._put_secret(plan, write, value)
            except GitHubError as exc:
                log.error(
                    "secret %s not written to %s: %s", plan.secret_name, write.target.spec, exc
                )
                results.append(TargetResult(write.target.spec, "failed", str(exc)))
                continue
            log.info("secret %s %s at %s", plan.secret_name, status, write.target.spec)
            results.append(TargetResult(write.target.spec, status))
        return results

    def _put_secret(self, plan: PublishPlan, write: _Write, value: str) -> str:
        key = plan.keys[write.target.scope]
        refreshed = False
        while True:
            body: dict[str, Any] = {"encrypted_value": seal(key.key, value), "key_id": key.key_id}
            if write.target.kind == "org":
                body["visibility"] = write.visibility or "private"
                if write.selected_repository_ids is not None:
                    body["selected_repository_ids"] = list(write.selected_repository_ids)
            reply = self._request("PUT", write.secret_path, body=body, idempotent=True)
            if reply.status == 201:
                return "created"
            if reply.status == 204:
                return "updated"
            if reply.status == 422 and not refreshed:
                # GitHub may have rotated the scope's key since the pre-flight read.
                key = self._public_key(write.target, write.key_path)
                refreshed = True
                continue
            raise self._fail(reply, "PUT", write.secret_path, _NEED_SECRETS)

    # ----------------------------------------------------------------------------------------
    # variables
    # ----------------------------------------------------------------------------------------

    def get_variable(self, repo: str, name: str) -> str | None:
        """The value of repository Actions variable ``name``; None when it does not exist."""
        path = f"{_repo_path(repo)}/actions/variables/{_quote(name)}"
        reply = self._request("GET", path, idempotent=True)
        if reply.status == 404:
            return None
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise self._fail(reply, "GET", path, _NEED_VARIABLES)
        return str(reply.data.get("value", ""))

    def create_variable(self, repo: str, name: str, value: str) -> None:
        """POST a new variable; VariableExists (409) when it is already there."""
        validate_secret_name(name, "state-variable")
        path = f"{_repo_path(repo)}/actions/variables"
        # Not retried on 5xx: a create that did land would come back as 409 and mislead.
        reply = self._request("POST", path, body={"name": name, "value": value}, idempotent=False)
        if reply.status == 201:
            return
        if reply.status == 409:
            raise VariableExists(
                reply.message, method="POST", path=path, status=409, hint="update it instead"
            )
        raise self._fail(reply, "POST", path, _NEED_VARIABLES)

    def update_variable(self, repo: str, name: str, value: str) -> None:
        """PATCH an existing variable; VariableNotFound (404) when it is missing."""
        path = f"{_repo_path(repo)}/actions/variables/{_quote(name)}"
        reply = self._request("PATCH", path, body={"name": name, "value": value}, idempotent=True)
        if reply.status in (200, 204):
            return
        if reply.status == 404:
            # Tell "no such variable" from "no such repository / no access".
            probe = self._request("GET", _repo_path(repo), idempotent=True)
            if probe.status == 200:
                raise VariableNotFound(
                    reply.message, method="PATCH", path=path, status=404, hint="create it first"
                )
        raise self._fail(reply, "PATCH", path, _NEED_VARIABLES)

    def delete_variable(self, repo: str, name: str) -> bool:
        """DELETE a variable: True if deleted now, False if it was already gone (404)."""
        path = f"{_repo_path(repo)}/actions/variables/{_quote(name)}"
        reply = self._request("DELETE", path, idempotent=True)
        if reply.status == 204:
            return True
        if reply.status == 404:
            return False
        raise self._fail(reply, "DELETE", path, _NEED_VARIABLES)


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
