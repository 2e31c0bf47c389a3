"""Hostile and careless input (issue 11): exit 2, one line naming the option, nothing changed.

Tried as an attacker and a careless operator would, through the real CLI entry point against
the sandbox: every invalid value is exit code 2 with one line on stderr that names the option
(and never shows a secret), no traceback, and not one request that changes anything. The
property test throws generated values at every option and environment variable: the CLI
answers 0, 1 or 2 and nothing else, never a traceback, and never a mutating request with 2.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrouter_rotator.cli import main
from openrouter_rotator.config import ENV_NAMES, OPTIONS
from openrouter_rotator.sandbox import Sandbox

from .cli_helpers import cli_env

HUGE = "9" * 5000
NUMBERS = [
    HUGE,
    "-1",
    "0",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1_000",
    "1e3",
    "1e-400",
    "0x10",
    "\u0661\u0662",  # Arabic-Indic digits: int() and float() take them
    "\uff11\uff12",  # full-width digits
    "12\u200b",  # a zero-width space after the digits
    "1,5",
]
INVISIBLE = [
    "a\nb",
    "a\rb",
    "a\x00b",
    "a\x1b[31mb",
    "\u202eevil",  # right-to-left override
    "a\u200bb",  # zero-width space
    "a\u2028b",  # line separator
    "a\u00a0b",  # no-break space
    "a\ufeffb",  # byte order mark
    "\u2066x\u2069",  # bidi isolates
]
URLS = [
    "http://[::1",
    "http://exa mple.com",
    "http://example.com:99999",
    "http://example.com:port",
    "ftp://example.com",
    "example.com",
    "http://",
    "http://\u0435xample.com",  # Cyrillic e
    "http://example.com/\n::error::x",
]

# (argv, env): each must be refused with exit 2 before anything changes.
CASES: list[tuple[list[str], dict[str, str]]] = []
for _value in NUMBERS:
    for _flag in ("--interval-days", "--limit", "--usage-alert-threshold"):
        CASES.append(([_flag, _value], {}))
    for _flag in ("--revoke-after", "--expires-after"):
        if not (_flag == "--revoke-after" and _value == "0"):  # 0d: revoke at once, valid
            CASES.append(([_flag, _value + "d" if _value else "d"], {}))
    for _variable in ("ROTATOR_HTTP_TIMEOUT", "ROTATOR_GITHUB_WRITE_INTERVAL"):
        if _value not in ("", "0"):
            CASES.append(([], {_variable: _value}))
CASES += [
    (["--interval-days", "3651"], {}),
    (["--limit", "1000000001"], {}),
    (["--usage-alert-threshold", "100.5"], {}),
    (["--revoke-after", "3651d"], {}),
    (["--expires-after", "99999999999999999999d"], {}),
    (["--rotate-at", "\uff12\uff13:00"], {}),
    (["--rotate-at", "24:00"], {}),
    (["--timezone", "../../etc/passwd"], {}),
    (["--timezone", "UT\nC"], {}),
]
for _text in INVISIBLE:
    CASES += [
        (["--key-name", _text], {}),
        (["--reason", _text], {}),
        (["--secret-name", _text], {}),
        (["--state-variable", _text], {}),
        (["--target", f"env:octo-org/app/{_text}"], {}),
        (["--target", f"repo:octo-org/{_text}"], {}),
        ([], {"ROTATOR_KEY_NAME": _text}),
        ([], {"ROTATOR_REASON": _text}),
    ]
for _url in URLS:
    CASES += [
        ([], {"OPENROUTER_BASE_URL": _url}),
        ([], {"GITHUB_API_URL": _url}),
        (["--alert-webhook-url", _url], {"ROTATOR_ALERT_WEBHOOK_SECRET": "s3cret"}),
    ]
for _segment in (".", ".."):
    CASES += [
        (["--target", f"env:octo-org/app/{_segment}"], {}),
        (["--target", f"repo:octo-org/{_segment}"], {}),
        (["--target", f"dependabot:octo-org/{_segment}"], {}),
        (["--state-repository", f"octo-org/{_segment}"], {}),
        (["--target", f"org:octo-org?visibility=selected&repositories={_segment}"], {}),
    ]
for _credential in ("OPENROUTER_MANAGEMENT_KEY", "GITHUB_TOKEN", "ROTATOR_ALERT_WEBHOOK_SECRET"):
    for _bad in ("sk-or-v1-abc\ndef", "abc\rdef", "abc\n\n", "caf\u00e9-token", " abc", "a b"):
        _extra = ["--alert-webhook-url", "http://127.0.0.1:9/alerts"]
        _argv = _extra if _credential == "ROTATOR_ALERT_WEBHOOK_SECRET" else []
        CASES.append((_argv, {_credential: _bad}))
CASES += [
    ([], {"ROTATOR_FORCE": "maybe"}),
    ([], {"ROTATOR_AUTO_ROTATION": "\u202etrue"}),
    ([], {"ROTATOR_TARGETS": "repo:octo-org/app\nrepo:octo-org/app"}),
    ([], {"ROTATOR_STATE_REPOSITORY": "octo-org/app/extra"}),
]


FLAG_OF = {variable: "--" + dest.replace("_", "-") for dest, variable in ENV_NAMES.items()}
FLAG_OF["ROTATOR_TARGETS"] = "--target"


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def run(box: Sandbox, argv: list[str], env: dict[str, str]) -> tuple[int, str, str, list[Any]]:
    """The CLI's ``main`` in process; its exit code, stdout, stderr and mutating requests."""
    box.reset_requests()
    full_env = {**cli_env(box), **env}
    with captured() as (out, err):
        try:
            code = main(["rotate", *argv], full_env)
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    mutating = [r for r in box.requests() if r.method != "GET"]
    return code, out.getvalue(), err.getvalue(), mutating


