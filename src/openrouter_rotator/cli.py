"""Command line: ``rotate``, ``status``, ``verify``, ``demo``, ``sandbox``. Parsing and rendering.

Exit codes: 0 success (rotated, or nothing due); 1 the run failed (nothing lost; the message
says what to do); 2 invalid configuration or usage (nothing was sent that changes anything).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, render
from .actions import (
    Actions,
    InertFormatter,
    inert,
    inert_json,
    on_actions,
    report_failure,
    report_result,
    report_verify,
)
from .config import Config, add_options, parse_config
from .errors import ConfigError, RotatorError

if TYPE_CHECKING:
    from .rotation import RunResult

log = logging.getLogger("openrouter_rotator")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _port(text: str) -> int:
    # int() would take digits of any script and thousands of them; a port is 0-65535 in ASCII.
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"invalid port {text[:20]!r}: a number from 0 to 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="openrouter-rotator",
        description="Rotate an OpenRouter API key with zero downtime and keep it sealed in "
        "GitHub Actions secrets.",
        epilog="Secrets come from the environment only: OPENROUTER_MANAGEMENT_KEY, GITHUB_TOKEN, "
        "ROTATOR_ALERT_WEBHOOK_SECRET. Endpoints: OPENROUTER_BASE_URL, GITHUB_API_URL.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    rotate = commands.add_parser(
        "rotate",
        help="rotate if due (or --force), finish or clean "
        "up interrupted work, revoke keys whose time has come",
    )
    add_options(rotate)
    status = commands.add_parser(
        "status", help="show state, next due time and usage; changes nothing"
    )
    add_options(status)
    verify = commands.add_parser(
        "verify",
        help="in a job that reads the secret: check that it holds the active, working key; "
        "a failure holds back every revocation until a verification passes",
    )
    add_options(verify, verify=True)
    commands.add_parser(
        "demo", help="full walk-through against the built-in sandbox, no credentials needed"
    )
    sandbox = commands.add_parser("sandbox", help="serve the local OpenRouter + GitHub stand-ins")
    sandbox.add_argument(
        "--port",
        type=_port,
        default=8799,
        help="port on 127.0.0.1 (default 8799; 0 picks a free one)",
    )
    return parser


def _emit(
    result: RunResult, args: argparse.Namespace, config: Config, out: Any, on_runner: bool
) -> None:
    # On a runner, nothing printed can start a workflow command (a reason, an API's message).
    if config.json:
        text = json.dumps(result.to_json(with_targets=args.command == "rotate"))
        out.write(_shown(text, on_runner, json_line=True) + "\n")
    else:
        text = render.render_text(result, args.command, config.secret_name)
        out.write(_shown(text, on_runner) + "\n")


def run_engine(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    actions = Actions(env)
    management = env.get("OPENROUTER_MANAGEMENT_KEY") or env.get("OPENROUTER_PROVISIONING_KEY")
    for secret in (management, env.get("GITHUB_TOKEN"), env.get("ROTATOR_ALERT_WEBHOOK_SECRET")):
        actions.mask(secret or "")
    config: Config | None = None
    try:
        config = parse_config(vars(args), env)
    except RotatorError as exc:
        report_failure(actions, exc, config, None, args.command)
        raise
    if args.command == "verify":
        return run_verify(config, env, actions)
    # Imported only now: PyGithub (with requests and PyJWT) and httpx take most of the CLI's
    # start-up, and --help, --version and a configuration error need none of them.
    from .rotation import RotationFailed, Rotator

    try:
        with Rotator.from_config(config, on_secret=actions.mask) as rotator:
            try:
                result = rotator.status() if args.command == "status" else rotator.run()
            except RotationFailed as failure:
                _emit(failure.result, args, config, sys.stdout, actions.enabled)
                report_failure(actions, failure, config, failure.result, args.command)
                raise
    except RotationFailed:
        raise
    except RotatorError as exc:
        # On Actions: ::error:: with the fix, and the failure in the job summary.
        report_failure(actions, exc, config, None, args.command)
        raise
    _emit(result, args, config, sys.stdout, actions.enabled)
    report_result(actions, result, config, args.command)
    warning = render.usage_message(result, config)
    if warning and not actions.enabled:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in result.problems:
        print(_shown(f"error: {problem}", actions.enabled), file=sys.stderr)
    return 0 if result.ok else 1


def run_verify(config: Config, env: Mapping[str, str], actions: Actions) -> int:
    from .rotation import Rotator
    from .verify import verify

    plaintext = env.get(config.key_env, "")
    actions.mask(plaintext.strip())
    try:
        with Rotator.from_config(config, on_secret=actions.mask) as rotator:
            result = verify(rotator, plaintext, config.key_env)
    except RotatorError as exc:
        report_failure(actions, exc, config, None, "verify")
        raise
    if config.json:
        print(_shown(json.dumps(result.to_json()), actions.enabled, json_line=True))
    else:
        print(_shown(render.render_verify(result), actions.enabled))
    report_verify(actions, result, config)
    return 0 if result.verified else 1


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    on_runner = on_actions(env)
    handler = logging.StreamHandler(sys.stderr)
    log_format = "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(InertFormatter(log_format) if on_runner else logging.Formatter(log_format))
    logging.basicConfig(
        level=logging.INFO if env.get("ROTATOR_VERBOSE") else logging.WARNING, handlers=[handler]
    )
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo()
        if args.command == "sandbox":
            return serve_sandbox(args.port)
        return run_engine(args, env)
    except ConfigError as exc:
        print(_shown(f"openrouter-rotator: error: {exc}", on_runner), file=sys.stderr)
        return 2
    except RotatorError as exc:
        print(_shown(f"openrouter-rotator: error: {exc}", on_runner), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _shown(text: str, on_runner: bool, json_line: bool = False) -> str:
    if not on_runner:
        return text
    return inert_json(text) if json_line else inert(text)


def _invocation() -> str:
    """How this process was started, so a printed command works when pasted (``.venv/bin/...``)."""
    program = sys.argv[0] if sys.argv else ""
    if os.path.basename(program) == "openrouter-rotator":
        return program
    return f"{sys.executable} -m openrouter_rotator"


def serve_sandbox(port: int) -> int:
    from .sandbox import Sandbox

    if not 0 <= port <= 65535:
        raise ConfigError("--port", port, "a port number from 0 to 65535")
    try:
        box = Sandbox(port=port)
    except OSError as exc:
        raise ConfigError(
            "--port", port, f"cannot listen there ({exc.strerror}); try --port 0"
        ) from None
    # Before the first line: whoever reads the exports may stop it right after.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    env = box.env()
    me = _invocation()
    print("openrouter-rotator sandbox: local OpenRouter and GitHub stand-ins (not real services)")
    print(f"listening on {box.url}  (Ctrl-C stops it)")
    print(f"  OpenRouter: {box.openrouter_url}")
    print(f"  GitHub:     {box.github_url}")
    print(f"  control:    {box.url}/_sandbox/  (docs/webhook.md: trying the webhook)\n")
    print("Point the CLI at it (in another terminal):")
    for name, value in env.items():
        print(f"  export {name}={value}")
    print("  export ROTATOR_GITHUB_WRITE_INTERVAL=0")
    print(f"  {me} rotate --state-repository octo-org/app --target repo:octo-org/app")
    sys.stdout.flush()
    try:
        box.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
