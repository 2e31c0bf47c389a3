"""action.yml run the way the runner runs a composite action, against the sandbox.

The harness below parses action.yml, evaluates each step's ``env:`` (only the few expression
forms the action uses; anything else fails loudly), writes each ``run:`` to a file and runs it
with ``bash --noprofile --norc -eo pipefail {0}`` as the runner does for ``shell: bash``, with
fresh GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files per step, then resolves the action's outputs
from the steps' outputs. The first action run of the test session really builds the virtualenv
(the setup step's hash-locked ``pip install``); every later run, in any xdist worker, reuses it
the way a second use of the action in one job does (one RUNNER_TEMP for the session).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker, default_environment
from packaging.utils import canonicalize_name

from openrouter_rotator.config import ENV_NAMES, parse_config
from openrouter_rotator.sandbox import Sandbox

from .engine import KEY_NAME, STATE_REPO, TARGETS, target_values
from .test_lock import LOCK, read_lock

ROOT = Path(__file__).resolve().parent.parent
ACTION_YML = ROOT / "action.yml"

SPEC_INPUTS = [
    "mode",
    "key-env",
    "management-key",
    "github-token",
    "secret-name",
    "targets",
    "key-name",
    "limit",
    "limit-reset",
    "include-byok-in-limit",
    "spend-carry-over",
    "expires-after",
    "auto-rotation",
    "rotation-interval-days",
    "rotate-at",
    "timezone",
    "revoke-after",
    "state-repository",
    "state-variable",
    "force",
    "dry-run",
    "reason",
    "usage-alert-threshold",
    "alert-webhook-url",
    "alert-webhook-secret",
    "openrouter-base-url",
]
SPEC_OUTPUTS = [
    "rotated",
    "key-hash",
    "previous-key-hash",
    "next-rotation-at",
    "usage-percent",
    "verified",
]

# Variables the engine reads besides ROTATOR_<OPTION>: secrets and endpoints (SPEC §4).
ENGINE_ENV = set(ENV_NAMES.values()) | {
    "OPENROUTER_MANAGEMENT_KEY",
    "GITHUB_TOKEN",
    "ROTATOR_ALERT_WEBHOOK_SECRET",
    "OPENROUTER_BASE_URL",
    "ROTATOR_MODE",  # read by the action's step itself: the command it runs
}


def locked_names_here() -> set[str]:
    """The lock's packages whose markers hold for this interpreter."""
    env = default_environment()
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    return {pin.name for pin in pins if pin.marker is None or Marker(pin.marker).evaluate(env)}


def load_action() -> dict[str, Any]:
    with ACTION_YML.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict)
    return data


# -- a tiny runner ---------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STEP_KEYS = {"name", "id", "shell", "env", "run"}


class UnsupportedExpression(Exception):
    pass


@dataclass
class Context:
    inputs: dict[str, str]
    github: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)


def evaluate(value: object, ctx: Context) -> str:
    """``${{ inputs.x }}``, ``${{ github.action_path }}`` and ``${{ steps.s.outputs.o }}``,
    each as the whole value; plain strings as they are. Anything else is an error."""
    text = "" if value is None else str(value)
    if "${{" not in text:
        return text
    match = re.fullmatch(r"\$\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}", text.strip())
    if not match:
        raise UnsupportedExpression(text)
    parts = match.group(1).split(".")
    if parts[0] == "inputs" and len(parts) == 2:
        if parts[1] not in ctx.inputs:
            raise UnsupportedExpression(f"undeclared input in {text}")
        return ctx.inputs[parts[1]]
    if parts[0] == "github" and len(parts) == 2 and parts[1] in ctx.github:
        return ctx.github[parts[1]]
    if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
        return ctx.steps.get(parts[1], {}).get(parts[3], "")
    raise UnsupportedExpression(text)


def parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: ``name=value`` or ``name<<DELIM`` ... ``DELIM``."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1 :]
            continue
        if heredoc <= 0:
            raise ValueError(f"malformed output line {line!r}")
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        while True:
            if index >= len(lines):
                raise ValueError(f"output {name}: delimiter {delimiter!r} never closes")
            if lines[index] == delimiter:
                index += 1
                break
            body.append(lines[index])
            index += 1
        values[name] = "\n".join(body)
    return values


@dataclass
class ActionRun:
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    steps: dict[str, dict[str, str]]
    durations: dict[str, float]
    github_env: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def commands(self, name: str) -> list[str]:
        prefix = f"::{name}"
        return [line for line in self.log.splitlines() if line.startswith(prefix)]


