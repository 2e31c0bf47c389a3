"""How a run is shown: plain text for the terminal, Markdown for the job summary, a Mermaid
gantt of the key lifecycle, and the texts of the action's annotations and outputs.

Everything here only reads the engine's results (``RunResult``, ``VerifyResult``) and returns
strings; nothing knows how a rotation works, and nothing writes anywhere (``actions.py`` and
``cli.py`` do).
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .carryover import describe as describe_carry_over
from .errors import ConfigError, GitHubAuthError
from .schedule import iso

if TYPE_CHECKING:  # types only: rendering a result needs none of the engine's modules
    from .config import Config
    from .rotation import RunResult
    from .verify import VerifyResult

# -- the terminal --------------------------------------------------------------------------------


def money(value: float | None) -> str:
    return "unlimited" if value is None else f"${value:,.2f}"


def render_text(result: RunResult, command: str, secret_name: str) -> str:
    lines: list[str] = []
    if command == "status":
        lines.append(
            f"active key: {_short(result.key_hash)}"
            + (f" since {iso(result.active_since)}" if result.active_since else "")
        )
        lines.append(f"state: {result.reason}")
        if result.in_flight:
            lines.append(f"interrupted rotation: {result.in_flight} (the next run finishes it)")
    elif result.rotated:
        prefix = "dry run: " if result.dry_run else ""
        lines.append(
            f"{prefix}rotated: {secret_name} now holds key {_short(result.key_hash)} "
            f"({result.reason})"
        )
        if result.previous_key_hash:
            lines.append(f"previous key: {_short(result.previous_key_hash)}")
    elif result.dry_run and result.reason.startswith("would"):
        # e.g. "dry run: would rotate: forced; nothing was changed"
        lines.append(f"dry run: {result.reason}; nothing was changed")
    else:
        lines.append(f"{'dry run: ' if result.dry_run else ''}no rotation: {result.reason}")
    if command != "status":
        if result.dry_run and result.reason.startswith("would rotate"):
            lines.append(f"targets: {len(result.targets)} would be updated")
        elif result.targets and all(t.status == "unchanged" for t in result.targets):
            lines.append(f"targets: {len(result.targets)} unchanged")
        else:
            for outcome in result.targets:
                error = f" ({outcome.error})" if outcome.error else ""
                lines.append(f"  {outcome.target:<44} {outcome.status}{error}")
    if result.revoked:
        lines.append("revoked: " + ", ".join(_short(h) for h in result.revoked))
    for retiring in result.retiring:
        until = (
            iso(retiring.revoke_at)
            if retiring.revoke_at
            else ("a newer key reaches every target" if retiring.pending else "the next rotation")
        )
        lines.append(f"retiring: {_short(retiring.hash)} until {until}")
    held = result.verification
    if held is not None and not held.verified:
        lines.append(
            f"revocations held: the verification at {iso(held.at)} failed "
            f"({held.cause or 'unknown'}); they resume once verify passes"
        )
    lines.append("next rotation: " + (iso(result.next_rotation_at) or "only when forced"))
    if result.usage and result.usage.limit is None:
        lines.append("usage: the key has no spending limit")
    elif result.usage:
        percent = result.usage.percent_used
        lines.append(
            f"usage: {money(result.usage.limit_remaining)} left of {money(result.usage.limit)}"
            + (f" ({percent:g}% used)" if percent is not None else "")
        )
    cap = describe_carry_over(result.carry_over)
    if cap:
        lines.append(f"spending cap: {cap}")
    for problem in result.problems:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)


def render_verify(result: VerifyResult) -> str:
    if result.verified:
        lines = [f"verified: {result.message}, and it works"]
        if result.recorded:
            lines.append("revocations: not held")
        return "\n".join(lines)
    lines = [f"not verified: {result.message}"]
    if result.hold:
        lines.append(
            "hold: every revocation is held until a verification passes (the keys consumers "
            "may still hold stay alive)"
        )
    return "\n".join(lines)


# -- the action's annotations and outputs ------------------------------------------------------

USAGE_TITLE = "OpenRouter key usage"
VERIFY_TITLE = "OpenRouter key verification failed"
FAILURE_TITLE = "OpenRouter key rotation failed"

# CLI option or environment variable -> the action input that sets it, to name the input in
# an error message (a user of the action never sees "--interval-days").
INPUT_FOR = {
    "OPENROUTER_MANAGEMENT_KEY": "management-key",
    "OPENROUTER_PROVISIONING_KEY": "management-key",
    "GITHUB_TOKEN": "github-token",
    "ROTATOR_ALERT_WEBHOOK_SECRET": "alert-webhook-secret",
    "OPENROUTER_BASE_URL": "openrouter-base-url",
    "--secret-name": "secret-name",
    "--target": "targets",
    "target": "targets",
    "--key-name": "key-name",
    "--limit-reset": "limit-reset",
    "--limit": "limit",
    "--include-byok-in-limit": "include-byok-in-limit",
    "--expires-after": "expires-after",
    "--interval-days": "rotation-interval-days",
    "--rotate-at": "rotate-at",
    "--timezone": "timezone",
    "--auto-rotation": "auto-rotation",
    "--revoke-after": "revoke-after",
    "--state-repository": "state-repository",
    "--state-variable": "state-variable",
    "--force": "force",
    "--dry-run": "dry-run",
    "--reason": "reason",
    "--usage-alert-threshold": "usage-alert-threshold",
    "--alert-webhook-url": "alert-webhook-url",
}

# The exact YAML to add, for the inputs whose fix is "pass the right secret".
_SECRET_FIX = {
    "management-key": "management-key: ${{ secrets.OPENROUTER_MANAGEMENT_KEY }}",
    "github-token": (
        "github-token: ${{ secrets.ROTATOR_GITHUB_TOKEN }}  # a fine-grained PAT, or "
        "${{ steps.app-token.outputs.token }} from actions/create-github-app-token"
    ),
    "alert-webhook-secret": "alert-webhook-secret: ${{ secrets.ROTATOR_ALERT_WEBHOOK_SECRET }}",
}

_TOKEN_FIX = (
    "Give the action a token that can write Actions secrets and variables: a fine-grained PAT "
    "(repository permissions Secrets and Variables: read and write, Environments: read; "
    "organization Secrets: read and write for org: targets) or a GitHub App installation token, "
    "e.g.\n  with:\n    "
    + _SECRET_FIX["github-token"]
    + "\nThe workflow's own GITHUB_TOKEN cannot write secrets, whatever `permissions:` says."
)


def input_for(option: str) -> str | None:
    """The action input behind a ConfigError's option text (e.g. ``ROTATOR_FORCE (--force)``)."""
    words = option.replace("(", " ").replace(")", " ").split()
    for word in words:
        if word in INPUT_FOR:
            return INPUT_FOR[word]
        if word in INPUT_FOR.values():  # already an input's name, e.g. "github-token"
            return word
    return None


