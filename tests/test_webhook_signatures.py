"""Webhook authentication (pure functions) and configuration loading."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrouter_rotator.alerts import build_alert_headers, sign_alert
from openrouter_rotator.errors import ConfigError
from webhook.config import load_settings, parse_settings
from webhook.signatures import (
    sign_github,
    sign_slack,
    verify_alert,
    verify_bearer,
    verify_github,
    verify_slack,
)

from .webhook_fixtures import SECRET_ENV, config_doc, toml_text

NOW = 1_740_000_000

# -- published test vectors --------------------------------------------------------------------

SLACK_DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977008"
    b"85554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c4"
    b"47fce8b6703c"
)


def test_slack_signature_matches_slacks_documented_example() -> None:
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    assert sign_slack(secret, 1531420618, SLACK_DOC_BODY) == signature
    assert verify_slack(secret, "1531420618", signature, SLACK_DOC_BODY, 1531420618 + 60) is None


def test_github_signature_matches_githubs_documented_example() -> None:
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign_github("It's a Secret to Everybody", b"Hello, World!") == signature
    assert verify_github("It's a Secret to Everybody", signature, b"Hello, World!") is None


def test_alert_signature_is_hmac_of_v1_timestamp_body() -> None:
    body = b'{"rotation":"openrouter"}'
    expected = hmac.new(b"s3", b"v1:1700000000:" + body, hashlib.sha256).hexdigest()
    assert sign_alert("s3", 1700000000, body) == "v1=" + expected


def test_build_alert_headers_signs_with_the_given_time() -> None:
    headers = build_alert_headers("s3", b"{}", now=1700000000.7)
    assert headers["X-Rotator-Timestamp"] == "1700000000"
    assert headers["X-Rotator-Signature"] == sign_alert("s3", 1700000000, b"{}")
    assert headers["Content-Type"] == "application/json"


# -- rejections --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "reason"),
    [
        (str(NOW), None, b"x", NOW, "missing_signature"),
        (None, sign_slack("k", NOW, b"x"), b"x", NOW, "missing_timestamp"),
        ("12a", sign_slack("k", NOW, b"x"), b"x", NOW, "bad_timestamp"),
        ("9" * 40, sign_slack("k", NOW, b"x"), b"x", NOW, "bad_timestamp"),
        (str(NOW - 301), sign_slack("k", NOW - 301, b"x"), b"x", NOW, "stale_timestamp"),
        (str(NOW + 301), sign_slack("k", NOW + 301, b"x"), b"x", NOW, "stale_timestamp"),
        (str(NOW), sign_slack("other", NOW, b"x"), b"x", NOW, "bad_signature"),
        (str(NOW), sign_slack("k", NOW, b"x"), b"y", NOW, "bad_signature"),
        (str(NOW), sign_slack("k", NOW - 1, b"x"), b"x", NOW, "bad_signature"),
        (str(NOW), "v0=" + "0" * 64, b"x", NOW, "bad_signature"),
        (str(NOW), "v0=é", b"x", NOW, "bad_signature"),
        (str(NOW - 300), sign_slack("k", NOW - 300, b"x"), b"x", NOW, None),
    ],
)
def test_verify_slack(
    timestamp: str | None, signature: str | None, body: bytes, now: int, reason: str | None
) -> None:
    assert verify_slack("k", timestamp, signature, body, now) == reason


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (str(NOW), sign_alert("k", NOW, b"{}"), None),
        (str(NOW), None, "missing_signature"),
        ("", sign_alert("k", NOW, b"{}"), "missing_timestamp"),
        (str(NOW - 600), sign_alert("k", NOW - 600, b"{}"), "stale_timestamp"),
        (str(NOW), sign_alert("k", NOW, b"{ }"), "bad_signature"),
        (str(NOW), sign_alert("k2", NOW, b"{}"), "bad_signature"),
        (str(NOW), sign_alert("k", NOW, b"{}").replace("v1=", "v0="), "bad_signature"),
    ],
)
def test_verify_alert(timestamp: str, signature: str | None, reason: str | None) -> None:
    assert verify_alert("k", timestamp, signature, b"{}", NOW) == reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer tok", None),
        ("bearer tok", None),
        (None, "missing_token"),
        ("", "missing_token"),
        ("Bearer ", "missing_token"),
        ("Basic dG9rOg==", "missing_token"),
        ("Bearer tok2", "bad_token"),
        ("Bearer to", "bad_token"),
    ],
)
def test_verify_bearer(header: str | None, reason: str | None) -> None:
    assert verify_bearer("tok", header) == reason


@given(body=st.binary(max_size=512), forged=st.text(max_size=80))
def test_no_forged_github_signature_verifies(body: bytes, forged: str) -> None:
    if forged.strip() == sign_github("k", body):
        return
    assert verify_github("k", forged, body) is not None


# -- configuration -----------------------------------------------------------------------------

ENV = {**SECRET_ENV, "ROTATOR_GITHUB_TOKEN": "ghp_token"}


def test_settings_from_a_toml_file(tmp_path: Path) -> None:
    doc = config_doc()
    doc["github"] = {"api_url": "https://ghe.example.com/api/v3/"}
    doc["store"] = {"path": str(tmp_path / "s.sqlite3")}
    path = tmp_path / "webhook.toml"
    path.write_text(toml_text(doc))
    settings = load_settings({**ENV, "ROTATOR_WEBHOOK_CONFIG": str(path)})
    rotation = settings.rotations["openrouter"]
    assert rotation.cooldown == 600
    assert rotation.slack_users == ("U012AB3CD",)
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.store_path == str(tmp_path / "s.sqlite3")
    assert settings.rotations["emergency"].on_usage_alert == "rotate"
    # Secrets stay out of reprs, which end up in tracebacks and debug logs.
    assert "ghp_token" not in repr(settings)
    assert all(secret not in repr(settings) for secret in SECRET_ENV.values())


@pytest.mark.parametrize("variable", sorted(SECRET_ENV))
def test_refuses_to_start_without_an_enabled_endpoints_secret(variable: str) -> None:
    env = {k: v for k, v in ENV.items() if k != variable}
    with pytest.raises(ConfigError) as info:
        parse_settings(config_doc(), env)
    assert variable in str(info.value)
    assert "endpoints" in str(info.value)


def test_a_disabled_endpoint_needs_no_secret() -> None:
    doc = config_doc()
    doc["webhook"] = {"endpoints": ["github", "api", "alerts"]}
    env = {k: v for k, v in ENV.items() if k != "ROTATOR_SLACK_SIGNING_SECRET"}
    assert parse_settings(doc, env).endpoints == {"github", "api", "alerts"}


def test_github_app_instead_of_a_token() -> None:
    doc = config_doc()
    doc["github"] = {"app_id": 123}
    env = {**SECRET_ENV, "ROTATOR_GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----"}
    settings = parse_settings(doc, env)
    assert settings.github_app_id == 123 and settings.github_token is None
    with pytest.raises(ConfigError, match="ROTATOR_GITHUB_APP_PRIVATE_KEY"):
        parse_settings(doc, SECRET_ENV)


@pytest.mark.parametrize(
    ("mutate", "names"),
    [
        (lambda d: d["rotations"]["openrouter"].update(min_permission="none"), "min_permission"),
        (lambda d: d["rotations"]["openrouter"].update(min_permission="owner"), "min_permission"),
        (lambda d: d["rotations"]["openrouter"].update(on_usage_alert="page"), "on_usage_alert"),
        (lambda d: d["rotations"]["openrouter"].update(cooldown="10 minutes"), "cooldown"),
        (lambda d: d["rotations"]["openrouter"].update(cooldown=600), "cooldown"),
        (lambda d: d["rotations"]["openrouter"].update(repository="app"), "repository"),
        (lambda d: d["rotations"]["openrouter"].update(slack_users="U1"), "slack_users"),
        (lambda d: d["rotations"]["openrouter"].update(workfow="x.yml"), "workfow"),
        (lambda d: d.update(rotations={}), "[rotations]"),
        (lambda d: d.update(extra={}), "[extra]"),
        (lambda d: d.update(webhook={"endpoints": ["sms"]}), "endpoints"),
        (lambda d: d.update(github={"app_id": "abc"}), "app_id"),
        (lambda d: d.update(store={"redis_url": "localhost"}), "redis_url"),
    ],
)
def test_invalid_configuration_names_the_setting(mutate, names: str) -> None:
    doc = config_doc()
    mutate(doc)
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_settings(doc, ENV)


def test_missing_token_says_what_the_token_needs() -> None:
    with pytest.raises(ConfigError, match="ROTATOR_GITHUB_TOKEN.*actions"):
        parse_settings(config_doc(), SECRET_ENV)


def test_redis_url_from_the_environment_is_not_echoed_when_invalid() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(config_doc(), {**ENV, "ROTATOR_REDIS_URL": "hunter2-password"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ROTATOR_WEBHOOK_CONFIG"),
        ({"ROTATOR_WEBHOOK_CONFIG": "/nonexistent.toml"}, "cannot read"),
    ],
)
def test_missing_config_file(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[rotations.openrouter\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({**ENV, "ROTATOR_WEBHOOK_CONFIG": str(path)})
