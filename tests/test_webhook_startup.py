"""The webhook refuses a bad configuration the way the CLI does: gunicorn's master checks it
before forking any worker, says what to fix in one line, and exits with code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from .gunicorn_server import Gunicorn
from .webhook_fixtures import SECRET_ENV, config_doc, toml_text


def refused(home: Path, doc: dict[str, object], env: dict[str, str]) -> list[str]:
    server = Gunicorn(
        home, toml_text(doc), {"ROTATOR_GITHUB_TOKEN": "ghp_unused", **env}, wait=False
    )
    try:
        assert server.process.wait(timeout=60) == 2
    finally:
        server.sock.close()
        server.client.close()
    log = server.log.read_text(encoding="utf-8")
    assert "Traceback" not in log and "Booting worker" not in log
    return [line for line in log.splitlines() if "error:" in line]


def test_a_missing_secret_is_one_line_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRET_ENV.items() if k != "ROTATOR_SLACK_SIGNING_SECRET"}
    (line,) = refused(tmp_path, config_doc(), env)
    assert line.startswith(
        "openrouter-rotator webhook: error: invalid ROTATOR_SLACK_SIGNING_SECRET"
    )
    assert "leave 'slack' out" in line


@pytest.mark.parametrize("setting", ["cooldwn", "min_permision"])
def test_a_typo_in_the_file_is_one_line_naming_the_setting(tmp_path: Path, setting: str) -> None:
    (line,) = refused(tmp_path, config_doc(**{setting: "10m"}), SECRET_ENV)
    assert f"invalid rotations.openrouter.{setting}: unknown setting" in line