def secrets_of(env: dict[str, str]) -> list[str]:
    names = ("OPENROUTER_MANAGEMENT_KEY", "GITHUB_TOKEN", "ROTATOR_ALERT_WEBHOOK_SECRET")
    return [env[n].strip() for n in names if env.get(n, "").strip()]


def test_there_are_many_cases() -> None:
    assert len(CASES) >= 150  # the count the issue note reports


@pytest.mark.parametrize(("argv", "env"), CASES, ids=[repr(c)[:60] for c in CASES])
def test_invalid_input_is_refused_before_any_change(
    sandbox: Sandbox, argv: list[str], env: dict[str, str]
) -> None:
    code, out, err, mutating = run(sandbox, argv, env)
    assert code == 2, (code, out, err)
    assert mutating == []
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for secret in secrets_of(env):
        assert secret not in err and secret not in out
    # The line names what was wrong: the variable, or the option it sets.
    named = {argv[0]} if argv else set()
    named |= set(env) | {FLAG_OF.get(name, name) for name in env}
    named |= {name.lstrip("-") for name in named}  # targets say "invalid target ..."
    assert any(name in lines[0] for name in named), (named, lines[0])


def test_a_single_trailing_newline_of_a_pasted_credential_is_dropped(sandbox: Sandbox) -> None:
    env = cli_env(sandbox)
    pasted = {
        "OPENROUTER_MANAGEMENT_KEY": env["OPENROUTER_MANAGEMENT_KEY"] + "\n",
        "GITHUB_TOKEN": env["GITHUB_TOKEN"] + "\r\n",
    }
    code, _, err, mutating = run(sandbox, [], pasted)
    assert code == 0, err
    assert mutating  # the first key was issued with the credentials as they should be


