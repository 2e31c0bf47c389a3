"""The webhook's configuration: a TOML file for the shape, the environment for the secrets.

``ROTATOR_WEBHOOK_CONFIG`` names the file (SPEC §6)::

    [webhook]
    endpoints = ["slack", "github", "api", "alerts"]   # default: all four

    [github]          # ROTATOR_GITHUB_TOKEN, or app_id + ROTATOR_GITHUB_APP_PRIVATE_KEY
    api_url = "https://api.github.com"
    app_id = 12345    # optional
    write_interval = "1s"   # GitHub asks for at least a second between writes

    [store]           # default: SQLite file "rotator-webhook.sqlite3" in the app's instance folder
    path = "/var/lib/openrouter-rotator/webhook.sqlite3"
    redis_url = "redis://127.0.0.1:6379/0"   # or ROTATOR_REDIS_URL (it may hold a password)
    lease = "60s"     # a job a dead worker held is taken over this long after its last sign

    [rotations.openrouter]
    repository = "octo/app"
    workflow = "rotate-openrouter-key.yml"
    ref = "main"
    cooldown = "10m"
    slack_users = ["U012AB3CD"]
    min_permission = "write"
    on_usage_alert = "notify"

Everything is validated here, once, at start-up: an app that starts is an app whose every
enabled endpoint has the secret it needs. Errors are :class:`~openrouter_rotator.errors.ConfigError`
naming the setting and the fix; none of them carries a secret's value.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrouter_rotator.config import DEFAULT_GITHUB_API_URL
from openrouter_rotator.errors import ConfigError
from openrouter_rotator.schedule import parse_duration
from openrouter_rotator.targets import PERMISSIONS, parse_repository, permission_reaches

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ENDPOINTS",
    "PERMISSIONS",
    "RotationConfig",
    "WebhookSettings",
    "load_settings",
    "parse_settings",
]

CONFIG_ENV = "ROTATOR_WEBHOOK_CONFIG"

ON_USAGE_ALERT = ("notify", "rotate")

# endpoint name -> (environment variable holding its secret, path it serves)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "slack": ("ROTATOR_SLACK_SIGNING_SECRET", "/slack/commands"),
    "github": ("ROTATOR_GITHUB_WEBHOOK_SECRET", "/github/events"),
    "api": ("ROTATOR_API_TOKEN", "/rotations/<name>/rotate"),
    "alerts": ("ROTATOR_ALERT_WEBHOOK_SECRET", "/alerts/usage"),
}

DEFAULT_STORE_NAME = "rotator-webhook.sqlite3"
# Longer than any one job (a permission check, a dispatch, a run search and a reply, each with
# a 10 s timeout) so that a live worker's job is never taken over; it renews its lease anyway.
DEFAULT_LEASE = 60.0

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class RotationConfig:
    """One ``[rotations.<name>]`` table."""

    name: str
    repository: str
    workflow: str = "rotate-openrouter-key.yml"
    ref: str = "main"
    cooldown: float = 600.0
    slack_users: tuple[str, ...] = ()
    min_permission: str = "write"
    on_usage_alert: str = "notify"

    def permits(self, permission: str) -> bool:
        """Whether a GitHub permission level reaches ``min_permission``."""
        return permission_reaches(permission, self.min_permission)


@dataclass(frozen=True)
class WebhookSettings:
    """Everything the app needs, validated. Secrets are excluded from ``repr``."""

    rotations: Mapping[str, RotationConfig]
    endpoints: frozenset[str] = frozenset(ENDPOINTS)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_token: str | None = field(default=None, repr=False)
    github_app_id: int | None = None
    github_app_private_key: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    alert_secret: str | None = field(default=None, repr=False)
    slack_alert_webhook_url: str | None = field(default=None, repr=False)
    github_write_interval: float = 1.0
    # None: ``rotator-webhook.sqlite3`` in the Flask app's instance folder.
    store_path: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    lease: float = DEFAULT_LEASE

    def rotations_for(self, repository: str) -> list[RotationConfig]:
        """Rotations whose workflow lives in ``repository`` (GitHub names are case-insensitive)."""
        wanted = repository.lower()
        return [r for r in self.rotations.values() if r.repository.lower() == wanted]


def _cooldown(option: str, value: object) -> float:
    if not isinstance(value, str):
        raise ConfigError(option, value, "a duration string like 90s, 10m, 6h or 2d")
    return parse_duration(value, option).total_seconds()


def _table(doc: Mapping[str, Any], name: str, allowed: set[str]) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}]", None, "must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(
            f"[{name}] {unknown[0]}", None, f"unknown setting; known: {sorted(allowed)}"
        )
    return value


def _string(option: str, value: object, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(option, value, "a non-empty string")
    return value.strip()


def _rotation(name: str, table: object) -> RotationConfig:
    where = f"rotations.{name}"
    if not _NAME.match(name):
        raise ConfigError(
            "[rotations] name", name, "letters, digits, '.', '_' or '-', at most 64 characters"
        )
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}]", None, "must be a table")
    known = {
        "repository",
        "workflow",
        "ref",
        "cooldown",
        "slack_users",
        "min_permission",
        "on_usage_alert",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", None, f"unknown setting; known: {sorted(known)}")
    repository = table.get("repository")
    if repository is None:
        raise ConfigError(f"{where}.repository", None, "required, as OWNER/REPO")
    repository = parse_repository(repository, f"{where}.repository")
    users = table.get("slack_users", [])
    if not isinstance(users, list) or not all(isinstance(u, str) and u.strip() for u in users):
        raise ConfigError(f"{where}.slack_users", users, "a list of Slack user ids like U012AB3CD")
    permission = table.get("min_permission", "write")
    # "none" would let anyone who can comment rotate keys: refuse it rather than allow it quietly.
    if permission not in PERMISSIONS[1:]:
        raise ConfigError(
            f"{where}.min_permission", permission, "one of " + ", ".join(PERMISSIONS[1:])
        )
    on_alert = table.get("on_usage_alert", "notify")
    if on_alert not in ON_USAGE_ALERT:
        raise ConfigError(f"{where}.on_usage_alert", on_alert, "notify or rotate")
    return RotationConfig(
        name=name,
        repository=repository.strip(),
        workflow=_string(f"{where}.workflow", table.get("workflow"), "rotate-openrouter-key.yml"),
        ref=_string(f"{where}.ref", table.get("ref"), "main"),
        cooldown=_cooldown(f"{where}.cooldown", table.get("cooldown", "10m")),
        slack_users=tuple(u.strip() for u in users),
        min_permission=permission,
        on_usage_alert=on_alert,
    )


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def parse_settings(doc: Mapping[str, Any], env: Mapping[str, str]) -> WebhookSettings:
    """Validate a parsed TOML document plus the environment into :class:`WebhookSettings`."""
    unknown = sorted(set(doc) - {"webhook", "github", "store", "rotations"})
    if unknown:
        raise ConfigError(
            f"[{unknown[0]}]", None, "unknown table; known: webhook, github, store, rotations"
        )
    webhook = _table(doc, "webhook", {"endpoints"})
    github = _table(doc, "github", {"api_url", "app_id", "write_interval"})
    store = _table(doc, "store", {"path", "redis_url", "lease"})
    rotations_doc = doc.get("rotations", {})
    if not isinstance(rotations_doc, Mapping) or not rotations_doc:
        raise ConfigError("[rotations]", None, "configure at least one [rotations.<name>] table")
    rotations = {name: _rotation(name, table) for name, table in rotations_doc.items()}

    endpoints = webhook.get("endpoints", list(ENDPOINTS))
    if not isinstance(endpoints, list) or not set(endpoints) <= set(ENDPOINTS):
        raise ConfigError("webhook.endpoints", endpoints, "a list of: " + ", ".join(ENDPOINTS))
    secrets: dict[str, str | None] = {}
    for endpoint in endpoints:
        variable, path = ENDPOINTS[endpoint]
        secrets[endpoint] = _secret(env, variable)
        if secrets[endpoint] is None:
            raise ConfigError(
                variable,
                None,
                f"not set, and the {endpoint!r} endpoint ({path}) needs it; set it, or leave "
                f"{endpoint!r} out of [webhook] endpoints = [...]",
            )

    api_url = _string("github.api_url", github.get("api_url"), DEFAULT_GITHUB_API_URL).rstrip("/")
    app_id = github.get("app_id")
    token = _secret(env, "ROTATOR_GITHUB_TOKEN")
    private_key = _secret(env, "ROTATOR_GITHUB_APP_PRIVATE_KEY")
    if app_id is not None:
        if isinstance(app_id, bool) or not isinstance(app_id, int) or app_id <= 0:
            raise ConfigError("github.app_id", app_id, "the GitHub App's numeric id")
        if private_key is None:
            raise ConfigError(
                "ROTATOR_GITHUB_APP_PRIVATE_KEY",
                None,
                "not set, and [github] app_id needs the App's private key (PEM)",
            )
    elif token is None:
        raise ConfigError(
            "ROTATOR_GITHUB_TOKEN",
            None,
            "not set; the webhook needs a token that can dispatch workflows (actions: write) "
            "and read collaborators, or a GitHub App ([github] app_id + "
            "ROTATOR_GITHUB_APP_PRIVATE_KEY)",
        )

    redis_url = _secret(env, "ROTATOR_REDIS_URL") or store.get("redis_url")
    if redis_url is not None and (not isinstance(redis_url, str) or "://" not in redis_url):
        # The value may carry a password: never echo it.
        raise ConfigError("store.redis_url", None, "a URL like redis://host:6379/0")

    return WebhookSettings(
        rotations=rotations,
        endpoints=frozenset(endpoints),
        github_api_url=api_url,
        github_token=None if app_id is not None else token,
        github_app_id=app_id,
        github_app_private_key=private_key if app_id is not None else None,
        slack_signing_secret=secrets.get("slack"),
        github_webhook_secret=secrets.get("github"),
        api_token=secrets.get("api"),
        alert_secret=secrets.get("alerts"),
        slack_alert_webhook_url=_secret(env, "ROTATOR_SLACK_ALERT_WEBHOOK_URL"),
        github_write_interval=_seconds(
            "github.write_interval", github.get("write_interval"), 1.0, minimum=0.0
        ),
        store_path=(
            None if store.get("path") is None else _string("store.path", store.get("path"), "")
        ),
        redis_url=redis_url,
        lease=_seconds("store.lease", store.get("lease"), DEFAULT_LEASE, minimum=1.0),
    )


def _seconds(option: str, value: object, default: float, *, minimum: float) -> float:
    if value is None:
        return default
    seconds = 0.0 if value in ("0", "0s") else _cooldown(option, value)
    if seconds < minimum:
        raise ConfigError(option, value, f"at least {minimum:g}s")
    return seconds


def load_settings(env: Mapping[str, str] | None = None) -> WebhookSettings:
    """Read the file named by ``ROTATOR_WEBHOOK_CONFIG`` and the secrets from ``env``."""
    env = os.environ if env is None else env
    path = env.get(CONFIG_ENV, "").strip()
    if not path:
        raise ConfigError(CONFIG_ENV, None, "not set; point it at the webhook's TOML file")
    try:
        with Path(path).open("rb") as handle:
            doc = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(CONFIG_ENV, path, f"cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(CONFIG_ENV, path, f"not valid TOML: {exc}") from None
    return parse_settings(doc, env)