def run_action(
    inputs: Mapping[str, str],
    runner_env: Mapping[str, str],
    work: Path,
    caller_env: Mapping[str, str] | None = None,
) -> ActionRun:
    """Run action.yml's steps like the runner: caller_env is the ``env:`` of the ``uses:``."""
    action = load_action()
    declared = action["inputs"]
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ValueError(f"not inputs of action.yml: {sorted(unknown)}")
    ctx = Context(
        inputs={
            name: str(inputs[name]) if name in inputs else str(spec.get("default", ""))
            for name, spec in declared.items()
        },
        github={
            "action_path": str(ROOT),
            "repository": runner_env["GITHUB_REPOSITORY"],
            "api_url": runner_env["GITHUB_API_URL"],
        },
    )
    work.mkdir(parents=True, exist_ok=True)
    workspace = work / "workspace"
    workspace.mkdir(exist_ok=True)
    github_env = work / "github_env"
    github_path = work / "github_path"
    for path in (github_env, github_path):
        path.touch()
    stdout, stderr, summary = [], [], []
    durations: dict[str, float] = {}
    exit_code = 0
    for number, step in enumerate(action["runs"]["steps"]):
        if set(step) - STEP_KEYS:
            raise UnsupportedExpression(f"step keys the harness does not run: {set(step)}")
        if step.get("shell") != "bash":
            raise UnsupportedExpression(f"shell {step.get('shell')!r}")
        script = step["run"]
        if "${{" in script:
            raise UnsupportedExpression("an expression inside run:")
        output_file = work / f"output_{number}"
        summary_file = work / f"summary_{number}"
        output_file.write_text("")
        summary_file.write_text("")
        script_file = work / f"step_{number}.sh"
        script_file.write_text(script)
        env = dict(runner_env)
        env.update(caller_env or {})
        env.update({k: evaluate(v, ctx) for k, v in (step.get("env") or {}).items()})
        env.update(
            {
                # Set by the runner for every step; a step's env: cannot override these.
                "GITHUB_ACTION_PATH": str(ROOT),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(summary_file),
                "GITHUB_ENV": str(github_env),
                "GITHUB_PATH": str(github_path),
                "GITHUB_WORKSPACE": str(workspace),
            }
        )
        env.update({k: v for k, v in runner_env.items() if k.startswith(("GITHUB_", "RUNNER_"))})
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            env=env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        durations[step.get("id", str(number))] = time.monotonic() - started
        stdout.append(done.stdout)
        stderr.append(done.stderr)
        summary.append(summary_file.read_text())
        if "id" in step:
            ctx.steps[step["id"]] = parse_output_file(output_file.read_text())
        if done.returncode != 0:
            exit_code = done.returncode
            break  # no step of the action has if: always()
    outputs = {name: evaluate(spec["value"], ctx) for name, spec in action["outputs"].items()}
    return ActionRun(
        exit_code,
        "".join(stdout),
        "".join(stderr),
        outputs,
        "".join(summary),
        ctx.steps,
        durations,
        github_env.read_text(),
    )


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUNNER_TEMP shared by the test session, across xdist workers: the session's first action
    run builds the venv (a real pip install, tens of seconds), later runs reuse it."""
    base = tmp_path_factory.getbasetemp()
    # An xdist worker's base is <session>/popen-gwN: the session directory is its parent.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = shared / "runner-temp"
    path.mkdir(exist_ok=True)
    return path


def venv_ready(runner_temp: Path) -> bool:
    return any(runner_temp.glob("openrouter-rotator-*/.ready"))


@pytest.fixture
def runner(sandbox: Sandbox, runner_temp: Path, tmp_path: Path) -> Iterator[Any]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "ROTATOR_", "OPENROUTER_", "PYTHON", "PIP_"))
        and k not in {"VIRTUAL_ENV", "CI"}
    }
    # As actions/setup-python would: a Python >= 3.10 first on PATH.
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    base.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": STATE_REPO,
            "GITHUB_API_URL": sandbox.github_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_EVENT_NAME": "schedule",
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_OS": "Linux",
            # The venv runs src/ from this checkout: its bytecode goes to the temp directory.
            "PYTHONPYCACHEPREFIX": str(runner_temp / "pycache"),
        }
    )
    counter = iter(range(100))

    def run(
        runner_env: Mapping[str, str] | None = None,
        caller_env: Mapping[str, str] | None = None,
        **inputs: str,
    ) -> ActionRun:
        given = {
            "management-key": sandbox.management_key,
            "github-token": sandbox.github.admin_token,
            "openrouter-base-url": sandbox.openrouter_url,
            "targets": "\n".join(TARGETS),
            "key-name": KEY_NAME,
        }
        given.update({k.replace("_", "-"): v for k, v in inputs.items()})
        env = {**base, **(runner_env or {})}
        caller = {"ROTATOR_GITHUB_WRITE_INTERVAL": "0", **(caller_env or {})}
        work = tmp_path / f"run{next(counter)}"
        if venv_ready(runner_temp):
            return run_action(given, env, work, caller)
        # Until the venv is built, one run at a time across the workers: the first builds it
        # (setup.bash is not written for two concurrent builds of one venv; a job never does that).
        with (runner_temp / "building.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return run_action(given, env, work, caller)

    yield run


def secrets_of(box: Sandbox) -> list[str]:
    keys = [v for v in target_values(box).values() if v]
    return sorted(set(keys)) + [box.management_key, box.github.admin_token]


def assert_masked(run: ActionRun, secrets: list[str]) -> None:
    """Each secret is masked before it appears, and appears nowhere but in its mask."""
    everything = run.log + run.summary + json.dumps(run.outputs) + run.github_env
    for secret in secrets:
        mask = f"::add-mask::{secret}"
        if secret not in everything:
            continue
        assert mask in run.stdout, "a secret that appears was not masked"
        first_mask = run.stdout.index(mask)
        assert run.stdout.index(secret) == first_mask + len("::add-mask::")
        assert secret not in everything.replace(mask, ""), "a secret appears outside its mask"


# -- action.yml, statically ------------------------------------------------------------------


def test_inputs_and_outputs_are_exactly_the_spec() -> None:
    action = load_action()
    assert list(action["inputs"]) == SPEC_INPUTS
    for name, spec in action["inputs"].items():
        assert spec.get("description", "").strip(), name
        assert isinstance(spec.get("default"), str), f"{name}: default must be a string"
    assert list(action["outputs"]) == SPEC_OUTPUTS
    for name, spec in action["outputs"].items():
        assert spec.get("description", "").strip(), name
        assert spec["value"] == f"${{{{ steps.rotate.outputs.{name} }}}}"
    assert action["runs"]["using"] == "composite"
    assert set(action["branding"]) == {"icon", "color"}


def test_every_input_reaches_the_engine_through_env_only() -> None:
    action = load_action()
    seen: dict[str, str] = {}
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], "an expression inside run: is a script injection"
        for variable, value in (step.get("env") or {}).items():
            match = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", str(value))
            if match:
                assert match.group(1) not in seen, f"{match.group(1)} mapped twice"
                seen[match.group(1)] = variable
    assert set(seen) == set(SPEC_INPUTS)
    for name, variable in seen.items():
        assert variable in ENGINE_ENV, f"{name} -> {variable}, which the engine does not read"
    assert seen["rotation-interval-days"] == "ROTATOR_INTERVAL_DAYS"
    assert seen["management-key"] == "OPENROUTER_MANAGEMENT_KEY"
    assert seen["github-token"] == "GITHUB_TOKEN"


def test_input_defaults_are_the_engine_defaults() -> None:
    action = load_action()
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "rotate")
    by_input = {
        m.group(1): variable
        for variable, value in step["env"].items()
        if (m := re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", str(value)))
    }
    base = {
        "GITHUB_REPOSITORY": STATE_REPO,
        "OPENROUTER_MANAGEMENT_KEY": "m",
        "GITHUB_TOKEN": "t",
    }
    with_defaults = dict(base)
    for name, spec in action["inputs"].items():
        if name not in ("management-key", "github-token"):
            with_defaults[by_input[name]] = spec["default"]
    assert parse_config({}, with_defaults) == parse_config({}, base)


def test_the_harness_refuses_expressions_it_does_not_know() -> None:
    ctx = Context(inputs={"a": "1"}, github={"action_path": "/x"})
    assert evaluate("${{ inputs.a }}", ctx) == "1"
    assert evaluate("plain", ctx) == "plain"
    for text in ("${{ inputs.b }}", "${{ secrets.X }}", "x-${{ inputs.a }}", "${{ a || b }}"):
        with pytest.raises(UnsupportedExpression):
            evaluate(text, ctx)


def test_output_file_parser_reads_both_forms() -> None:
    text = "a=1\nb<<EOF_x\nline 1\nline=2\nEOF_x\nc=\n"
    assert parse_output_file(text) == {"a": "1", "b": "line 1\nline=2", "c": ""}


# -- action.yml, run ---------------------------------------------------------------------------


def test_first_run_builds_its_venv_rotates_and_reports(
    runner: Any, sandbox: Sandbox, runner_temp: Path
) -> None:
    run = runner()
    assert run.exit_code == 0, run.log
    # The real setup: a venv under RUNNER_TEMP with the runtime dependencies only.
    python = Path(run.steps["setup"]["python"])
    assert python.is_relative_to(runner_temp)
    # The fast path leaves no pip in the venv: ask the interpreter what is installed.
    listing = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"  # noqa: E501
    # From elsewhere than the checkout, whose egg-info `-c` would otherwise see in the cwd.
    installed = subprocess.run(
        [str(python), "-c", listing], capture_output=True, text=True, check=True, cwd=runner_temp
    )
    # Exactly the lock's packages for this interpreter (markers applied), nothing resolved.
    names = {canonicalize_name(name) for name in json.loads(installed.stdout)}
    assert names == locked_names_here()
    assert {"pygithub", "pynacl", "httpx"} <= names
    assert not names & {"flask", "gunicorn", "redis", "pytest", "openrouter-rotator"}
    # The engine is this checkout's code, put on the venv's path rather than built.
    where = subprocess.run(
        [str(python), "-c", "import openrouter_rotator; print(openrouter_rotator.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(ROOT / "src")
    print(f"\nsetup step: {run.durations['setup']:.1f}s")

    assert run.outputs["rotated"] == "true"
    assert re.fullmatch(r"[0-9a-f]{64}", run.outputs["key-hash"])
    assert run.outputs["previous-key-hash"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run.outputs["next-rotation-at"])
    assert run.outputs["usage-percent"] == ""  # no limit: no percentage

    assert "## OpenRouter key rotation: `OPENROUTER_API_KEY`" in run.summary
    assert "**Rotated**" in run.summary
    assert "| Target | Status | Detail |" in run.summary
    for target in TARGETS:
        assert f"| `{target}` | :white_check_mark: updated |" in run.summary
    assert "| Next rotation |" in run.summary
    assert "The active key has no spending limit." in run.summary
    mermaid = run.summary.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert mermaid.startswith("gantt\n")
    assert f"key {run.outputs['key-hash'][:12]} :active," in mermaid
    assert "next rotation :milestone," in mermaid

    assert run.commands("error") == [] and run.commands("warning") == []
    # The credentials are masked as the engine starts, the new key the moment it exists.
    first_lines = run.stdout.splitlines()[:2]
    assert first_lines == [
        f"::add-mask::{sandbox.management_key}",
        f"::add-mask::{sandbox.github.admin_token}",
    ]
    (key,) = {v for v in target_values(sandbox).values() if v}
    assert f"::add-mask::{key}" in run.stdout
    assert_masked(run, secrets_of(sandbox))
    assert run.github_env == ""  # the action leaks nothing into later steps' environment


def test_setup_refuses_a_package_whose_hash_is_not_in_the_lock(tmp_path: Path) -> None:
    """--require-hashes is real: one altered hash in the lock and the setup installs nothing.

    The lock's first unconditional package is the one altered: pip stops at the first file whose
    hash does not match, so this fails after one download instead of a dozen."""
    action = tmp_path / "action"
    (action / "setup").mkdir(parents=True)
    (action / "src").symlink_to(ROOT / "src")
    script = action / "setup" / "setup.bash"
    script.write_text((ROOT / "setup" / "setup.bash").read_text())
    lock = LOCK.read_text(encoding="utf-8")
    first = next(pin for pin in read_lock(lock) if pin.marker is None)
    for digest in first.hashes:
        lock = lock.replace(digest, "sha256:" + "0" * 64)
    (action / "setup" / "requirements.txt").write_text(lock)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    output = tmp_path / "output"
    output.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_REQUIRE", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        ROTATOR_ACTION_PATH=str(action), RUNNER_TEMP=str(runner_temp), GITHUB_OUTPUT=str(output)
    )
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode != 0
    assert "hash" in done.stderr.lower() and first.name in done.stderr.lower(), done.stderr
    assert "::error title=openrouter-rotator setup::pip could not install" in done.stdout
    assert output.read_text() == ""
    assert not list(runner_temp.glob("*/.ready"))


def test_second_run_reuses_the_venv_and_is_not_due(runner: Any, runner_temp: Path) -> None:
    first = runner()
    assert first.exit_code == 0, first.log
    ready = next(runner_temp.glob("openrouter-rotator-*/.ready"))
    stamp = ready.stat().st_mtime_ns
    second = runner()
    assert second.exit_code == 0, second.log
    assert ready.stat().st_mtime_ns == stamp
    assert second.outputs["rotated"] == "false"
    assert second.outputs["key-hash"] == first.outputs["key-hash"]
    assert second.outputs["next-rotation-at"] == first.outputs["next-rotation-at"]
    assert "**No rotation**: not due" in second.summary
    assert "| `repo:octo-org/app` | unchanged |" in second.summary


def test_emergency_rotation_revokes_at_once_and_escapes_the_reason(
    runner: Any, sandbox: Sandbox
) -> None:
    first = runner()
    assert first.exit_code == 0, first.log
    second = runner(force="true", revoke_after="0", reason="<img src=x> | leaked `key`")
    assert second.exit_code == 0, second.log
    assert second.outputs["rotated"] == "true"
    assert second.outputs["previous-key-hash"] == first.outputs["key-hash"]
    assert f"| Revoked | `{first.outputs['key-hash'][:12]}` |" in second.summary
    assert "<img" not in second.summary and "&lt;img src=x&gt; \\| leaked" in second.summary
    assert_masked(second, secrets_of(sandbox))


def test_usage_at_threshold_warns_and_reports_percent(runner: Any, sandbox: Sandbox) -> None:
    first = runner(limit="10", limit_reset="monthly")
    assert first.exit_code == 0, first.log
    assert first.outputs["usage-percent"] == "0"
    sandbox.openrouter.set_usage(first.outputs["key-hash"], usage_monthly=9, usage=9)
    second = runner(limit="10", limit_reset="monthly")
    assert second.exit_code == 0, second.log
    assert second.outputs["usage-percent"] == "90"
    assert second.commands("warning") == [
        "::warning title=OpenRouter key usage::OPENROUTER_API_KEY: the active key has used 90%25"
        " of its limit (threshold 80%25)"  # escaped as @actions/core escapeData does
    ]
    assert "| $10.00 | $1.00 | 90% | 80% |" in second.summary
    assert "at or over the alert threshold" in second.summary
    quiet = runner(limit="10", limit_reset="monthly", usage_alert_threshold="95")
    assert quiet.commands("warning") == []


@pytest.mark.parametrize(
    ("inputs", "names"),
    [
        ({"rotation_interval_days": "0"}, "`rotation-interval-days`"),
        ({"timezone": "Moon/Base"}, "`timezone`"),
        ({"limit_reset": "daily"}, "`limit-reset`"),
        ({"force": "maybe"}, "`force`"),
        ({"targets": "repo:nope"}, "`targets`"),
        ({"alert_webhook_url": "https://hooks.example/x"}, "alert-webhook-secret: ${{ secrets."),
        ({"github_token": ""}, "github-token: ${{ secrets.ROTATOR_GITHUB_TOKEN }}"),
    ],
)
def test_bad_input_fails_with_the_fix_and_sends_nothing(
    runner: Any, sandbox: Sandbox, inputs: dict[str, str], names: str
) -> None:
    sandbox.reset_requests()
    run = runner(**inputs)
    assert run.exit_code == 2, run.log
    errors = run.commands("error")
    assert len(errors) == 1 and errors[0].startswith(
        "::error title=OpenRouter key rotation failed::"
    )
    message = errors[0].split("::", 2)[2].replace("%0A", "\n")
    assert names in message
    assert "### :x: Failed" in run.summary and names in run.summary
    assert "Traceback" not in run.log
    assert run.outputs == dict.fromkeys(SPEC_OUTPUTS, "")
    assert sandbox.requests() == []


def test_token_that_cannot_write_secrets_fails_with_the_fix(runner: Any, sandbox: Sandbox) -> None:
    run = runner(github_token=sandbox.github.readonly_token)
    assert run.exit_code == 1, run.log
    (error,) = run.commands("error")
    assert "fine-grained PAT" in error and "create-github-app-token" in error
    assert "### :x: Failed" in run.summary
    assert sandbox.openrouter.live_keys() == []
    assert_masked(run, [sandbox.github.readonly_token, sandbox.management_key])


def test_failed_target_shows_in_the_table_and_outputs(runner: Any, sandbox: Sandbox) -> None:
    first = runner()
    assert first.exit_code == 0, first.log
    sandbox.fault(
        r"/github/orgs/octo-org/actions/secrets/OPENROUTER_API_KEY$",
        method="PUT",
        status=422,  # not retried: keeps the test quick
        times=10,
    )
    run = runner(force="true")
    assert run.exit_code == 1, run.log
    assert "| `org:octo-org` | :x: failed |" in run.summary
    assert run.outputs["rotated"] == "false"
    assert run.outputs["key-hash"] == first.outputs["key-hash"]
    assert len(run.commands("error")) == 1
    assert_masked(run, secrets_of(sandbox))


def test_github_api_url_from_the_callers_environment(runner: Any, sandbox: Sandbox) -> None:
    """The runner's GITHUB_API_URL cannot be overridden by env:; the self-test workflow points
    the action at the sandbox with ROTATOR_GITHUB_API_URL instead."""
    run = runner(
        runner_env={"GITHUB_API_URL": "http://127.0.0.1:9/unreachable"},
        caller_env={"ROTATOR_GITHUB_API_URL": sandbox.github_url},
        dry_run="true",
    )
    assert run.exit_code == 0, run.log
    assert "**Dry run**" in run.summary
    assert run.outputs["rotated"] == "false"


# -- mode: verify ------------------------------------------------------------------------------


def test_verify_mode_proves_the_secret_a_job_reads(runner: Any, sandbox: Sandbox) -> None:
    rotated = runner()
    assert rotated.exit_code == 0, rotated.log
    # The job reads the environment secret the way its consumers do: through env:.
    key = target_values(sandbox)["env:octo-org/app/production"]
    assert key is not None
    run = runner(mode="verify", caller_env={"OPENROUTER_API_KEY": key})
    assert run.exit_code == 0, run.log
    assert run.outputs["verified"] == "true"
    assert run.outputs["key-hash"] == rotated.outputs["key-hash"]
    assert run.outputs["rotated"] == ""
    assert "**Verified**" in run.summary and "| Revocations | not held |" in run.summary
    assert run.commands("error") == []
    assert_masked(run, [key, sandbox.management_key, sandbox.github.admin_token])


def test_verify_mode_fails_with_the_cause_and_holds_revocations(
    runner: Any, sandbox: Sandbox
) -> None:
    first = runner()
    stale = target_values(sandbox)["repo:octo-org/app"]
    assert stale is not None
    second = runner(force="true")
    assert second.exit_code == 0, second.log
    run = runner(mode="verify", key_env="APP_KEY", caller_env={"APP_KEY": stale})
    assert run.exit_code == 1, run.log
    assert run.outputs["verified"] == "false"
    (error,) = run.commands("error")
    assert error.startswith(
        "::error title=OpenRouter key verification failed::APP_KEY holds the previous key "
        f"{first.outputs['key-hash'][:12]}, not the active key {second.outputs['key-hash'][:12]}"
    )
    assert "another secret name. Every revocation is held until a verification passes" in error
    assert "**Not verified**" in run.summary and "| Revocations | held |" in run.summary
    assert_masked(run, [stale, sandbox.management_key, sandbox.github.admin_token])
    # An emergency run now keeps the key the consumers still hold.
    emergency = runner(force="true", revoke_after="0")
    assert emergency.exit_code == 0, emergency.log
    assert "| Revoked |" not in emergency.summary
    assert sandbox.openrouter.works(stale)


def test_an_unknown_mode_is_refused_before_anything_runs(runner: Any, sandbox: Sandbox) -> None:
    sandbox.reset_requests()
    run = runner(mode="rotat")
    assert run.exit_code == 2, run.log
    (error,) = run.commands("error")
    assert "invalid mode 'rotat': rotate or verify" in error and "`mode`" in error
    assert sandbox.requests() == []


def test_the_summary_shows_the_cap_a_rotation_carried_over(runner: Any, sandbox: Sandbox) -> None:
    first = runner(limit="100", limit_reset="monthly")
    assert first.exit_code == 0, first.log
    sandbox.openrouter.spend(first.outputs["key-hash"], 25)
    second = runner(limit="100", limit_reset="monthly", force="true")
    assert second.exit_code == 0, second.log
    assert re.search(
        r"\| Spending cap \(carry-over\) \| \$75\.00 of \$100\.00 \(older keys of this rotation "
        r"spent \$25\.00 this month\); \$100\.00 again from \d{4}-\d\d-01T00:00:00Z \|",
        second.summary,
    ), second.summary
    off = runner(limit="100", limit_reset="monthly", force="true", spend_carry_over="false")
    assert off.exit_code == 0, off.log
    assert "Spending cap" not in off.summary