def failure_message(error: BaseException) -> str:
    """The ::error:: text: what went wrong, then the fix."""
    text = str(error)
    if isinstance(error, ConfigError):
        name = input_for(error.option)
        if name in _SECRET_FIX:
            return f"{text}\nFix: pass it to the action:\n  with:\n    {_SECRET_FIX[name]}"
        if name:
            return (
                f"{text}\nFix: set the action input `{name}` in the step's `with:` "
                f"({error.allowed}), or remove it to use the default. Nothing was changed."
            )
        return f"{text}\nNothing was changed."
    # status None: several targets refused at once (the pre-flight's summary of them).
    if isinstance(error, GitHubAuthError) and error.status in (None, 401, 403):
        return f"{text}\n{_TOKEN_FIX}"
    return (
        f"{text}\nEvery target still holds a working key. Fix the cause above and run the "
        "workflow again (a later run also finishes or cleans up interrupted work by itself)."
    )


def usage_message(result: RunResult, config: Config) -> str | None:
    """The usage warning, when the active key is at or over the alert threshold."""
    usage = result.usage
    if not result.usage_alert or usage is None or usage.percent_used is None:
        return None
    return (
        f"{config.secret_name}: the active key has used {usage.percent_used:g}%"
        f" of its limit (threshold {config.usage_alert_threshold:g}%)"
    )


def outputs_of(result: RunResult) -> dict[str, str]:
    """The action's outputs; an unknown value is the empty string, as Actions has no null."""
    percent = result.usage.percent_used if result.usage else None
    return {
        "rotated": "true" if result.rotated else "false",
        "key-hash": result.key_hash or "",
        "previous-key-hash": result.previous_key_hash or "",
        "next-rotation-at": iso(result.next_rotation_at) or "",
        "usage-percent": "" if percent is None else f"{percent:g}",
    }