# -- generated input ------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.sampled_from(NUMBERS + INVISIBLE + URLS + [".", "..", "true", "0", "1", "6h", "12:00"]),
    st.text(max_size=12),
    st.from_regex(r"[0-9]{1,6}(\.[0-9]{0,3})?[smhd]?", fullmatch=True),
)
FLAGS = [flag for flag, _, kind, _ in OPTIONS if kind != "bool"]
ENV_VARIABLES = [
    *ENV_NAMES.values(),
    "OPENROUTER_MANAGEMENT_KEY",
    "OPENROUTER_PROVISIONING_KEY",
    "GITHUB_TOKEN",
    "ROTATOR_ALERT_WEBHOOK_SECRET",
    "OPENROUTER_BASE_URL",
    "GITHUB_API_URL",
    "ROTATOR_HTTP_TIMEOUT",
    "ROTATOR_GITHUB_WRITE_INTERVAL",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_ID",
    "GITHUB_EVENT_NAME",
]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flags=st.lists(st.tuples(st.sampled_from(FLAGS), HOSTILE), max_size=3),
    variables=st.dictionaries(st.sampled_from(ENV_VARIABLES), HOSTILE, max_size=3),
    switches=st.lists(st.sampled_from(["--force", "--dry-run", "--json", "--no-auto-rotation"])),
)
def test_generated_input_exits_0_1_or_2_and_2_changes_nothing(
    sandbox: Sandbox,
    flags: list[tuple[str, str]],
    variables: dict[str, str],
    switches: list[str],
) -> None:
    argv = [part for flag, value in flags for part in (flag, value)] + switches
    if "OPENROUTER_BASE_URL" in variables or "GITHUB_API_URL" in variables:
        # Only an invalid URL or the sandbox: a valid stranger would send requests elsewhere.
        for name in ("OPENROUTER_BASE_URL", "GITHUB_API_URL"):
            if name in variables and variables[name].strip().startswith("http"):
                del variables[name]
    variables.setdefault("ROTATOR_HTTP_TIMEOUT", "2")
    code, out, err, mutating = run(sandbox, argv, variables)
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert mutating == [], err
        assert len(err.strip().splitlines()) == 1, err


# -- nothing printed on a runner can start a workflow command -------------------------------

INJECTED = "bad\n::error::pwned\r::stop-commands::tok\r\n  ::add-mask::x\n##[error]legacy"


def test_input_and_api_text_can_never_start_a_workflow_command(
    sandbox: Sandbox, tmp_path: Any
) -> None:
    """A reason and an API's error message full of workflow commands, on Actions: the only
    lines that start a command are the action's own (masks, its ::error:: and ::warning::)."""
    from .cli_helpers import run_cli

    assert run_cli(sandbox, "rotate").returncode == 0
    sandbox.fault(
        r"/environments/production/secrets/OPENROUTER_API_KEY$",
        method="PUT",
        status=422,
        times=None,
        body={"message": INJECTED},
    )
    runner = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"),
        "ROTATOR_VERBOSE": "1",
    }
    for extra in ([], ["--json"]):
        done = run_cli(
            sandbox,
            "rotate",
            "--force",
            "--reason",
            "##[error]x ::stop-commands::y",
            *extra,
            **runner,
        )
        assert done.returncode == 1, done.stderr
        assert "pwned" in done.stdout + done.stderr  # the message is shown, made inert
        for line in re.split(r"\r\n|\r|\n", done.stdout + done.stderr):
            if line.lstrip().startswith("::"):
                assert line.startswith(("::add-mask::", "::error title=", "::warning title=")), line
                assert "\n" not in line and "pwned" not in line.split("::")[1], line
            assert "##[" not in line, line


def test_a_reason_shaped_like_a_key_is_stored_redacted(sandbox: Sandbox) -> None:
    leaked = "sk-or-v1-" + "0a1b" * 16
    token = "ghp_" + "A1b2C3d4" * 5
    code, out, err, _ = run(sandbox, ["--force", "--reason", f"leaked {leaked} and {token}"], {})
    assert code == 0, err
    state = sandbox.github.variable("octo-org/app", "OPENROUTER_API_KEY_ROTATION") or ""
    assert leaked not in state + out + err and token not in state + out + err
    assert "leaked [redacted] and [redacted]" in state
