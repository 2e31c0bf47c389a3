"""The workflows in .github/workflows/: the example's contract (SPEC §5) and the self-test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from openrouter_rotator.sandbox.github import EXAMPLE_RUN_NAME

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def action_inputs() -> set[str]:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return set(action["inputs"])


def uses_steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]


def test_example_workflow_follows_the_spec() -> None:
    workflow = load("rotate-openrouter-key.yml")
    # Hourly at an odd minute: one line per UTC hour, so that the gate can tell the hours
    # apart (tests/test_gate.py checks the lines and the gate together).
    lines = [entry["cron"].split() for entry in workflow["on"]["schedule"]]
    assert sorted(int(hour) for _, hour, *_ in lines) == list(range(24)), "hourly"
    assert all(rest == ["*", "*", "*"] for _, _, *rest in lines)
    assert all(int(minute) % 2 == 1 for minute, *_ in lines), "at an odd minute"
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert {name: spec["type"] for name, spec in inputs.items()} == {
        "force": "boolean",
        "reason": "string",
        "emergency": "boolean",
        "request-id": "string",
    }
    # The webhook settles a lost dispatch answer by finding the run's title; the sandbox titles
    # its runs with the same template.
    assert "${{ inputs.request-id }}" in workflow["run-name"]
    assert workflow["run-name"] == EXAMPLE_RUN_NAME
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job = workflow["jobs"]["rotate"]
    assert job["timeout-minutes"] <= 30
    (rotate,) = [s for s in job["steps"] if s["uses"] == "./"]
    given = rotate["with"]
    assert given["management-key"] == "${{ secrets.OPENROUTER_MANAGEMENT_KEY }}"
    assert given["github-token"].startswith("${{ secrets.")
    assert given["revoke-after"] == "${{ inputs.emergency && '0' || '6h' }}"
    assert "inputs.force" in given["force"] and "inputs.emergency" in given["force"]


def test_example_workflow_verifies_after_a_rotation_as_consumers_read() -> None:
    workflow = load("rotate-openrouter-key.yml")
    rotate, verify = workflow["jobs"]["rotate"], workflow["jobs"]["verify"]
    assert rotate["outputs"]["rotated"] == "${{ steps.rotate.outputs.rotated }}"
    assert verify["needs"] == "rotate"
    assert verify["if"] == "needs.rotate.outputs.rotated == 'true'"  # skipped jobs are not billed
    (step,) = [s for s in verify["steps"] if s["uses"] == "./"]
    given = step["with"]
    assert given["mode"] == "verify"
    # The secret reaches the job the way it reaches consumers: a secrets context in env:.
    name = given["secret-name"]
    assert verify["env"][given["key-env"]] == f"${{{{ secrets.{name} }}}}"
    assert given["management-key"] == rotate["steps"][1]["with"]["management-key"]


def test_workflows_use_only_real_inputs_and_pinned_actions() -> None:
    known = action_inputs()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for step in uses_steps(load(path.name)):
            if step["uses"] == "./":
                assert set(step.get("with", {})) <= known, (path.name, step)
            else:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_selftest_has_an_expected_failure_job() -> None:
    workflow = load("action-selftest.yml")
    job = workflow["jobs"]["expected-failure"]
    (bad,) = [s for s in job["steps"] if s.get("uses") == "./"]
    assert bad["continue-on-error"] is True
    assert any("steps.bad.outcome" in str(s.get("env", {})) for s in job["steps"])


def test_ci_runs_what_ci_run_runs() -> None:
    workflow = load("ci.yml")
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert ".ci/run" in runs


def test_docs_list_every_input_and_output() -> None:
    text = (ROOT / "docs" / "action.md").read_text(encoding="utf-8")
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in text, name


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_docs_resolve() -> None:
    pages = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), (page.name, target)
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, (page.name, target)


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # The whole suite: the command after the install, in the README's "Try it" block.
    (command,) = re.findall(r"&& (\.venv/bin/python -m pytest [^\n`]*)", readme)
    assert f"\n{command.strip()}\n" in ci