# Causes whose fix is "write the secret where the job reads it".
SCOPE_CAUSES = {"empty", "revoked", "stale", "foreign", "untracked", "unknown"}


def verify_failure(result: VerifyResult, config: Config) -> str | None:
    """The ``::error::`` of a failed verification: the cause, the hold, the fix."""
    if result.verified:
        return None
    return result.message + "." + _verify_held(result) + _verify_fix(result, config)


def verify_summary(result: VerifyResult, config: Config) -> str:
    secret = config.secret_name
    lines = [f"## OpenRouter key verification: `{secret}`", ""]
    if result.verified:
        lines.append(f":white_check_mark: **Verified**: {_cell(result.message)}, and it works.")
    else:
        held, fix = _verify_held(result), _verify_fix(result, config)
        lines.append(f":x: **Not verified**: {_cell(result.message)}.{held}{fix}")
    lines += [
        "",
        "| | |",
        "|---|---|",
        f"| Key this job read | `{_short(result.key_hash)}` |",
        f"| Active key | `{_short(result.active_key_hash)}` |",
        f"| Revocations | {'held' if result.hold else 'not held'} |",
        "",
    ]
    return "\n".join(lines)


def _verify_held(result: VerifyResult) -> str:
    if not result.hold:
        return ""
    return (
        " Every revocation is held until a verification passes, so the keys consumers "
        "may still hold stay alive."
    )


def _verify_fix(result: VerifyResult, config: Config) -> str:
    if result.cause not in SCOPE_CAUSES:  # the message already says what to do
        return ""
    return (
        f" Fix: make the rotation write `{config.secret_name}` where this job reads it (add the "
        "scope as a target, or delete the shadowing secret), run the rotation, then verify again."
    )


# -- the job summary ----------------------------------------------------------------------------


def render_summary(
    result: RunResult | None,
    config: Config | None,
    command: str = "rotate",
    failure: str | None = None,
) -> str:
    secret = config.secret_name if config is not None else "OpenRouter key"
    lines = [f"## OpenRouter key rotation: `{secret}`", ""]
    if failure is not None:
        lines += ["### :x: Failed", "", "```text", failure.replace("```", "'''"), "```", ""]
    if result is None:
        return "\n".join(lines)
    lines += [_headline(result, secret, command), ""]
    facts = _facts(result, config)
    if facts:
        lines += ["| | |", "|---|---|", *facts, ""]
    if result.targets:
        lines += ["### Targets", "", "| Target | Status | Detail |", "|---|---|---|"]
        for outcome in result.targets:
            icon = {"updated": ":white_check_mark:", "failed": ":x:"}.get(outcome.status, "")
            status = f"{icon} {outcome.status}".strip()
            lines.append(f"| `{_cell(outcome.target)}` | {status} | {_cell(outcome.error or '')} |")
        lines.append("")
    lines += _usage_section(result, config)
    if result.problems:
        lines += ["### Problems", ""]
        lines += [f"- {_cell(problem)}" for problem in result.problems]
        lines.append("")
    diagram = lifecycle_mermaid(result, config)
    if diagram:
        lines += ["### Key lifecycle", "", "```mermaid", diagram, "```", ""]
    return "\n".join(lines)


def _headline(result: RunResult, secret: str, command: str) -> str:
    reason = _cell(result.reason)
    if command == "status":
        return f"**Status** ({reason}); nothing was changed."
    if result.dry_run:
        return f":test_tube: **Dry run**: {reason}. Nothing was changed."
    if result.rotated:
        return (
            f":arrows_counterclockwise: **Rotated**: `{secret}` now holds key "
            f"`{_short(result.key_hash)}` ({reason})."
        )
    if not result.ok and result.targets and any(t.status == "failed" for t in result.targets):
        return f":x: **Not rotated**: {reason}."
    return f":zzz: **No rotation**: {reason}."


