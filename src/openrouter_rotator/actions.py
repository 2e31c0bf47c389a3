"""GitHub Actions I/O: masks, log commands, outputs and the job summary, in one place.

Only active when ``GITHUB_ACTIONS=true``: anywhere else an ``::add-mask::`` line would itself
print the secret. Escaping follows the official toolkit (``@actions/core``: ``escapeData`` and
``escapeProperty``), outputs use a random heredoc delimiter as ``core.setOutput`` does.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from . import render

if TYPE_CHECKING:  # the engine never imports this module; types only
    from .config import Config
    from .rotation import RunResult
    from .verify import VerifyResult


def on_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the runner splits output on all three


def inert(text: str) -> str:
    """Text printed on a runner (a result, an error, a log line) made unable to start a workflow
    command, whatever part of it came from input or from a remote service.

    The runner takes a line as a command when it starts with ``::`` once leading spaces are
    trimmed, and still honours the legacy ``##[command]`` form anywhere in a line; our own
    commands go out through :class:`Actions`, never through this.
    """
    lines = []
    for line in _LINE_BREAK.split(text):
        if line.lstrip().startswith("::"):
            line = "> " + line
        lines.append(line.replace("##[", "# #["))
    return "\n".join(lines)


def inert_json(text: str) -> str:
    """One JSON line made inert with the same value: ``#`` written as its JSON escape."""
    return text.replace("##[", "#\\u0023[")


class InertFormatter(logging.Formatter):
    """Log lines on a runner: an API's message with a line break cannot start a command."""

    def format(self, record: logging.LogRecord) -> str:
        return inert(super().format(record))


class Actions:
    """Writes workflow commands to ``stream`` and files named by the runner's variables."""

    def __init__(self, env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
        self.env = os.environ if env is None else env
        self.stream = stream or sys.stdout
        self.enabled = on_actions(self.env)

    def _command(self, name: str, message: str, **props: str) -> None:
        if not self.enabled:
            return
        shown = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
        head = f"::{name} {shown}::" if shown else f"::{name}::"
        self.stream.write(head + escape_data(message) + "\n")
        self.stream.flush()

    def mask(self, value: str) -> None:
        if value:
            self._command("add-mask", value)

    def warning(self, message: str, title: str | None = None) -> None:
        self._command("warning", message, **({"title": title} if title else {}))

    def error(self, message: str, title: str | None = None) -> None:
        self._command("error", message, **({"title": title} if title else {}))

    def set_output(self, name: str, value: str) -> None:
        path = self.env.get("GITHUB_OUTPUT")
        if not self.enabled or not path:
            return
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter in value or delimiter in name:  # pragma: no cover - 128 random bits
            raise ValueError("output collides with its delimiter")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def summary(self, markdown: str) -> None:
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not self.enabled or not path:
            return
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n")


# -- reporting a run: outputs, annotations and the job summary ---------------------------------
# What is written is rendered in render.py; these only decide where it goes.


def report_result(
    actions: Actions, result: RunResult, config: Config, command: str = "rotate"
) -> None:
    """Outputs, job summary and annotations for a run that completed (ok or with problems)."""
    if not actions.enabled:
        return
    for name, value in render.outputs_of(result).items():
        actions.set_output(name, value)
    warning = render.usage_message(result, config)
    if warning:
        actions.warning(warning, title=render.USAGE_TITLE)
    for problem in result.problems:
        actions.error(problem, title=render.FAILURE_TITLE)
    actions.summary(render.render_summary(result, config, command))


def report_failure(
    actions: Actions,
    error: BaseException,
    config: Config | None = None,
    result: RunResult | None = None,
    command: str = "rotate",
) -> None:
    """``::error::`` with the fix, and the failure (plus what stands, if known) in the summary."""
    if not actions.enabled:
        return
    message = render.failure_message(error)
    actions.error(message, title=render.FAILURE_TITLE)
    if result is not None:
        for name, value in render.outputs_of(result).items():
            actions.set_output(name, value)
    actions.summary(render.render_summary(result, config, command, failure=message))


def report_verify(actions: Actions, result: VerifyResult, config: Config) -> None:
    """Outputs, ``::error::`` with the likely cause and the fix, and the summary of a verify."""
    if not actions.enabled:
        return
    actions.set_output("verified", "true" if result.verified else "false")
    actions.set_output("key-hash", result.active_key_hash or "")
    failure = render.verify_failure(result, config)
    if failure:
        actions.error(failure, title=render.VERIFY_TITLE)
    actions.summary(render.verify_summary(result, config))
