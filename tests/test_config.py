"""Option rules of SPEC §2-§4: flags, ROTATOR_* variables, defaults, and one clear error each."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from openrouter_rotator.cli import build_parser
from openrouter_rotator.config import parse_config
from openrouter_rotator.errors import ConfigError

BASE_ENV = {
    "OPENROUTER_MANAGEMENT_KEY": "mgmt-test",
    "GITHUB_TOKEN": "token-test",
    "GITHUB_REPOSITORY": "octo-org/app",
}


def parse(argv: list[str], env: dict[str, str] | None = None):
    args = build_parser().parse_args(["rotate", *argv])
    return parse_config(vars(args), {**BASE_ENV, **(env or {})})


def test_defaults() -> None:
    config = parse([])
    assert config.secret_name == "OPENROUTER_API_KEY"
    assert [t.spec for t in config.targets] == ["repo:octo-org/app"]
    assert config.state_repository == "octo-org/app"
    assert config.state_variable == "OPENROUTER_API_KEY_ROTATION"
    assert config.revoke_after == timedelta(hours=6)
    assert config.schedule.interval_days == 30
    assert config.schedule.rotate_at == time(0, 0)
    assert str(config.schedule.timezone) == "UTC"
    assert config.schedule.auto_rotation is True
    assert config.usage_alert_threshold == 80
    assert config.key.name == "octo-org/app OPENROUTER_API_KEY"
    assert config.key.limit is None and not config.key.include_byok_in_limit
    assert "mgmt-test" not in repr(config) and "token-test" not in repr(config)


def test_flag_wins_over_environment() -> None:
    config = parse(
        ["--key-name", "from-flag", "--no-auto-rotation"],
        {"ROTATOR_KEY_NAME": "from-env", "ROTATOR_AUTO_ROTATION": "true"},
    )
    assert config.key.name == "from-flag"
    assert config.schedule.auto_rotation is False


def test_environment_fills_in() -> None:
    config = parse(
        [],
        {
            "ROTATOR_KEY_NAME": "svc",
            "ROTATOR_LIMIT": "25.5",
            "ROTATOR_LIMIT_RESET": "monthly",
            "ROTATOR_INCLUDE_BYOK_IN_LIMIT": "true",
            "ROTATOR_EXPIRES_AFTER": "90d",
            "ROTATOR_INTERVAL_DAYS": "7",
            "ROTATOR_ROTATE_AT": "03:30",
            "ROTATOR_TIMEZONE": "Europe/London",
            "ROTATOR_REVOKE_AFTER": "next-rotation",
            "ROTATOR_TARGETS": "repo:octo-org/app\nenv:octo-org/app/production\n\n",
            "ROTATOR_FORCE": "true",
            "ROTATOR_REASON": "quarterly",
            "ROTATOR_JSON": "true",
            "ROTATOR_USAGE_ALERT_THRESHOLD": "90",
            "ROTATOR_SECRET_NAME": "OR_KEY",
        },
    )
    assert config.key.limit == 25.5 and config.key.limit_reset == "monthly"
    assert config.key.include_byok_in_limit and config.key.expires_after == timedelta(days=90)
    assert config.schedule.interval_days == 7 and config.schedule.rotate_at == time(3, 30)
    assert str(config.schedule.timezone) == "Europe/London"
    assert config.revoke_after is None
    assert [t.spec for t in config.targets] == ["repo:octo-org/app", "env:octo-org/app/production"]
    assert config.force and config.json and config.reason == "quarterly"
    assert config.state_variable == "OR_KEY_ROTATION"


def test_empty_environment_values_mean_default() -> None:
    """The action passes inputs left at their default as empty strings."""
    config = parse([], {"ROTATOR_LIMIT": "", "ROTATOR_INTERVAL_DAYS": " ", "ROTATOR_FORCE": ""})
    assert config.key.limit is None and config.schedule.interval_days == 30 and not config.force


def test_provisioning_key_alias() -> None:
    env = {k: v for k, v in BASE_ENV.items() if k != "OPENROUTER_MANAGEMENT_KEY"}
    args = build_parser().parse_args(["rotate"])
    config = parse_config(vars(args), {**env, "OPENROUTER_PROVISIONING_KEY": "alias"})
    assert config.credentials.management_key == "alias"


@pytest.mark.parametrize(
    ("argv", "env", "option", "fragment"),
    [
        (["--key-name", " "], {}, "--key-name", "non-empty"),
        (["--key-name", "x" * 101], {}, "--key-name", "100"),
        (["--limit", "0"], {}, "--limit", "greater than 0"),
        (["--limit", "-5"], {}, "--limit", "greater than 0"),
        (["--limit", "lots"], {}, "--limit", "number"),
        (["--limit", "nan"], {}, "--limit", "number"),
        (["--limit-reset", "monthly"], {}, "--limit-reset", "only together with --limit"),
        (["--limit", "5", "--limit-reset", "yearly"], {}, "--limit-reset", "daily, weekly"),
        (["--expires-after", "0"], {}, "--expires-after", "greater than 0"),
        (["--expires-after", "soon"], {}, "--expires-after", "duration"),
        (["--expires-after", "1h"], {}, "--expires-after", "at least 32d"),
        (["--expires-after", "20d", "--interval-days", "30"], {}, "--expires-after", "expire"),
        (["--interval-days", "0"], {}, "--interval-days", "1 to 3650"),
        (["--interval-days", "1.5"], {}, "--interval-days", "whole number"),
        (["--rotate-at", "25:00"], {}, "rotate-at", "HH:MM"),
        (["--timezone", "Mars/Olympus"], {}, "timezone", ""),
        (["--revoke-after", "whenever"], {}, "--revoke-after", "duration"),
        (["--secret-name", "GITHUB_KEY"], {}, "--secret-name", ""),
        (["--secret-name", "1KEY"], {}, "--secret-name", ""),
        (["--secret-name", "MY-KEY"], {}, "--secret-name", ""),
        (["--target", "s3:bucket"], {}, "target", ""),
        (
            ["--target", "repo:octo-org/app", "--target", "repo:octo-org/app"],
            {},
            "--target",
            "once",
        ),
        (["--state-repository", "not a repo"], {}, "--state-repository", "OWNER/REPO"),
        (["--usage-alert-threshold", "0"], {}, "--usage-alert-threshold", "percent"),
        (["--usage-alert-threshold", "101"], {}, "--usage-alert-threshold", "percent"),
        (["--alert-webhook-url", "ftp://x"], {}, "--alert-webhook-url", "http"),
        (
            ["--alert-webhook-url", "https://hooks.example/alerts"],
            {},
            "ROTATOR_ALERT_WEBHOOK_SECRET",
            "signed",
        ),
        ([], {"ROTATOR_FORCE": "maybe"}, "ROTATOR_FORCE", "true or false"),
        ([], {"OPENROUTER_MANAGEMENT_KEY": ""}, "OPENROUTER_MANAGEMENT_KEY", "management key"),
        ([], {"GITHUB_TOKEN": ""}, "GITHUB_TOKEN", "PAT"),
        ([], {"OPENROUTER_BASE_URL": "openrouter.ai"}, "OPENROUTER_BASE_URL", "URL"),
    ],
)
def test_invalid_values_name_option_value_and_rule(argv, env, option, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        parse(argv, env)
    message = str(info.value)
    assert option in message
    assert fragment in message
    assert "\n" not in message
    assert "token-test" not in message and "mgmt-test" not in message


def test_missing_repository_outside_actions() -> None:
    args = build_parser().parse_args(["rotate"])
    env = {"OPENROUTER_MANAGEMENT_KEY": "m", "GITHUB_TOKEN": "t"}
    with pytest.raises(ConfigError, match="state-repository"):
        parse_config(vars(args), env)


def test_run_url_and_trigger_from_actions_environment() -> None:
    config = parse(
        [],
        {
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "42",
            "GITHUB_EVENT_NAME": "schedule",
        },
    )
    assert config.run_url == "https://github.com/octo-org/app/actions/runs/42"
    assert config.trigger == "schedule"


def test_http_settings_come_from_the_environment() -> None:
    config = parse([])
    assert (config.http_timeout, config.github_write_interval) == (15.0, 1.0)
    config = parse([], {"ROTATOR_HTTP_TIMEOUT": "2.5", "ROTATOR_GITHUB_WRITE_INTERVAL": "0"})
    assert (config.http_timeout, config.github_write_interval) == (2.5, 0.0)
    assert parse([], {"ROTATOR_HTTP_TIMEOUT": "0"}).http_timeout == 15.0  # 0: the default
    for name in ("ROTATOR_HTTP_TIMEOUT", "ROTATOR_GITHUB_WRITE_INTERVAL"):
        for bad in ("soon", "-1", "nan", "inf"):
            with pytest.raises(ConfigError) as caught:
                parse([], {name: bad})
            assert caught.value.option == name and caught.value.exit_code == 2


@pytest.mark.parametrize(
    "repository", ["my_emu/app", "octo-org/app.js", "a/b", "octo--org/_x", "-octo/app", "o/..", "o"]
)
def test_one_repository_rule_for_targets_state_and_webhook(repository: str) -> None:
    """--target repo:X, --state-repository X and a webhook rotation's repository agree on X."""
    from webhook.config import parse_settings

    def accepted(check) -> bool:
        try:
            check()
        except ConfigError:
            return False
        return True

    as_target = accepted(lambda: parse([f"--target=repo:{repository}"]))
    as_state = accepted(lambda: parse([f"--state-repository={repository}"]))
    as_webhook = accepted(
        lambda: parse_settings(
            {"rotations": {"r": {"repository": repository}}, "webhook": {"endpoints": ["api"]}},
            {"ROTATOR_GITHUB_TOKEN": "t", "ROTATOR_API_TOKEN": "a"},
        )
    )
    assert as_target == as_state == as_webhook
    assert as_target == (repository in ("my_emu/app", "octo-org/app.js", "a/b", "octo--org/_x"))


def test_retry_scale_comes_from_the_environment() -> None:
    assert parse([]).retry.scale == 1
    assert parse([], {"ROTATOR_RETRY_SCALE": "0"}).retry.scale == 0
    assert parse([], {"ROTATOR_RETRY_SCALE": "0.5"}).retry.scale == 0.5
    for bad in ("fast", "-1", "2", "nan"):
        with pytest.raises(ConfigError) as caught:
            parse([], {"ROTATOR_RETRY_SCALE": bad})
        assert caught.value.option == "ROTATOR_RETRY_SCALE" and caught.value.exit_code == 2
