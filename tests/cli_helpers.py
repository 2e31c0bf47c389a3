"""Run the real CLI as a subprocess against a sandbox served by the test process."""

from __future__ import annotations

import os
import subprocess
import sys

from openrouter_rotator.sandbox import Sandbox

from .engine import KEY_NAME, STATE_REPO, TARGETS


def cli_env(box: Sandbox, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROTATOR_", "GITHUB_"))}
    env.update(box.env())
    env.update(
        {
            "GITHUB_REPOSITORY": STATE_REPO,
            "ROTATOR_GITHUB_WRITE_INTERVAL": "0",
            "ROTATOR_RETRY_SCALE": "0",  # retried as in production, without the waits
            "ROTATOR_TARGETS": "\n".join(TARGETS),
            "ROTATOR_KEY_NAME": KEY_NAME,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "openrouter_rotator", *args]


def run_cli(
    box: Sandbox, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        env=cli_env(box, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(box: Sandbox, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        env=cli_env(box, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