def _facts(result: RunResult, config: Config | None) -> list[str]:
    rows: list[str] = []
    if result.key_hash:
        since = (
            f", active since {_when(result.active_since, config)}" if result.active_since else ""
        )
        rows.append(f"| Active key | `{_short(result.key_hash)}`{since} |")
    if result.previous_key_hash:
        rows.append(f"| Previous key | `{_short(result.previous_key_hash)}` |")
    for retiring in result.retiring:
        if retiring.revoke_at is not None:
            until = f"revoked at or after {_when(retiring.revoke_at, config)}"
        elif retiring.pending:
            until = "kept until a newer key reaches every target"
        else:
            until = "kept until the next rotation"
        rows.append(f"| Retiring key | `{_short(retiring.hash)}`: {until} |")
    if result.revoked:
        revoked = ", ".join(f"`{_short(h)}`" for h in result.revoked)
        rows.append(f"| Revoked | {revoked} |")
    if result.next_rotation_at is not None:
        rows.append(f"| Next rotation | {_when(result.next_rotation_at, config)} |")
    elif result.key_hash:
        rows.append("| Next rotation | only when forced (auto rotation is off) |")
    cap = describe_carry_over(result.carry_over)
    if cap:
        rows.append(f"| Spending cap (carry-over) | {_cell(cap)} |")
    held = result.verification
    if held is not None and not held.verified:
        rows.append(
            f"| Revocations | :pause_button: held: the verification at {_when(held.at, config)} "
            f"failed ({_cell(held.cause or 'unknown')}); run verify again once fixed |"
        )
    if result.in_flight:
        rows.append(
            f"| Interrupted rotation | {_cell(result.in_flight)} (the next run finishes it) |"
        )
    return rows


def _usage_section(result: RunResult, config: Config | None) -> list[str]:
    usage = result.usage
    if usage is None:
        return []
    lines = ["### Usage", ""]
    if usage.limit is None:
        return lines + ["The active key has no spending limit.", ""]
    percent = "unknown" if usage.percent_used is None else f"{usage.percent_used:g}%"
    threshold = f"{config.usage_alert_threshold:g}%" if config is not None else "-"
    lines += [
        "| Limit | Remaining | Used | Alert threshold |",
        "|---|---|---|---|",
        f"| {money(usage.limit)} | {money(usage.limit_remaining)} | {percent} | {threshold} |",
        "",
    ]
    if result.usage_alert:
        lines += [":warning: **The active key is at or over the alert threshold.**", ""]
    return lines


def lifecycle_mermaid(result: RunResult, config: Config | None) -> str | None:
    """A Mermaid gantt of the keys: active since -> next rotation, retiring -> revoke time.

    Only hashes, fixed words and UTC times go in: nothing a user typed, so nothing can break
    the diagram's syntax.
    """
    if not result.key_hash or result.active_since is None:
        return None
    start = result.active_since
    end = result.next_rotation_at
    # A bar needs an end: with auto rotation off, draw the active key for one interval.
    open_end = end is None
    if end is None or end <= start:
        interval = config.schedule.interval_days if config is not None else 30
        end = start + timedelta(days=interval)
    lines = [
        "gantt",
        f"    title {_mermaid_word(config.secret_name if config else 'key')} key lifecycle (UTC)",
        "    dateFormat YYYY-MM-DD HH:mm",
        "    axisFormat %m-%d %H:%M",
        "    section Active",
        f"    key {_short(result.key_hash)}{' (no end)' if open_end else ''} :active, "
        f"{_mermaid_time(start)}, {_mermaid_time(end)}",
    ]
    if result.retiring:
        lines.append("    section Retiring")
        for retiring in result.retiring:
            begin = retiring.superseded_at
            until = retiring.revoke_at or result.next_rotation_at or end
            if until <= begin:
                until = begin + timedelta(minutes=1)
            label = "until revoked" if retiring.revoke_at else "until next rotation"
            lines.append(
                f"    key {_short(retiring.hash)} {label} :done, "
                f"{_mermaid_time(begin)}, {_mermaid_time(until)}"
            )
    if result.next_rotation_at is not None:
        lines += [
            "    section Schedule",
            f"    next rotation :milestone, {_mermaid_time(result.next_rotation_at)}, 0m",
        ]
    return "\n".join(lines)


def _mermaid_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _mermaid_word(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c == "_") or "key"


def _when(moment: datetime | None, config: Config | None) -> str:
    """UTC, plus the configured zone's local time when it is not UTC."""
    if moment is None:
        return "-"
    utc = iso(moment) or "-"
    zone = config.schedule.timezone if config is not None else None
    key = getattr(zone, "key", "UTC")
    if zone is None or key == "UTC":
        return utc
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {key} = {utc}"


def _short(key_hash: str | None) -> str:
    return key_hash[:12] if key_hash else "-"


def _cell(text: str) -> str:
    """Text from outside (a reason typed in workflow_dispatch, an API's message) as inert
    Markdown: no HTML, no table breaks, one line."""
    escaped = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(escaped.split())
