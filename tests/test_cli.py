"""The CLI as a user runs it: a subprocess, exit codes, --json, errors, masking, secrets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openrouter_rotator.sandbox import Sandbox

from .cli_helpers import run_cli
from .engine import FakeClock, assert_converged, assert_targets_work, expire_lease, target_values

RESULT_KEYS = {
    "rotated",
    "reason",
    "key_hash",
    "previous_key_hash",
    "revoked",
    "retiring",
    "next_rotation_at",
    "targets",
    "usage",
    "dry_run",
}


def test_help_lists_every_command(sandbox: Sandbox) -> None:
    done = run_cli(sandbox, "--help")
    assert done.returncode == 0
    for word in ("rotate", "status", "demo", "sandbox"):
        assert word in done.stdout
    rotate_help = run_cli(sandbox, "rotate", "--help").stdout
    for flag in (
        "--secret-name",
        "--target",
        "--key-name",
        "--limit",
        "--limit-reset",
        "--include-byok-in-limit",
        "--expires-after",
        "--interval-days",
        "--rotate-at",
        "--timezone",
        "--auto-rotation",
        "--no-auto-rotation",
        "--revoke-after",
        "--state-repository",
        "--state-variable",
        "--force",
        "--dry-run",
        "--reason",
        "--json",
        "--usage-alert-threshold",
        "--alert-webhook-url",
    ):
        assert flag in rotate_help, flag


def test_rotate_json_has_exactly_the_spec_keys(sandbox: Sandbox) -> None:
    done = run_cli(sandbox, "rotate", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == RESULT_KEYS
    assert result["rotated"] is True and result["dry_run"] is False
    assert {t["status"] for t in result["targets"]} == {"updated"}
    assert set(result["usage"]) == {"limit", "limit_remaining", "percent_used"}
    assert_converged(sandbox, FakeClock()())

    status = run_cli(sandbox, "status", "--json")
    assert status.returncode == 0, status.stderr
    # SPEC §7 adds the spend carry-over to status (null: nothing carried over).
    status_json = json.loads(status.stdout)
    assert set(status_json) == RESULT_KEYS - {"targets"} | {"carry_over"}
    assert status_json["carry_over"] is None


def test_human_output_and_next_run_not_due(sandbox: Sandbox) -> None:
    first = run_cli(sandbox, "rotate", "--limit", "20", "--limit-reset", "daily")
    assert first.returncode == 0, first.stderr
    assert "rotated: OPENROUTER_API_KEY now holds key" in first.stdout
    assert "next rotation:" in first.stdout and "usage: $20.00 left of $20.00" in first.stdout
    second = run_cli(sandbox, "rotate")
    assert second.returncode == 0
    assert "no rotation: not due" in second.stdout


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["rotate", "--interval-days", "0"], {}, "--interval-days"),
        (["rotate", "--target", "repo:nope"], {}, "target"),
        (["rotate"], {"ROTATOR_TIMEZONE": "Moon/Base"}, "timezone"),
        (["rotate"], {"OPENROUTER_MANAGEMENT_KEY": ""}, "OPENROUTER_MANAGEMENT_KEY"),
        (["rotate", "--no-such-flag"], {}, "--no-such-flag"),
        (["frobnicate"], {}, "frobnicate"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_sent(
    sandbox: Sandbox, args: list[str], env: dict[str, str], fragment: str
) -> None:
    sandbox.reset_requests()
    done = run_cli(sandbox, *args, **env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0] and "Traceback" not in done.stderr
    assert sandbox.requests() == []


def test_read_only_token_fails_with_the_fix_and_changes_nothing(sandbox: Sandbox) -> None:
    done = run_cli(sandbox, "rotate", GITHUB_TOKEN=sandbox.github.readonly_token)
    assert done.returncode == 1
    assert "Secrets" in done.stderr and "Traceback" not in done.stderr
    assert sandbox.openrouter.live_keys() == []


def test_missing_environment_is_found_before_a_key_exists(sandbox: Sandbox) -> None:
    done = run_cli(sandbox, "rotate", "--target", "env:octo-org/app/staging")
    assert done.returncode == 1
    assert "staging" in done.stderr
    assert sandbox.openrouter.live_keys() == []


def test_no_plaintext_anywhere_outside_actions(sandbox: Sandbox) -> None:
    outputs = []
    for args in (["rotate"], ["rotate", "--force", "--revoke-after", "0"], ["status"]):
        done = run_cli(sandbox, *args, ROTATOR_VERBOSE="1")
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    text = "\n".join(outputs)
    assert "sk-or-v1-" not in text
    assert sandbox.github.admin_token not in text
    assert "::add-mask::" not in text  # off Actions such a line would print the secret


def test_keys_are_masked_on_actions(sandbox: Sandbox, tmp_path) -> None:
    done = run_cli(
        sandbox,
        "rotate",
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "out"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "sum"),
    )
    assert done.returncode == 0, done.stderr
    key = next(v for v in target_values(sandbox).values() if v)
    masks = [line for line in done.stdout.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{key}" in masks
    assert f"::add-mask::{sandbox.management_key}" in masks
    assert f"::add-mask::{sandbox.github.admin_token}" in masks
    # the mask comes before anything else could print the key, and nothing else does
    rest = done.stdout.replace(f"::add-mask::{key}", "") + done.stderr
    assert key not in rest and sandbox.management_key not in rest.replace(
        f"::add-mask::{sandbox.management_key}", ""
    )


def test_usage_warning_at_threshold(sandbox: Sandbox) -> None:
    done = run_cli(sandbox, "rotate", "--json", "--limit", "10")
    key_hash = json.loads(done.stdout)["key_hash"]
    sandbox.openrouter.set_usage(key_hash, usage=9)
    done = run_cli(sandbox, "rotate", "--limit", "10")
    assert done.returncode == 0
    assert "90% used" in done.stdout
    assert "warning:" in done.stderr and "threshold 80%" in done.stderr
    done = run_cli(sandbox, "rotate", "--limit", "10", GITHUB_ACTIONS="true")
    assert "::warning title=OpenRouter key usage::" in done.stdout


# A few faults through the real process boundary (the full matrix, every remote call times
# every fault, runs in process in test_faults.py).
SUBPROCESS_FAULTS = [
    (
        "429 with Retry-After on create",
        r"/api/v1/keys$",
        "POST",
        {"status": 429, "retry_after": "1"},
        0,
    ),
    ("5xx once on a secret PUT", r"/secrets/OPENROUTER_API_KEY$", "PUT", {"status": 502}, 0),
    ("timeout on verify", r"/api/v1/key$", "GET", {"latency": 2.5, "nth": 2}, 0),
    (
        "persistent 5xx on a secret PUT",
        r"/environments/production/secrets/",
        "PUT",
        {"status": 503, "times": None},
        1,
    ),
    (
        "persistent 5xx on the commit",
        r"/actions/variables/OPENROUTER_API_KEY_ROTATION$",
        "PATCH",
        {"status": 500, "times": None, "nth": 2},
        1,
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "method", "fault", "code"),
    SUBPROCESS_FAULTS,
    ids=[f[0] for f in SUBPROCESS_FAULTS],
)
def test_faults_through_the_cli(
    sandbox: Sandbox, name: str, path: str, method: str, fault: dict[str, object], code: int
) -> None:
    assert run_cli(sandbox, "rotate").returncode == 0
    sandbox.fault(path, method=method, **fault)
    done = run_cli(sandbox, "rotate", "--force", "--revoke-after", "0", ROTATOR_HTTP_TIMEOUT="1")
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "sk-or-v1-" not in done.stdout + done.stderr
    if code:
        assert "error:" in done.stderr
    assert_targets_work(sandbox)
    sandbox.clear_faults()
    expire_lease(sandbox, FakeClock())
    rerun = run_cli(sandbox, "rotate", "--revoke-after", "0")
    assert rerun.returncode == 0, rerun.stderr
    state = assert_converged(sandbox, FakeClock()())
    assert state.retiring == ()


def test_sandbox_on_port_0_prints_exports_that_work() -> None:
    """What a new user does: start the sandbox on a free port, paste the exports, rotate."""
    import os
    import shlex
    import signal
    import subprocess

    from .cli_helpers import command

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTATOR_", "GITHUB_"))}
    env["PYTHONUNBUFFERED"] = "1"
    server = subprocess.Popen(
        command("sandbox", "--port", "0"), env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        lines: list[str] = []
        while not (lines and "rotate --state-repository" in lines[-1]):
            line = server.stdout.readline()
            assert line, "the sandbox exited before printing its exports"
            lines.append(line.strip())
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert ":8799/" not in exports["OPENROUTER_BASE_URL"]
        assert exports["GITHUB_API_URL"].endswith("/github")
        pasted = shlex.split(lines[-1])
        assert pasted[:3] == command()  # how it was started, so the paste works
        done = subprocess.run(
            [*pasted, "--json"],
            env={**env, **exports},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rotated"] is True
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0


def test_the_demo_walks_through_carry_over_and_verify() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openrouter_rotator", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "spending cap: $37.50 of $50.00 (older keys of this rotation spent $12.50" in out
    assert "not verified: OPENROUTER_API_KEY holds the previous key" in out
    assert "revocations held: the verification at" in out
    assert "spending cap: $35.50 of $50.00" in out
    assert "Demo complete" in out and "sk-or-v1-" not in out
