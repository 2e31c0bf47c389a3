"""A stateful stand-in for the GitHub REST endpoints the engine and the webhook use.

It follows ``shared/specs/github-actions-secrets.openapi.json`` for every route it serves, and
GitHub's documented behaviour where the description is silent:

* accounts, organizations and repositories with ids; environments per repository; seeded with
  organization ``octo-org``, repositories ``octo-org/app`` (environment ``production``, workflow
  ``rotate-openrouter-key.yml`` with inputs ``force``, ``reason``, ``emergency``) and
  ``octo-org/api``; more from Python (:meth:`GitHubStandIn.add_repo` ...) or the control API;
* one Curve25519 key pair per secret scope (repository Actions, environment, organization
  Actions, repository Dependabot) with a numeric ``key_id``. Secrets are stored sealed, as
  received; a value that the scope's private key cannot open, or a stale ``key_id``, is 422.
  Tests open them with :meth:`GitHubStandIn.open_secret`;
* ``PUT`` secret answers 201 when it creates and 204 when it updates. Organization secrets keep
  ``visibility`` and ``selected_repository_ids``; a ``PUT`` that leaves ``visibility`` out resets
  the secret to ``private`` and drops its repositories, so a client that forgets to send them
  back is caught;
* repository Actions variables (POST 201 / 409, PATCH 204 / 404, GET 200 / 404);
* workflow dispatch (422 for an input the workflow does not declare, or a required one left out;
  204, or 200 with the run's ids and URLs when ``return_run_details`` is true, which is the
  default under ``X-GitHub-Api-Version: 2026-03-10``). Each dispatch makes a queued run, listed
  by ``GET .../actions/workflows/{w}/runs`` (newest first; ``event``, ``branch``, ``status``,
  pages) and read by ``GET .../actions/runs/{id}``; its
  ``display_title`` is the workflow's ``run-name`` with ``${{ inputs.x }}`` filled in (the
  example workflow's by default; settable per workflow from Python or the control API), collaborator
  permissions (``none`` for anyone not configured), issue comments and reactions, all recorded;
* a GitHub App: ``GET /repos/{o}/{r}/installation`` and ``POST
  /app/installations/{id}/access_tokens`` take an RS256 JWT signed with the app's key (checked
  against its public key) and hand out installation tokens.

Tokens: :attr:`GitHubStandIn.admin_token` may do everything; :attr:`readonly_token` plays the
workflow's default ``GITHUB_TOKEN``: 403 "Resource not accessible by integration" on every write
and on every secrets endpoint (that token has no secrets permission at all, so even the public
key read fails, which is what lets a pre-flight catch it); any other token gets 401 "Bad
credentials". Error bodies are ``{"message", "documentation_url"}``.

Every exchange is kept in :attr:`GitHubStandIn.exchanges` so tests can validate the requests
received and the responses given against the official description. Faults and latency come from
the shared :class:`~openrouter_rotator.sandbox.http.SandboxServer`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from .. import permissions
from .http import Request, Response, Router

DOCS = "https://docs.github.com/rest"
# The REST API versions GitHub serves (X-GitHub-Api-Version); the first is the default.
API_VERSIONS = ("2022-11-28", "2026-03-10")
SECRET_MAX_BYTES = 48 * 1024
VARIABLE_MAX_BYTES = 48 * 1024
PERMISSION_LEVELS = {
    # role -> (permission as GitHub folds it, role_name)
    "admin": ("admin", "admin"),
    "maintain": ("write", "maintain"),
    "write": ("write", "write"),
    "triage": ("read", "triage"),
    "read": ("read", "read"),
    "none": ("none", "none"),
}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BOT_LOGIN = "openrouter-rotator[bot]"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, **extra: Any) -> Response:
    # GitHub's error shapes: basic-error carries the status as text; validation-error (422)
    # has no such field.
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
    if status != 422:
        body["status"] = str(status)
    return Response(status, {**body, **extra})


def _valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and not name.upper().startswith("GITHUB_")


@dataclass
class KeyPair:
    key_id: str
    private: PrivateKey = field(repr=False)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self.private.public_key)).decode()

    def open(self, sealed_b64: str) -> str:
        return SealedBox(self.private).decrypt(base64.b64decode(sealed_b64)).decode()


@dataclass
class StoredSecret:
    """A secret as GitHub keeps it: sealed, with the key id it was sealed for."""

    encrypted_value: str = field(repr=False)
    key_id: str
    created_at: datetime
    updated_at: datetime
    visibility: str | None = None
    selected_repository_ids: list[int] = field(default_factory=list)


@dataclass
class Account:
    id: int
    login: str
    type: str  # "Organization" | "User"


@dataclass
class Environment:
    id: int
    name: str
    created_at: datetime = field(default_factory=_now)


@dataclass
class Workflow:
    id: int
    path: str
    name: str
    inputs: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    # The workflow file's ``run-name``; ``${{ inputs.<name> }}`` is filled in per run. None: a
    # dispatched run is titled with the workflow's name, as GitHub does.
    run_name: str | None = None
    created_at: datetime = field(default_factory=_now)

    def title(self, inputs: dict[str, Any]) -> str:
        if self.run_name is None:
            return self.name

        def value(match: re.Match[str]) -> str:
            given = inputs.get(match.group(1), "")
            return str(given).lower() if isinstance(given, bool) else str(given)

        return _INPUT_EXPRESSION.sub(value, self.run_name)


# ``${{ inputs.request-id }}`` and ``${{ github.event.inputs.request-id }}`` in a run-name.
_INPUT_EXPRESSION = re.compile(r"\$\{\{\s*(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)\s*\}\}")
# The example workflow's run-name (.github/workflows/rotate-openrouter-key.yml).
EXAMPLE_RUN_NAME = "Rotate OpenRouter key ${{ inputs.request-id }}"


@dataclass
class Variable:
    name: str
    value: str
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)


@dataclass
class Repo:
    id: int
    owner: Account
    name: str
    private: bool = True
    environments: dict[str, Environment] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


def _fields(record: Any, *leave_out: str) -> dict[str, Any]:
    """A recorded event as the control API shows it (what tests read back)."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in leave_out}


