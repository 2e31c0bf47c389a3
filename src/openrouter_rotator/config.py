"""Every option of the CLI and the action, parsed and validated into frozen dataclasses.

Options come from command-line flags, then ``ROTATOR_<NAME>`` environment variables, then
defaults (a flag wins; an empty variable counts as unset, which is how the action passes an
input left at its default). Secrets and endpoints come from the environment only. Every
invalid value raises :class:`~openrouter_rotator.errors.ConfigError` naming the option, the
value and what is allowed, before anything is sent anywhere.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .errors import ConfigError
from .retry import RetryPolicy
from .schedule import format_duration, parse_duration, parse_time_of_day, parse_timezone
from .targets import (
    Target,
    invisible,
    is_repository,
    parse_repository,
    parse_target,
    validate_secret_name,
)

DEFAULT_OPENROUTER_URL = "https://openrouter.ai/api/v1"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_HTTP_TIMEOUT = 15.0  # seconds, every request to OpenRouter and GitHub
# GitHub asks for at least one second between writes in bulk; a local sandbox needs no pacing.
DEFAULT_GITHUB_WRITE_INTERVAL = 1.0
DEFAULT_SECRET_NAME = "OPENROUTER_API_KEY"
DEFAULT_REVOKE_AFTER = "6h"
NEXT_ROTATION = "next-rotation"
LIMIT_RESETS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class KeySpec:
    """What ``POST /keys`` is asked to make."""

    name: str
    limit: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_after: timedelta | None = None


@dataclass(frozen=True)
class Schedule:
    auto_rotation: bool = True
    interval_days: int = 30
    rotate_at: time = time(0, 0)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))


@dataclass(frozen=True)
class Credentials:
    """Secrets from the environment. Never printed: ``repr`` hides them."""

    management_key: str = field(repr=False)
    github_token: str = field(repr=False)
    alert_webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    key: KeySpec
    schedule: Schedule
    secret_name: str
    targets: tuple[Target, ...]
    revoke_after: timedelta | None  # None: keep the previous key until the next rotation
    state_repository: str
    state_variable: str
    credentials: Credentials
    openrouter_base_url: str
    github_api_url: str
    force: bool = False
    dry_run: bool = False
    reason: str = ""
    json: bool = False
    usage_alert_threshold: float = 80.0
    alert_webhook_url: str | None = None
    run_url: str | None = None
    trigger: str = "manual"
    spend_carry_over: bool = True  # a rotation must not reset the spending cap (carryover.py)
    key_env: str = "OPENROUTER_API_KEY"  # verify: the variable holding the key a job reads
    http_timeout: float = DEFAULT_HTTP_TIMEOUT  # ROTATOR_HTTP_TIMEOUT
    github_write_interval: float = DEFAULT_GITHUB_WRITE_INTERVAL  # ROTATOR_GITHUB_WRITE_INTERVAL
    # How long and how often both clients retry (retry.py); tests set scale=0 to skip the waits.
    retry: RetryPolicy = field(default_factory=RetryPolicy)


# (flag, dest, kind, help); kind: "str" | "bool" | "list"
OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--secret-name", "secret_name", "str", f"secret to write (default {DEFAULT_SECRET_NAME})"),
    (
        "--target",
        "targets",
        "list",
        "repo:O/R, env:O/R/ENV, org:ORG[?visibility=..&repositories=..]"
        ", dependabot:O/R (repeatable; default repo:$GITHUB_REPOSITORY)",
    ),
    ("--key-name", "key_name", "str", "OpenRouter key name (default '<state repo> <secret name>')"),
    ("--limit", "limit", "str", "spending limit in USD (empty: unlimited)"),
    ("--limit-reset", "limit_reset", "str", "daily, weekly or monthly (needs --limit)"),
    ("--include-byok-in-limit", "include_byok_in_limit", "bool", "count BYOK usage in the limit"),
    ("--expires-after", "expires_after", "str", "key expires this long after creation (e.g. 90d)"),
    ("--interval-days", "interval_days", "str", "days between rotations (default 30)"),
    ("--rotate-at", "rotate_at", "str", "local time HH:MM at which a due rotation runs"),
    ("--timezone", "timezone", "str", "IANA time zone of --rotate-at (default UTC)"),
    ("--auto-rotation", "auto_rotation", "bool", "rotate when due (default true)"),
    (
        "--revoke-after",
        "revoke_after",
        "str",
        "delete the previous key this long after the switch, or next-rotation (default 6h)",
    ),
    ("--state-repository", "state_repository", "str", "OWNER/REPO holding the state variable"),
    ("--state-variable", "state_variable", "str", "Actions variable (default <SECRET>_ROTATION)"),
    ("--force", "force", "bool", "rotate now even if not due"),
    ("--dry-run", "dry_run", "bool", "plan and report; change nothing"),
    ("--reason", "reason", "str", "why (recorded in the state)"),
    ("--json", "json", "bool", "print the result as one JSON object"),
    (
        "--usage-alert-threshold",
        "usage_alert_threshold",
        "str",
        "percent of the limit (default 80)",
    ),
    ("--alert-webhook-url", "alert_webhook_url", "str", "POST a signed usage alert here"),
    (
        "--spend-carry-over",
        "spend_carry_over",
        "bool",
        "give a new key the limit minus what older keys spent in the window (default true)",
    ),
)

# Only `verify` reads it (the variable a consumer's job puts the secret in).
KEY_ENV_OPTION = ("--key-env", "key_env", "str", "variable holding the key to verify")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ENV_NAMES = {dest: "ROTATOR_" + dest.upper() for _, dest, _, _ in OPTIONS}
ENV_NAMES["targets"] = "ROTATOR_TARGETS"
ENV_NAMES["key_env"] = "ROTATOR_KEY_ENV"


def add_options(parser: argparse.ArgumentParser, *, verify: bool = False) -> None:
    """Declare rotate/status options. Defaults are None so the environment can fill in."""
    for flag, dest, kind, help_text in OPTIONS + ((KEY_ENV_OPTION,) if verify else ()):
        env_help = f" [env {ENV_NAMES[dest]}]"
        if kind == "bool":
            parser.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text + env_help,
            )
        elif kind == "list":
            parser.add_argument(
                flag,
                dest=dest,
                action="append",
                default=None,
                metavar="SPEC",
                help=help_text + env_help,
            )
        else:
            parser.add_argument(
                flag, dest=dest, default=None, metavar="VALUE", help=help_text + env_help
            )


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


class _Source:
    """Looks an option up: flag first, then the environment."""

    def __init__(self, args: Mapping[str, object], env: Mapping[str, str]) -> None:
        self.args = args
        self.env = env

    def raw(self, dest: str) -> str | None:
        value = self.args.get(dest)
        if value is not None:
            return str(value)
        env_value = self.env.get(ENV_NAMES[dest], "")
        return env_value if env_value.strip() != "" else None

    def text(self, dest: str, default: str | None = None) -> str | None:
        value = self.raw(dest)
        return value.strip() if value is not None else default

    def flag(self, dest: str, default: bool) -> bool:
        value = self.args.get(dest)
        if isinstance(value, bool):
            return value
        env_value = self.env.get(ENV_NAMES[dest], "").strip()
        if env_value == "":
            return default
        lowered = env_value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"{ENV_NAMES[dest]} ({_option(dest)})", env_value, "use true or false")

    def targets(self) -> list[str]:
        given = self.args.get("targets")
        if isinstance(given, list) and given:
            return [str(t) for t in given]
        lines = self.env.get("ROTATOR_TARGETS", "")
        return [line.strip() for line in re.split(r"[\n]", lines) if line.strip()]


# A plain decimal in ASCII digits: no sign, exponent, underscore, nan or inf, and no digits from
# other scripts (float() takes all of those; "1e-400" would even underflow to 0).
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")
MAX_LIMIT = 1_000_000_000.0  # USD; more is a typo, not a budget
MAX_INTERVAL_DAYS = 3650


def _number(text: str, option: str, allowed: str) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ConfigError(option, text, allowed)
    return float(text)


def visible_text(text: str, option: str) -> str:
    """``text`` if every character shows as itself, else ConfigError (the value escaped)."""
    bad = next((c for c in text if invisible(c)), None)
    if bad is not None:
        shown = f"U+{ord(bad):04X}"
        raise ConfigError(option, text, f"printable characters only ({shown} does not show)")
    return text


# Shapes of keys and tokens a reason must not carry into the state (which anyone who can read
# the repository's variables sees): OpenRouter and other "sk-" keys, GitHub tokens, Slack
# tokens, AWS access key ids, JWTs, and any long run of key-like characters with digits.
_SECRET_SHAPES = re.compile(
    r"sk-[A-Za-z0-9_-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r"|(?=[A-Za-z0-9+/_=-]*[0-9])(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{32,}"
)
REDACTED = "[redacted]"


def redact_secrets(text: str) -> str:
    """``text`` with anything shaped like a key or token replaced by ``[redacted]``."""
    return _SECRET_SHAPES.sub(REDACTED, text)


def _credential(env: Mapping[str, str], name: str) -> str:
    """A secret from the environment. One trailing line break (a copy-paste) is dropped; any
    other space, control or non-ASCII character is refused, never used as is. The value is
    never shown."""
    value = env.get(name, "")
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if value and not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            name,
            None,
            "it holds a space, a line break, a control or a non-ASCII character; set it to the "
            "value alone",
        )
    return value


def parse_key_spec(source: _Source, default_name: str) -> KeySpec:
    name = visible_text(source.text("key_name", default_name) or "", "--key-name")
    if not name:
        raise ConfigError("--key-name", source.raw("key_name"), "a non-empty name")
    if len(name) > 100:
        raise ConfigError("--key-name", name, "at most 100 characters")
    limit = None
    limit_text = source.text("limit")
    if limit_text is not None:
        limit = _number(limit_text, "--limit", "a number of USD greater than 0, or empty")
        if not 0 < limit <= MAX_LIMIT:
            raise ConfigError("--limit", limit_text, "a number of USD greater than 0, or empty")
    limit_reset = source.text("limit_reset")
    if limit_reset is not None:
        limit_reset = limit_reset.lower()
        if limit_reset not in LIMIT_RESETS:
            raise ConfigError("--limit-reset", limit_reset, "daily, weekly, monthly or empty")
        if limit is None:
            raise ConfigError("--limit-reset", limit_reset, "only together with --limit")
    expires_text = source.text("expires_after")
    expires_after = None
    if expires_text is not None:
        expires_after = parse_duration(expires_text, "--expires-after")
        if expires_after <= timedelta(0):
            raise ConfigError("--expires-after", expires_text, "a duration greater than 0")
    return KeySpec(
        name=name,
        limit=limit,
        limit_reset=limit_reset,
        include_byok_in_limit=source.flag("include_byok_in_limit", False),
        expires_after=expires_after,
    )


def parse_schedule(source: _Source) -> Schedule:
    interval_text = source.text("interval_days", "30") or "30"
    if not re.fullmatch(r"[0-9]{1,5}", interval_text) or not (
        1 <= int(interval_text) <= MAX_INTERVAL_DAYS
    ):
        raise ConfigError(
            "--interval-days", interval_text, f"a whole number of days, 1 to {MAX_INTERVAL_DAYS}"
        )
    return Schedule(
        auto_rotation=source.flag("auto_rotation", True),
        interval_days=int(interval_text),
        rotate_at=parse_time_of_day(source.text("rotate_at", "00:00") or "00:00", "--rotate-at"),
        timezone=parse_timezone(source.text("timezone", "UTC") or "UTC", "--timezone"),
    )


def parse_revoke_after(text: str) -> timedelta | None:
    if text.strip().lower() == NEXT_ROTATION:
        return None
    return parse_duration(text, "--revoke-after")


def _seconds(env: Mapping[str, str], name: str, default: float, most: float = 600.0) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    allowed = f"a number of seconds from 0 to {most:g}"
    value = _number(text, name, allowed)
    if value > most:
        raise ConfigError(name, text, allowed)
    return value


def _url(text: str, option: str) -> str:
    allowed = "an http:// or https:// URL"
    if not text.isascii() or any(c.isspace() or not c.isprintable() for c in text):
        raise ConfigError(option, text, allowed + " (no spaces, control or non-ASCII characters)")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ConfigError(option, text, allowed) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(option, text, allowed)
    return text.rstrip("/")


def run_url(env: Mapping[str, str]) -> str | None:
    server, repo, run_id = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    # Set by the runner; anything else (a value with spaces or line breaks) is not a run URL and
    # must not reach the state or the summary.
    if not (server and repo and run_id and run_id.isascii() and run_id.isdigit()):
        return None
    plain = server.isascii() and all(c.isprintable() and not c.isspace() for c in server)
    return f"{server}/{repo}/actions/runs/{run_id}" if plain and is_repository(repo) else None


def parse_config(
    args: Mapping[str, object],
    env: Mapping[str, str] | None = None,
    *,
    need_credentials: bool = True,
) -> Config:
    """Build the configuration of a ``rotate`` or ``status`` run, or raise ConfigError."""
    env = os.environ if env is None else env
    source = _Source(args, env)

    secret_name = validate_secret_name(
        source.text("secret_name", DEFAULT_SECRET_NAME) or "", "--secret-name"
    )
    github_repository = env.get("GITHUB_REPOSITORY", "").strip()
    state_repo_text = source.text("state_repository", github_repository or None)
    if not state_repo_text:
        raise ConfigError(
            "--state-repository",
            None,
            "give OWNER/REPO (or run on GitHub Actions, where GITHUB_REPOSITORY is the default)",
        )
    state_repository = parse_repository(state_repo_text, "--state-repository")
    state_variable = validate_secret_name(
        source.text("state_variable", f"{secret_name}_ROTATION") or "", "--state-variable"
    )

    target_texts = source.targets()
    if not target_texts:
        if not github_repository and not args.get("command") == "verify":
            raise ConfigError("--target", None, "give at least one target, e.g. repo:OWNER/REPO")
        target_texts = [f"repo:{github_repository or state_repository}"]
    targets: list[Target] = []
    for text in target_texts:
        target = parse_target(text)
        for other in targets:
            if target.scope == other.scope:  # names are case-insensitive: the same secret
                raise ConfigError(
                    "--target",
                    text,
                    f"names the same secret location as {other.spec}; list it once",
                )
        targets.append(target)

    threshold_text = source.text("usage_alert_threshold", "80") or "80"
    threshold = _number(threshold_text, "--usage-alert-threshold", "a percent from 1 to 100")
    if not 0 < threshold <= 100:
        raise ConfigError("--usage-alert-threshold", threshold_text, "a percent from 1 to 100")

    alert_url = source.text("alert_webhook_url")
    alert_secret = _credential(env, "ROTATOR_ALERT_WEBHOOK_SECRET") or None
    if alert_url is not None:
        alert_url = _url(alert_url, "--alert-webhook-url")
        if not alert_secret:
            raise ConfigError(
                "ROTATOR_ALERT_WEBHOOK_SECRET",
                None,
                "set it: alerts to --alert-webhook-url are signed with it",
            )

    management_key = _credential(env, "OPENROUTER_MANAGEMENT_KEY") or _credential(
        env, "OPENROUTER_PROVISIONING_KEY"
    )
    github_token = _credential(env, "GITHUB_TOKEN")
    if need_credentials and not management_key:
        raise ConfigError(
            "OPENROUTER_MANAGEMENT_KEY",
            None,
            "not set; set it to an OpenRouter management key (not an inference key)",
        )
    if need_credentials and not github_token:
        raise ConfigError(
            "GITHUB_TOKEN",
            None,
            "not set; set it to a fine-grained PAT or GitHub App token that can write "
            "Actions secrets and variables",
        )

    openrouter_url = _url(
        env.get("OPENROUTER_BASE_URL", "").strip() or DEFAULT_OPENROUTER_URL,
        "OPENROUTER_BASE_URL",
    )
    github_url = _url(
        env.get("GITHUB_API_URL", "").strip() or DEFAULT_GITHUB_API_URL, "GITHUB_API_URL"
    )

    key = parse_key_spec(source, f"{state_repository} {secret_name}")
    sched = parse_schedule(source)
    revoke_after = parse_revoke_after(
        source.text("revoke_after", DEFAULT_REVOKE_AFTER) or DEFAULT_REVOKE_AFTER
    )
    check_expiry(key, sched, revoke_after)

    return Config(
        key=key,
        schedule=sched,
        secret_name=secret_name,
        targets=tuple(targets),
        revoke_after=revoke_after,
        state_repository=state_repository,
        state_variable=state_variable,
        credentials=Credentials(management_key, github_token, alert_secret),
        openrouter_base_url=openrouter_url,
        github_api_url=github_url,
        force=source.flag("force", False),
        dry_run=source.flag("dry_run", False),
        # Stored in the state, which anyone with read access sees: never a key or token.
        reason=redact_secrets(visible_text(source.text("reason", "") or "", "--reason"))[:200],
        json=source.flag("json", False),
        usage_alert_threshold=threshold,
        alert_webhook_url=alert_url,
        run_url=run_url(env),
        trigger=_trigger(env),
        spend_carry_over=source.flag("spend_carry_over", True),
        key_env=_env_name(source.text("key_env", "OPENROUTER_API_KEY") or "", "--key-env"),
        # 0 means "the default": a request must be able to time out.
        http_timeout=_seconds(env, "ROTATOR_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT)
        or DEFAULT_HTTP_TIMEOUT,
        github_write_interval=_seconds(
            env, "ROTATOR_GITHUB_WRITE_INTERVAL", DEFAULT_GITHUB_WRITE_INTERVAL
        ),
        retry=_retry_policy(env),
    )


def _retry_policy(env: Mapping[str, str]) -> RetryPolicy:
    """ROTATOR_RETRY_SCALE multiplies every retry wait (default 1); 0 retries without waiting,
    which is what the tests of the CLI use instead of sleeping through real backoff."""
    text = env.get("ROTATOR_RETRY_SCALE", "").strip()
    if not text:
        return RetryPolicy()
    allowed = "a factor from 0 to 1 for every retry wait (1: as GitHub and OpenRouter ask)"
    scale = _number(text, "ROTATOR_RETRY_SCALE", allowed)
    if not 0 <= scale <= 1:
        raise ConfigError("ROTATOR_RETRY_SCALE", text, allowed)
    return RetryPolicy(scale=scale)


def _env_name(text: str, option: str) -> str:
    if not ENV_NAME_RE.fullmatch(text):
        raise ConfigError(option, text, "an environment variable's name, e.g. OPENROUTER_API_KEY")
    return text


def key_lifetime_needed(sched: Schedule, revoke_after: timedelta | None) -> timedelta:
    """How long a key must live so it never expires while a target still holds it.

    The next rotation falls on a local date ``interval-days`` after the last one, at rotate-at:
    up to one day more than the interval (plus an hour for the hourly schedule and DST). After
    it the key retires for ``revoke-after``, or for a whole further interval in next-rotation
    mode.
    """
    interval = timedelta(days=sched.interval_days + 1, hours=1)
    return interval + (interval if revoke_after is None else revoke_after)


def check_expiry(key: KeySpec, sched: Schedule, revoke_after: timedelta | None) -> None:
    if key.expires_after is None or not sched.auto_rotation:
        return
    needed = key_lifetime_needed(sched, revoke_after)
    if key.expires_after < needed:
        days = math.ceil(needed / timedelta(days=1))
        raise ConfigError(
            "--expires-after",
            format_duration(key.expires_after),
            f"at least {days}d with --interval-days {sched.interval_days} and this "
            "--revoke-after, or keys would expire while targets still hold them",
        )


def _trigger(env: Mapping[str, str]) -> str:
    event = env.get("GITHUB_EVENT_NAME", "")
    if event == "schedule":
        return "schedule"
    if event == "workflow_dispatch":
        return "workflow_dispatch"
    return "cli"