@dataclass
class Dispatch:
    repo: str
    workflow: str
    ref: str
    inputs: dict[str, Any]
    run_id: int
    display_title: str = ""
    workflow_id: int = 0
    run_number: int = 1
    at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return {**_fields(self, "at"), "at": _iso(self.at)}


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    created_at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return _fields(self, "created_at")


@dataclass
class Reaction:
    id: int
    repo: str
    comment_id: int
    content: str
    user: str
    created_at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return _fields(self, "created_at")


@dataclass
class Exchange:
    """One request the stand-in answered and its answer, for contract validation."""

    method: str
    path: str  # without the mount prefix, e.g. /repos/octo-org/app
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int
    response_body: bytes
    response_headers: dict[str, str]


class GitHubStandIn:
    """The GitHub side of the sandbox. See the module docstring."""

    def __init__(self, *, seed: bool = True) -> None:
        self.admin_token = "ghs_sandbox_admin_" + secrets.token_hex(8)
        self.readonly_token = "ghs_sandbox_readonly_" + secrets.token_hex(8)
        self.app_id = 424242
        self.installation_id = 7100001
        self._app_private_pem: str | None = None
        self._app_public_pem: str | None = None
        self._tokens: dict[str, tuple[str, datetime | None]] = {
            self.admin_token: ("admin", None),
            self.readonly_token: ("readonly", None),
        }
        self._lock = threading.RLock()
        self._ids = itertools.count(1_296_269)
        self._key_ids = itertools.count(3_380_204_578_043_523_366)
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repo] = {}
        self.keys: dict[str, KeyPair] = {}
        self._retired_keys: dict[str, KeyPair] = {}
        self.secrets: dict[tuple[str, str], StoredSecret] = {}
        self.dispatches: list[Dispatch] = []
        self.comments: list[Comment] = []
        self.reactions: list[Reaction] = []
        self.exchanges: list[Exchange] = []
        self._prefix = "/github"
        if seed:
            self.add_org("octo-org")
            self.add_repo("octo-org/app", environments=["production"])
            self.add_repo("octo-org/api")
            self.add_workflow(
                "octo-org/app",
                "rotate-openrouter-key.yml",
                inputs=["force", "reason", "emergency", "request-id"],
                name="Rotate OpenRouter key",
                run_name=EXAMPLE_RUN_NAME,
            )

    # ----------------------------------------------------------------------------------------
    # seeding from Python
    # ----------------------------------------------------------------------------------------

    def add_org(self, login: str) -> Account:
        with self._lock:
            account = self.accounts.get(login.lower())
            if account is None:
                account = Account(next(self._ids), login, "Organization")
                self.accounts[login.lower()] = account
            return account

    def add_repo(
        self, full_name: str, *, private: bool = True, environments: Iterable[str] = ()
    ) -> int:
        """Add ``owner/name`` (the owner becomes a user account unless it is an org); its id."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"expected OWNER/REPO, got {full_name!r}")
        with self._lock:
            account = self.accounts.get(owner.lower())
            if account is None:
                account = Account(next(self._ids), owner, "User")
                self.accounts[owner.lower()] = account
            repo = self.repos.get(full_name.lower())
            if repo is None:
                repo = Repo(next(self._ids), account, name, private)
                self.repos[full_name.lower()] = repo
            for env in environments:
                self.add_environment(full_name, env)
            return repo.id

    def add_environment(self, full_name: str, name: str) -> None:
        with self._lock:
            repo = self._repo_or_raise(full_name)
            if name.lower() not in repo.environments:
                repo.environments[name.lower()] = Environment(next(self._ids), name)

    def set_permission(self, full_name: str, username: str, permission: str) -> None:
        if permission not in PERMISSION_LEVELS:
            raise ValueError(f"permission must be one of {sorted(PERMISSION_LEVELS)}")
        with self._lock:
            self._repo_or_raise(full_name).permissions[username.lower()] = permission

    def add_workflow(
        self,
        full_name: str,
        path: str,
        *,
        inputs: Iterable[str] = (),
        required: Iterable[str] = (),
        name: str | None = None,
        run_name: str | None = None,
    ) -> int:
        with self._lock:
            repo = self._repo_or_raise(full_name)
            file = path.rsplit("/", 1)[-1]
            workflow = Workflow(
                next(self._ids),
                f".github/workflows/{file}",
                name or file.rsplit(".", 1)[0],
                tuple(inputs),
                tuple(required),
                run_name,
            )
            repo.workflows[file] = workflow
            return workflow.id

    def set_run_name(self, full_name: str, workflow: str, run_name: str | None) -> None:
        """Change a workflow's ``run-name`` template (None: runs are titled by its name)."""
        with self._lock:
            repo = self._repo_or_raise(full_name)
            found = self._find_workflow(repo, workflow)
            if found is None:
                raise KeyError(f"no workflow {workflow} in {full_name}")
            found.run_name = run_name

    def set_variable(self, full_name: str, name: str, value: str) -> None:
        with self._lock:
            repo = self._repo_or_raise(full_name)
            repo.variables[name.upper()] = Variable(name.upper(), value)

    def variable(self, full_name: str, name: str) -> str | None:
        with self._lock:
            found = self._repo_or_raise(full_name).variables.get(name.upper())
            return None if found is None else found.value

    def _repo_or_raise(self, full_name: str) -> Repo:
        repo = self.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"no repository {full_name!r} in the sandbox")
        return repo

    # ----------------------------------------------------------------------------------------
    # secrets, for tests
    # ----------------------------------------------------------------------------------------

    @staticmethod
    def scope_id(scope: str) -> str:
        """Canonical scope text: ``repo:o/r``, ``env:o/r/env``, ``org:o``, ``dependabot:o/r``."""
        kind, _, rest = scope.partition(":")
        rest = rest.split("?", 1)[0]
        if kind not in ("repo", "env", "org", "dependabot") or not rest:
            raise ValueError(f"not a secret scope: {scope!r}")
        return f"{kind}:{rest.lower()}"

    def key_pair(self, scope: str) -> KeyPair:
        """The scope's key pair (created on first use, as GitHub has one ready for any scope)."""
        sid = self.scope_id(scope)
        with self._lock:
            pair = self.keys.get(sid)
            if pair is None:
                pair = KeyPair(str(next(self._key_ids)), PrivateKey.generate())
                self.keys[sid] = pair
            return pair

    def rotate_key(self, scope: str) -> KeyPair:
        """Replace the scope's key pair, as GitHub occasionally does."""
        with self._lock:
            old = self.keys.pop(self.scope_id(scope), None)
            if old is not None:
                self._retired_keys[old.key_id] = old
            return self.key_pair(scope)

    def secret(self, scope: str, name: str) -> StoredSecret | None:
        with self._lock:
            return self.secrets.get((self.scope_id(scope), name.upper()))

    def open_secret(self, scope: str, name: str) -> str:
        """Open a stored secret with the private key of the key pair it was sealed for."""
        with self._lock:
            stored = self.secrets.get((self.scope_id(scope), name.upper()))
            if stored is None:
                raise KeyError(f"no secret {name!r} at {scope!r}")
            pair = self.keys.get(self.scope_id(scope))
            if pair is None or pair.key_id != stored.key_id:
                pair = self._retired_keys.get(stored.key_id)
            if pair is None:
                raise KeyError(f"the key secret {name!r} at {scope!r} was sealed for is gone")
            return pair.open(stored.encrypted_value)

    # ----------------------------------------------------------------------------------------
    # GitHub App
    # ----------------------------------------------------------------------------------------

    @property
    def app_private_key(self) -> str:
        """PEM of the sandbox app's RSA key (made on first use: key generation takes a moment)."""
        with self._lock:
            if self._app_private_pem is None:
                from cryptography.hazmat.primitives import serialization
                from cryptography.hazmat.primitives.asymmetric import rsa

                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._app_private_pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode()
                self._app_public_pem = (
                    key.public_key()
                    .public_bytes(
                        serialization.Encoding.PEM,
                        serialization.PublicFormat.SubjectPublicKeyInfo,
                    )
                    .decode()
                )
            return self._app_private_pem

    def _verify_jwt(self, request: Request) -> str | None:
        """None when the bearer is a JWT of this app signed with its key; else the reason."""
        import jwt

        token = request.bearer
        if not token or token.count(".") != 2:
            return "A JSON web token could not be decoded"
        self.app_private_key  # noqa: B018 - makes sure the key pair exists
        try:
            claims = jwt.decode(
                token,
                self._app_public_pem or "",
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            return f"A JSON web token could not be decoded ({type(exc).__name__})"
        if str(claims.get("iss")) != str(self.app_id):
            return "'Issuer' claim ('iss') must be the app id"
        return None

    # ----------------------------------------------------------------------------------------
    # HTTP
    # ----------------------------------------------------------------------------------------

    def register(self, router: Router, prefix: str = "/github") -> None:
        self._prefix = prefix.rstrip("/")
        add = self._route_adder(router, self._prefix)
        repo = "/repos/{owner}/{repo}"
        env = repo + "/environments/{environment_name}"
        org = "/orgs/{org}"
        # Public-key routes before the {secret_name} routes that would also match them.
        for base, kind in (
            (repo + "/actions/secrets", "repo"),
            (env + "/secrets", "env"),
            (repo + "/dependabot/secrets", "dependabot"),
            (org + "/actions/secrets", "org"),
        ):
            add("GET", base + "/public-key", self._public_key(kind), secrets=True)
            add("GET", base + "/{secret_name}", self._get_secret(kind), secrets=True)
            add("PUT", base + "/{secret_name}", self._put_secret(kind), secrets=True)
            add("DELETE", base + "/{secret_name}", self._delete_secret(kind), secrets=True)
        add(
            "GET",
            org + "/actions/secrets/{secret_name}/repositories",
            self._org_secret_repos,
            secrets=True,
        )
        add(
            "PUT",
            org + "/actions/secrets/{secret_name}/repositories",
            self._set_org_secret_repos,
            secrets=True,
        )
        add("GET", repo, self._get_repo)
        add("GET", repo + "/environments", self._list_environments)
        add("GET", env, self._get_environment)
        add("PUT", env, self._put_environment)
        add("GET", repo + "/actions/variables", self._list_variables)
        add("POST", repo + "/actions/variables", self._create_variable)
        add("GET", repo + "/actions/variables/{name}", self._get_variable)
        add("PATCH", repo + "/actions/variables/{name}", self._update_variable)
        add("DELETE", repo + "/actions/variables/{name}", self._delete_variable)
        add("GET", repo + "/actions/workflows/{workflow_id}", self._get_workflow)
        add("POST", repo + "/actions/workflows/{workflow_id}/dispatches", self._dispatch)
        add("GET", repo + "/actions/workflows/{workflow_id}/runs", self._list_runs)
        add("GET", repo + "/actions/runs/{run_id}", self._get_run)
        add("GET", repo + "/collaborators/{username}/permission", self._permission)
        add("POST", repo + "/issues/{issue_number}/comments", self._create_comment)
        add("POST", repo + "/issues/comments/{comment_id}/reactions", self._create_reaction)
        add("GET", repo + "/installation", self._installation, app=True)
        add(
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            self._access_token,
            app=True,
        )

    def _route_adder(self, router: Router, prefix: str) -> Callable[..., None]:
        def add(
            method: str,
            pattern: str,
            handler: Callable[[Request], Response],
            *,
            secrets: bool = False,
            app: bool = False,
        ) -> None:
            router.add(
                method, prefix + pattern, self._guard(method, pattern, handler, secrets, app)
            )

        return add

    def register_fallback(self, router: Router) -> None:
        """After every other route: what GitHub answers for a route it does not have (or that
        the stand-in does not serve), a 404 with the usual error body, whatever the method."""
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            router.add(
                method,
                self._prefix + "/(?P<rest>.*)",
                self._guard(method, None, lambda request: _error(404, "Not Found"), False, False),
            )

    def _guard(
        self,
        method: str,
        template: str | None,
        handler: Callable[[Request], Response],
        secrets_endpoint: bool,
        app: bool,
    ) -> Callable[[Request], Response]:
        write = method.upper() != "GET"
        accepted = None if template is None else permissions.header(method, template)

        def serve(request: Request) -> Response:
            request.params = {k: unquote(v) for k, v in request.params.items()}
            response = self._version(request) or self._authorize(
                request, write, secrets_endpoint, app, public=template == "/repos/{owner}/{repo}"
            )
            if response is None:
                with self._lock:
                    try:
                        response = handler(request)
                    except (ValueError, KeyError, TypeError) as exc:
                        response = _error(400, f"Problems parsing JSON ({type(exc).__name__})")
            if accepted and request.bearer and not app:
                # GitHub tells fine-grained tokens and App tokens what a route needs.
                response.headers.setdefault("X-Accepted-GitHub-Permissions", accepted)
            self._record(request, response)
            return response

        return serve

    @staticmethod
    def _version(request: Request) -> Response | None:
        """GitHub answers a version it does not know with 400; no header means 2022-11-28."""
        asked = request.header("x-github-api-version")
        if asked is None or asked in API_VERSIONS:
            return None
        return _error(
            400,
            f"No version matching '{asked}' could be found. Supported versions: "
            + ", ".join(API_VERSIONS),
        )

    def _authorize(
        self,
        request: Request,
        write: bool,
        secrets_endpoint: bool,
        app: bool,
        *,
        public: bool = False,
    ) -> Response | None:
        if app:
            reason = self._verify_jwt(request)
            return None if reason is None else _error(401, reason)
        token = request.bearer
        if not token and "owner" in request.params and "repo" in request.params:
            # Anonymous: a private (or missing) repository does not exist as far as GitHub
            # says; a public one can be read where the route is public.
            repo = self._find_repo(request)
            if repo is None or repo.private:
                return _error(404, "Not Found")
            return None if public and not write else _error(401, "Requires authentication")
        role, expires = self._tokens.get(token or "", (None, None))
        if role is None or (expires is not None and expires < _now()):
            if not token:
                return _error(401, "Requires authentication")
            return _error(401, "Bad credentials")
        if role == "readonly" and (write or secrets_endpoint):
            return _error(403, "Resource not accessible by integration")
        return None

    def _record(self, request: Request, response: Response) -> None:
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        path = request.path
        if path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        with self._lock:
            self.exchanges.append(
                Exchange(
                    request.method,
                    path,
                    dict(request.query),
                    headers,
                    request.body,
                    response.status,
                    response.encode(),
                    dict(response.headers),
                )
            )

    # -- URLs and shapes ---------------------------------------------------------------------

    def _api(self, request: Request) -> str:
        return f"http://{request.header('host') or '127.0.0.1'}{self._prefix}"

    def _web(self, request: Request) -> str:
        return f"http://{request.header('host') or '127.0.0.1'}/web"

    def _user(
        self, request: Request, login: str, user_id: int, kind: str = "User"
    ) -> dict[str, Any]:
        api, web = self._api(request), self._web(request)
        u = f"{api}/users/{login}"
        return {
            "login": login,
            "id": user_id,
            "node_id": base64.b64encode(f"04:{kind}{user_id}".encode()).decode(),
            "avatar_url": f"{web}/avatars/{user_id}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{web}/{login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": kind,
            "site_admin": False,
        }

    def _bot(self, request: Request) -> dict[str, Any]:
        return self._user(request, BOT_LOGIN, 41898282, "Bot")

    def _minimal_repo(self, request: Request, repo: Repo) -> dict[str, Any]:
        api, web = self._api(request), self._web(request)
        u = f"{api}/repos/{repo.full_name}"
        owner = self._user(request, repo.owner.login, repo.owner.id, repo.owner.type)
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": owner,
            "private": repo.private,
            "html_url": f"{web}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": u,
        }
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        data.update({k: u + v for k, v in templated.items()})
        return data

    def _full_repo(self, request: Request, repo: Repo) -> dict[str, Any]:
        data = self._minimal_repo(request, repo)
        host = request.header("host") or "127.0.0.1"
        stamp = _iso(repo.created_at)
        data.update(
            {
                "clone_url": f"{data['html_url']}.git",
                "git_url": f"git://{host}/{repo.full_name}.git",
                "ssh_url": f"git@{host}:{repo.full_name}.git",
                "svn_url": data["html_url"],
                "mirror_url": None,
                "homepage": None,
                "language": None,
                "default_branch": "main",
                "forks": 0,
                "forks_count": 0,
                "stargazers_count": 0,
                "watchers": 0,
                "watchers_count": 0,
                "size": 0,
                "open_issues": 0,
                "open_issues_count": 0,
                "network_count": 0,
                "subscribers_count": 0,
                "has_issues": True,
                "has_projects": False,
                "has_wiki": False,
                "has_pages": False,
                "has_discussions": False,
                "archived": False,
                "disabled": False,
                "license": None,
                "visibility": "private" if repo.private else "public",
                "pushed_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        return data

    def _environment_json(self, request: Request, repo: Repo, env: Environment) -> dict[str, Any]:
        stamp = _iso(env.created_at)
        return {
            "id": env.id,
            "node_id": base64.b64encode(f"EN_{env.id}".encode()).decode(),
            "name": env.name,
            "url": f"{self._api(request)}/repos/{repo.full_name}/environments/{env.name}",
            "html_url": f"{self._web(request)}/{repo.full_name}/deployments/activity_log"
            f"?environments_filter={env.name}",
            "created_at": stamp,
            "updated_at": stamp,
            "protection_rules": [],
            "deployment_branch_policy": None,
        }

    # -- lookups -----------------------------------------------------------------------------

    def _find_repo(self, request: Request) -> Repo | None:
        return self.repos.get(f"{request.params['owner']}/{request.params['repo']}".lower())

    def _scope(self, kind: str, request: Request) -> tuple[str | None, Response | None]:
        """The scope id a secrets request addresses, or the 404 GitHub would give."""
        p = request.params
        if kind == "org":
            account = self.accounts.get(p["org"].lower())
            if account is None or account.type != "Organization":
                return None, _error(404, "Not Found")
            return self.scope_id(f"org:{account.login}"), None
        repo = self._find_repo(request)
        if repo is None:
            return None, _error(404, "Not Found")
        if kind == "env":
            env = repo.environments.get(p["environment_name"].lower())
            if env is None:
                return None, _error(404, "Not Found")
            return self.scope_id(f"env:{repo.full_name}/{env.name}"), None
        return self.scope_id(f"{kind}:{repo.full_name}"), None

    # -- secrets -----------------------------------------------------------------------------

    def _public_key(self, kind: str) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            sid, missing = self._scope(kind, request)
            if sid is None:
                return missing or _error(404, "Not Found")
            pair = self.key_pair(sid)
            return Response(200, {"key_id": pair.key_id, "key": pair.public_b64})

        return handle

    def _get_secret(self, kind: str) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            sid, missing = self._scope(kind, request)
            if sid is None:
                return missing or _error(404, "Not Found")
            name = request.params["secret_name"].upper()
            stored = self.secrets.get((sid, name))
            if stored is None:
                return _error(404, "Not Found")
            data: dict[str, Any] = {
                "name": name,
                "created_at": _iso(stored.created_at),
                "updated_at": _iso(stored.updated_at),
            }
            if kind == "org":
                data["visibility"] = stored.visibility or "private"
                if stored.visibility == "selected":
                    data["selected_repositories_url"] = (
                        f"{self._api(request)}/orgs/{request.params['org']}/actions/secrets/"
                        f"{name}/repositories"
                    )
            return Response(200, data)

        return handle

    def _put_secret(self, kind: str) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            sid, missing = self._scope(kind, request)
            if sid is None:
                return missing or _error(404, "Not Found")
            name = request.params["secret_name"]
            if not _valid_name(name):
                return _error(
                    422,
                    "Secret names can only contain alphanumeric characters or "
                    "underscores, must not start with a number or GITHUB_",
                )
            body = request.json()
            if not isinstance(body, dict):
                return _error(400, "Problems parsing JSON")
            sealed, key_id = body.get("encrypted_value"), body.get("key_id")
            if not isinstance(sealed, str) or not isinstance(key_id, str):
                return _error(422, "Invalid request. encrypted_value and key_id are required.")
            pair = self.key_pair(sid)
            if key_id != pair.key_id:
                return _error(422, "Bad request - key_id does not match the current public key")
            try:
                raw = base64.b64decode(sealed, validate=True)
                SealedBox(pair.private).decrypt(raw)
            except (binascii.Error, ValueError, CryptoError):
                return _error(
                    422, "Bad request - encrypted_value cannot be decrypted with this scope's key"
                )
            if len(raw) > SECRET_MAX_BYTES:
                return _error(422, "Secret value is too large (48 KB at most)")
            visibility: str | None = None
            ids: list[int] = []
            if kind == "org":
                checked = self._org_visibility(request.params["org"], body)
                if isinstance(checked, Response):
                    return checked
                visibility, ids = checked
            now = _now()
            stored = self.secrets.get((sid, name.upper()))
            if stored is None:
                self.secrets[(sid, name.upper())] = StoredSecret(
                    sealed, key_id, now, now, visibility, ids
                )
                return Response(201, {})
            stored.encrypted_value, stored.key_id, stored.updated_at = sealed, key_id, now
            stored.visibility, stored.selected_repository_ids = visibility, ids
            return Response(204)

        return handle

    def _org_visibility(self, org: str, body: dict[str, Any]) -> tuple[str, list[int]] | Response:
        visibility = body.get("visibility")
        raw_ids = body.get("selected_repository_ids")
        if visibility is None:
            # GitHub treats a PUT without visibility as a new scope: the old one is gone.
            visibility = "private"
        if visibility not in ("all", "private", "selected"):
            return _error(422, "visibility must be one of all, private, selected")
        if visibility != "selected":
            if raw_ids:
                return _error(
                    422,
                    "selected_repository_ids can only be given when visibility is selected",
                )
            return visibility, []
        if raw_ids is None:
            return _error(422, "selected_repository_ids is required when visibility is selected")
        if not isinstance(raw_ids, list):
            return _error(422, "selected_repository_ids must be an array")
        ids: list[int] = []
        org_ids = {r.id for r in self.repos.values() if r.owner.login.lower() == org.lower()}
        for raw in raw_ids:
            try:
                repo_id = int(raw)
            except (TypeError, ValueError):
                return _error(422, f"{raw!r} is not a repository id")
            if repo_id not in org_ids:
                return _error(422, f"repository {repo_id} does not belong to {org}")
            if repo_id not in ids:
                ids.append(repo_id)
        return "selected", ids

    def _delete_secret(self, kind: str) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            sid, missing = self._scope(kind, request)
            if sid is None:
                return missing or _error(404, "Not Found")
            if self.secrets.pop((sid, request.params["secret_name"].upper()), None) is None:
                return _error(404, "Not Found")
            return Response(204)

        return handle

    def _org_secret(self, request: Request) -> tuple[StoredSecret | None, Response | None]:
        sid, missing = self._scope("org", request)
        if sid is None:
            return None, missing
        stored = self.secrets.get((sid, request.params["secret_name"].upper()))
        if stored is None:
            return None, _error(404, "Not Found")
        return stored, None

    def _org_secret_repos(self, request: Request) -> Response:
        stored, missing = self._org_secret(request)
        if stored is None:
            return missing or _error(404, "Not Found")
        if stored.visibility != "selected":
            return _error(409, "The visibility of this secret is not 'selected'")
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        page = max(1, int(request.query.get("page", "1")))
        by_id = {r.id: r for r in self.repos.values()}
        repos = [by_id[i] for i in stored.selected_repository_ids if i in by_id]
        chunk = repos[(page - 1) * per_page : page * per_page]
        return Response(
            200,
            {
                "total_count": len(repos),
                "repositories": [self._minimal_repo(request, r) for r in chunk],
            },
        )

    def _set_org_secret_repos(self, request: Request) -> Response:
        stored, missing = self._org_secret(request)
        if stored is None:
            return missing or _error(404, "Not Found")
        if stored.visibility != "selected":
            return _error(409, "The visibility of this secret is not 'selected'")
        body = request.json() or {}
        checked = self._org_visibility(
            request.params["org"],
            {
                "visibility": "selected",
                "selected_repository_ids": body.get("selected_repository_ids"),
            },
        )
        if isinstance(checked, Response):
            return checked
        stored.selected_repository_ids = checked[1]
        return Response(204)

    # -- repositories and environments -------------------------------------------------------

    def _get_repo(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        return Response(200, self._full_repo(request, repo))

    def _list_environments(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        envs = [self._environment_json(request, repo, e) for e in repo.environments.values()]
        return Response(200, {"total_count": len(envs), "environments": envs})

    def _get_environment(self, request: Request) -> Response:
        repo = self._find_repo(request)
        env = (
            None
            if repo is None
            else repo.environments.get(request.params["environment_name"].lower())
        )
        if repo is None or env is None:
            return _error(404, "Not Found")
        return Response(200, self._environment_json(request, repo, env))

    def _put_environment(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        name = request.params["environment_name"]
        if not name or len(name) > 255:
            return _error(422, "Environment name is invalid")
        self.add_environment(repo.full_name, name)
        env = repo.environments[name.lower()]
        return Response(200, self._environment_json(request, repo, env))

    # -- variables ---------------------------------------------------------------------------

    def _variable_json(self, var: Variable) -> dict[str, Any]:
        return {
            "name": var.name,
            "value": var.value,
            "created_at": _iso(var.created_at),
            "updated_at": _iso(var.updated_at),
        }

    def _list_variables(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        items = [self._variable_json(v) for v in repo.variables.values()]
        return Response(200, {"total_count": len(items), "variables": items})

    def _create_variable(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        body = request.json()
        if not isinstance(body, dict):
            return _error(400, "Problems parsing JSON")
        name, value = body.get("name"), body.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            return _error(422, "Invalid request. name and value are required strings.")
        if not _valid_name(name):
            return _error(
                422,
                "Variable names can only contain alphanumeric characters or "
                "underscores, must not start with a number or GITHUB_",
            )
        if len(value.encode()) > VARIABLE_MAX_BYTES:
            return _error(422, "Variable value is too large (48 KB at most)")
        if name.upper() in repo.variables:
            return _error(409, "Already exists - Variable already exists")
        repo.variables[name.upper()] = Variable(name.upper(), value)
        return Response(201, {})

    def _get_variable(self, request: Request) -> Response:
        repo = self._find_repo(request)
        var = None if repo is None else repo.variables.get(request.params["name"].upper())
        if var is None:
            return _error(404, "Not Found")
        return Response(200, self._variable_json(var))

    def _update_variable(self, request: Request) -> Response:
        repo = self._find_repo(request)
        var = None if repo is None else repo.variables.get(request.params["name"].upper())
        if repo is None or var is None:
            return _error(404, "Not Found")
        body = request.json()
        if not isinstance(body, dict):
            return _error(400, "Problems parsing JSON")
        value = body.get("value", var.value)
        new_name = body.get("name", var.name)
        if not isinstance(value, str) or not isinstance(new_name, str) or not _valid_name(new_name):
            return _error(422, "Invalid request.")
        if len(value.encode()) > VARIABLE_MAX_BYTES:
            return _error(422, "Variable value is too large (48 KB at most)")
        if new_name.upper() != var.name:
            if new_name.upper() in repo.variables:
                return _error(409, "Already exists - Variable already exists")
            del repo.variables[var.name]
            var.name = new_name.upper()
            repo.variables[var.name] = var
        var.value, var.updated_at = value, _now()
        return Response(204)

    def _delete_variable(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None or repo.variables.pop(request.params["name"].upper(), None) is None:
            return _error(404, "Not Found")
        return Response(204)

    # -- workflows ---------------------------------------------------------------------------

    def _find_workflow(self, repo: Repo, workflow_id: str) -> Workflow | None:
        if workflow_id in repo.workflows:
            return repo.workflows[workflow_id]
        for workflow in repo.workflows.values():
            if str(workflow.id) == workflow_id:
                return workflow
        return None

    def _repo_and_workflow(self, request: Request) -> tuple[Repo, Workflow] | None:
        repo = self._find_repo(request)
        workflow = (
            None if repo is None else self._find_workflow(repo, request.params["workflow_id"])
        )
        return None if repo is None or workflow is None else (repo, workflow)

    def _get_workflow(self, request: Request) -> Response:
        found = self._repo_and_workflow(request)
        if found is None:
            return _error(404, "Not Found")
        repo, workflow = found
        stamp = _iso(workflow.created_at)
        api, web = self._api(request), self._web(request)
        return Response(
            200,
            {
                "id": workflow.id,
                "node_id": base64.b64encode(f"W_{workflow.id}".encode()).decode(),
                "name": workflow.name,
                "path": workflow.path,
                "state": "active",
                "created_at": stamp,
                "updated_at": stamp,
                "url": f"{api}/repos/{repo.full_name}/actions/workflows/{workflow.id}",
                "html_url": f"{web}/{repo.full_name}/blob/main/{workflow.path}",
                "badge_url": f"{web}/{repo.full_name}/workflows/{workflow.name}/badge.svg",
            },
        )

    def _dispatch(self, request: Request) -> Response:
        found = self._repo_and_workflow(request)
        if found is None:
            return _error(404, "Not Found")
        repo, workflow = found
        body = request.json()
        if not isinstance(body, dict):
            return _error(400, "Problems parsing JSON")
        ref = body.get("ref")
        inputs = body.get("inputs") or {}
        if not isinstance(ref, str) or not ref:
            return _error(422, "Invalid request. ref is required.")
        if not isinstance(inputs, dict) or len(inputs) > 25:
            return _error(422, "Invalid request. inputs must be an object of at most 25 keys.")
        unexpected = sorted(set(inputs) - set(workflow.inputs))
        if unexpected:
            listed = ", ".join(f'"{name}"' for name in unexpected)
            return _error(422, f"Unexpected inputs provided: [{listed}]")
        missing = [name for name in workflow.required if name not in inputs]
        if missing:
            return _error(422, f"Required input '{missing[0]}' not provided")
        for name, value in inputs.items():
            if not isinstance(value, (str, bool, int, float)):
                return _error(422, f"Input '{name}' must be a string, a number or a boolean")
        with self._lock:
            run_id = next(self._ids)
            number = 1 + sum(d.workflow_id == workflow.id for d in self.dispatches)
            self.dispatches.append(
                Dispatch(
                    repo.full_name,
                    workflow.path.rsplit("/", 1)[-1],
                    ref,
                    dict(inputs),
                    run_id,
                    workflow.title(inputs),
                    workflow.id,
                    number,
                )
            )
        # Under API version 2026-03-10 a dispatch answers with the run's details unless asked
        # not to; under 2022-11-28 only when asked.
        details = body.get("return_run_details")
        if request.header("x-github-api-version") == "2026-03-10":
            details = details is not False
        if details is True:
            return Response(
                200,
                {
                    "workflow_run_id": run_id,
                    "run_url": f"{self._api(request)}/repos/{repo.full_name}/actions/runs/{run_id}",
                    "html_url": f"{self._web(request)}/{repo.full_name}/actions/runs/{run_id}",
                },
            )
        return Response(204)

    # -- workflow runs: one per dispatch, titled by the workflow's run-name --------------------

    def _run(self, request: Request, run: Dispatch) -> dict[str, Any]:
        repo = self.repos[run.repo.lower()]
        api, web = self._api(request), self._web(request)
        u = f"{api}/repos/{repo.full_name}/actions/runs/{run.run_id}"
        stamp = _iso(run.at)
        user = self._user(request, repo.owner.login, repo.owner.id, repo.owner.type)
        sha = f"{run.run_id:040x}"
        minimal = self._minimal_repo(request, repo)
        return {
            "id": run.run_id,
            "name": next(
                (w.name for w in repo.workflows.values() if w.id == run.workflow_id), None
            ),
            "node_id": base64.b64encode(f"WFR_{run.run_id}".encode()).decode(),
            "check_suite_id": run.run_id + 1,
            "head_branch": run.ref,
            "head_sha": sha,
            "path": f".github/workflows/{run.workflow}",
            "display_title": run.display_title,
            "run_number": run.run_number,
            "run_attempt": 1,
            "event": "workflow_dispatch",
            # The stand-in runs nothing: a run stays queued, which is all the webhook reads.
            "status": "queued",
            "conclusion": None,
            "workflow_id": run.workflow_id,
            "url": u,
            "html_url": f"{web}/{repo.full_name}/actions/runs/{run.run_id}",
            "pull_requests": [],
            "created_at": stamp,
            "updated_at": stamp,
            "run_started_at": stamp,
            "actor": user,
            "triggering_actor": user,
            "jobs_url": f"{u}/jobs",
            "logs_url": f"{u}/logs",
            "check_suite_url": f"{api}/repos/{repo.full_name}/check-suites/{run.run_id + 1}",
            "artifacts_url": f"{u}/artifacts",
            "cancel_url": f"{u}/cancel",
            "rerun_url": f"{u}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{api}/repos/{repo.full_name}/actions/workflows/{run.workflow_id}",
            "head_commit": {
                "id": sha,
                "tree_id": sha[::-1],
                "message": "Sandbox commit",
                "timestamp": stamp,
                "author": {"name": "Octo Cat", "email": "octocat@example.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "repository": minimal,
            "head_repository": minimal,
        }

    def _list_runs(self, request: Request) -> Response:
        found = self._repo_and_workflow(request)
        if found is None:
            return _error(404, "Not Found")
        repo, workflow = found
        query = request.query
        try:
            per_page = max(1, min(100, int(query.get("per_page", "30"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            return _error(422, "Invalid query")
        with self._lock:
            runs = [
                d
                for d in reversed(self.dispatches)  # newest first, as GitHub lists them
                if d.workflow_id == workflow.id
                and query.get("event", "workflow_dispatch") == "workflow_dispatch"
                and query.get("branch", d.ref) == d.ref
                and query.get("status", "queued") == "queued"
            ]
            chunk = runs[(page - 1) * per_page : page * per_page]
            return Response(
                200,
                {"total_count": len(runs), "workflow_runs": [self._run(request, d) for d in chunk]},
            )

    def _get_run(self, request: Request) -> Response:
        repo = self._find_repo(request)
        with self._lock:
            run = next(
                (
                    d
                    for d in self.dispatches
                    if repo is not None
                    and d.repo == repo.full_name
                    and str(d.run_id) == request.params["run_id"]
                ),
                None,
            )
            if run is None:
                return _error(404, "Not Found")
            return Response(200, self._run(request, run))

    # -- permissions, comments, reactions ----------------------------------------------------

    def _permission(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        username = request.params["username"]
        role = repo.permissions.get(username.lower(), "none")
        permission, role_name = PERMISSION_LEVELS[role]
        user = self._user(request, username, 5_000_000 + sum(map(ord, username.lower())))
        user["role_name"] = role_name
        return Response(200, {"permission": permission, "role_name": role_name, "user": user})

    def _create_comment(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        body = request.json()
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return _error(422, "Invalid request. body is required.")
        number = int(request.params["issue_number"])
        comment = Comment(next(self._ids), repo.full_name, number, text, BOT_LOGIN)
        self.comments.append(comment)
        api, web = self._api(request), self._web(request)
        stamp = _iso(comment.created_at)
        return Response(
            201,
            {
                "id": comment.id,
                "node_id": base64.b64encode(f"IC_{comment.id}".encode()).decode(),
                "url": f"{api}/repos/{repo.full_name}/issues/comments/{comment.id}",
                "html_url": f"{web}/{repo.full_name}/issues/{number}#issuecomment-{comment.id}",
                "issue_url": f"{api}/repos/{repo.full_name}/issues/{number}",
                "body": text,
                "user": self._bot(request),
                "created_at": stamp,
                "updated_at": stamp,
                "author_association": "NONE",
            },
        )

    def _create_reaction(self, request: Request) -> Response:
        # Comments that trigger the webhook live on GitHub, not here, so any comment id on a
        # known repository is accepted.
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        body = request.json()
        content = body.get("content") if isinstance(body, dict) else None
        if content not in REACTIONS:
            return _error(422, f"content must be one of {', '.join(REACTIONS)}")
        comment_id = int(request.params["comment_id"])
        existing = next(
            (
                r
                for r in self.reactions
                if r.repo == repo.full_name and r.comment_id == comment_id and r.content == content
            ),
            None,
        )
        status = 200
        if existing is None:
            existing = Reaction(next(self._ids), repo.full_name, comment_id, content, BOT_LOGIN)
            self.reactions.append(existing)
            status = 201
        return Response(
            status,
            {
                "id": existing.id,
                "node_id": base64.b64encode(f"REA_{existing.id}".encode()).decode(),
                "user": self._bot(request),
                "content": existing.content,
                "created_at": _iso(existing.created_at),
            },
        )

    # -- GitHub App --------------------------------------------------------------------------

    def _installation(self, request: Request) -> Response:
        repo = self._find_repo(request)
        if repo is None:
            return _error(404, "Not Found")
        api, web = self._api(request), self._web(request)
        stamp = _iso(repo.created_at)
        account = self._user(request, repo.owner.login, repo.owner.id, repo.owner.type)
        return Response(
            200,
            {
                "id": self.installation_id,
                "account": account,
                "repository_selection": "all",
                "access_tokens_url": (
                    f"{api}/app/installations/{self.installation_id}/access_tokens"
                ),
                "repositories_url": f"{api}/installation/repositories",
                "html_url": f"{web}/settings/installations/{self.installation_id}",
                "app_id": self.app_id,
                "app_slug": "openrouter-rotator-sandbox",
                "target_id": repo.owner.id,
                "target_type": repo.owner.type,
                # Keys of GitHub's app-permissions schema (it has none for Variables).
                "permissions": {
                    "secrets": "write",
                    "environments": "write",
                    "actions": "write",
                    "issues": "write",
                    "metadata": "read",
                },
                "events": ["issue_comment"],
                "created_at": stamp,
                "updated_at": stamp,
                "single_file_name": None,
                "suspended_by": None,
                "suspended_at": None,
            },
        )

    def _access_token(self, request: Request) -> Response:
        if request.params["installation_id"] != str(self.installation_id):
            return _error(404, "Not Found")
        token = "ghs_sandbox_inst_" + secrets.token_hex(16)
        expires = _now() + timedelta(hours=1)
        with self._lock:
            self._tokens[token] = ("admin", expires)
        return Response(
            201,
            {
                "token": token,
                "expires_at": _iso(expires),
                "permissions": {"secrets": "write", "environments": "write"},
                "repository_selection": "all",
            },
        )

    # ----------------------------------------------------------------------------------------
    # control API (JSON, for tests in another process)
    # ----------------------------------------------------------------------------------------

    def register_control(self, router: Router, prefix: str = "/_sandbox/github") -> None:
        p = prefix.rstrip("/")
        router.add("GET", p + "/secret", self._c_secret)
        router.add("GET", p + "/secrets", self._c_secrets)
        router.add("POST", p + "/orgs", self._c_add_org)
        router.add("POST", p + "/repos", self._c_add_repo)
        router.add("POST", p + "/environments", self._c_add_env)
        router.add("PUT", p + "/permissions", self._c_permission)
        router.add("POST", p + "/workflows", self._c_workflow)
        router.add("PUT", p + "/run-name", self._c_run_name)
        router.add("GET", p + "/variables", self._c_variables)
        router.add("GET", p + "/dispatches", self._c_list(lambda: self.dispatches))
        router.add("GET", p + "/comments", self._c_list(lambda: self.comments))
        router.add("GET", p + "/reactions", self._c_list(lambda: self.reactions))
        router.add("GET", p + "/tokens", self._c_tokens)
        router.add("GET", p + "/app", self._c_app)

    def _c_secret(self, request: Request) -> Response:
        """GET ?scope=env:octo-org/app/production&name=X -> the opened value and its scope."""
        scope, name = request.query.get("scope", ""), request.query.get("name", "")
        try:
            value = self.open_secret(scope, name)
        except (KeyError, ValueError) as exc:
            return Response(404, {"message": str(exc)})
        stored = self.secret(scope, name)
        return Response(
            200,
            {
                "scope": self.scope_id(scope),
                "name": name.upper(),
                "value": value,
                "key_id": stored.key_id if stored else None,
                "visibility": stored.visibility if stored else None,
                "selected_repository_ids": stored.selected_repository_ids if stored else [],
            },
        )

    def _c_secrets(self, request: Request) -> Response:
        with self._lock:
            return Response(
                200,
                [
                    {
                        "scope": sid,
                        "name": name,
                        "visibility": s.visibility,
                        "selected_repository_ids": s.selected_repository_ids,
                        "updated_at": _iso(s.updated_at),
                    }
                    for (sid, name), s in self.secrets.items()
                ],
            )

    def _c_add_org(self, request: Request) -> Response:
        account = self.add_org(str((request.json() or {})["login"]))
        return Response(201, {"login": account.login, "id": account.id})

    def _c_add_repo(self, request: Request) -> Response:
        body = request.json() or {}
        repo_id = self.add_repo(
            str(body["full_name"]),
            private=bool(body.get("private", True)),
            environments=[str(e) for e in body.get("environments", [])],
        )
        return Response(201, {"full_name": body["full_name"], "id": repo_id})

    def _c_add_env(self, request: Request) -> Response:
        body = request.json() or {}
        self.add_environment(str(body["repo"]), str(body["name"]))
        return Response(201, {"repo": body["repo"], "name": body["name"]})

    def _c_permission(self, request: Request) -> Response:
        body = request.json() or {}
        self.set_permission(str(body["repo"]), str(body["user"]), str(body["permission"]))
        return Response(204)

    def _c_workflow(self, request: Request) -> Response:
        body = request.json() or {}
        workflow_id = self.add_workflow(
            str(body["repo"]),
            str(body["path"]),
            inputs=[str(i) for i in body.get("inputs", [])],
            required=[str(i) for i in body.get("required", [])],
            run_name=None if body.get("run_name") is None else str(body["run_name"]),
        )
        return Response(201, {"id": workflow_id})

    def _c_run_name(self, request: Request) -> Response:
        """PUT {"repo", "workflow", "run_name": str|null}: the workflow's run-name template."""
        body = request.json() or {}
        template = body.get("run_name")
        run_name = None if template is None else str(template)
        try:
            self.set_run_name(str(body["repo"]), str(body["workflow"]), run_name)
        except KeyError as exc:
            return Response(404, {"message": str(exc)})
        return Response(204)

    def _c_variables(self, request: Request) -> Response:
        repo = self.repos.get(request.query.get("repo", "").lower())
        if repo is None:
            return Response(404, {"message": "no such repository"})
        return Response(200, {v.name: v.value for v in repo.variables.values()})

    def _c_list(self, items: Callable[[], list[Any]]) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            with self._lock:
                return Response(200, [item.to_dict() for item in items()])

        return handle

    def _c_tokens(self, request: Request) -> Response:
        return Response(200, {"admin": self.admin_token, "readonly": self.readonly_token})

    def _c_app(self, request: Request) -> Response:
        return Response(
            200,
            {
                "app_id": self.app_id,
                "installation_id": self.installation_id,
                "private_key": self.app_private_key,
            },
        )
