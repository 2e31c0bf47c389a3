"""``openrouter-rotator demo``: the whole product against the built-in sandbox, in a terminal.

No credentials, no network: the sandbox serves OpenRouter and GitHub stand-ins on loopback and
the real engine runs against them. A simulated clock moves time forward, so the walk-through
shows a grace period ending without waiting six hours.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import TYPE_CHECKING

from .config import parse_config
from .render import render_text, render_verify
from .rotation import Rotator, RunResult
from .sandbox import FakeClock, Sandbox
from .verify import VerifyResult, verify

if TYPE_CHECKING:
    from .config import Config

TARGETS = (
    "repo:octo-org/app",
    "env:octo-org/app/production",
    "org:octo-org?visibility=selected&repositories=app,api",
    "dependabot:octo-org/app",
)


def _bold(text: str) -> str:
    return f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text


def _step(number: int, title: str) -> None:
    print(f"\n{_bold(f'{number}. {title}')}")


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def run_demo() -> int:
    started = time.monotonic()
    clock = FakeClock()
    with Sandbox() as box:
        env = {
            **box.env(),
            "GITHUB_REPOSITORY": "octo-org/app",
            "ROTATOR_GITHUB_WRITE_INTERVAL": "0",  # a local sandbox needs no pacing
        }
        print(f"Sandbox (local OpenRouter + GitHub stand-ins) at {box.url}")
        print("Targets: " + ", ".join(TARGETS))
        print(
            "Settings: every 30 days at 03:00 Europe/London, limit $50 a month, previous key "
            "revoked 6h after a rotation; the clock below is simulated"
        )
        box.openrouter.clock = clock  # usage windows follow the simulated clock too

        def config(*argv: str) -> Config:
            args: dict[str, object] = {
                "targets": list(TARGETS),
                "key_name": "octo-org/app production",
                "rotate_at": "03:00",
                "timezone": "Europe/London",
                "interval_days": "30",
                "limit": "50",
                "limit_reset": "monthly",
            }
            for item in argv:
                name, _, value = item.partition("=")
                args[name] = value if value else True
            return parse_config(args, env)

        def run(*argv: str) -> RunResult:
            with Rotator.from_config(config(*argv), now=clock) as rotator:
                return rotator.run()

        def check(plaintext: str) -> VerifyResult:
            """``verify`` as a job that reads the secret runs it."""
            with Rotator.from_config(config(), now=clock) as rotator:
                return verify(rotator, plaintext, "OPENROUTER_API_KEY")

        _step(1, "First run: no key recorded yet, so one is issued and written everywhere")
        result = run()
        print(_indent(render_text(result, "rotate", "OPENROUTER_API_KEY")))
        first = result.key_hash

        _step(2, "An hour later the hourly schedule runs again: nothing is due")
        clock.advance(hours=1)
        if first:  # the apps have been busy: $12.50 of the $50 monthly limit used
            box.openrouter.spend(first, 12.5)
        box.reset_requests()
        result = run()
        print(_indent(render_text(result, "rotate", "OPENROUTER_API_KEY")))
        writes = [r for r in box.requests() if r.method != "GET"]
        print(f"   ({len(box.requests())} requests, {len(writes)} writes)")

        _step(3, "Someone presses 'Run workflow' with force: rotation with a 6h grace period")
        clock.advance(hours=2)
        result = run("force", "reason=demo: quarterly rotation", "revoke_after=6h")
        print(_indent(render_text(result, "rotate", "OPENROUTER_API_KEY")))
        old_plain = _plaintext_of(box, first)
        print(
            f"   the previous key {first[:12] if first else '-'} still works: "
            f"{box.openrouter.works(old_plain) if old_plain else 'unknown'} "
            "(jobs queued before the switch keep using it)"
        )

        print(
            "   spend carry-over: the new key's cap is what is left of the month's $50, not a "
            "fresh $50"
        )

        _step(4, "Jobs that read the secret run verify: is it the active, working key?")
        production = box.github.open_secret("env:octo-org/app/production", "OPENROUTER_API_KEY")
        print("   a deploy job in the production environment:")
        print(_indent(_indent(render_verify(check(production)))))
        print("   a job whose leftover repository secret still holds the previous key:")
        failed = check(old_plain or "")
        print(_indent(_indent(render_verify(failed))))
        ok = failed.hold

        _step(5, "Six hours later: the old key spent $2 more in its grace; revocation is held")
        clock.advance(hours=6, minutes=1)
        if first:
            box.openrouter.spend(first, 2)
        result = run("revoke_after=6h")
        print(_indent(render_text(result, "rotate", "OPENROUTER_API_KEY")))
        cap = result.carry_over.limit_now if result.carry_over else None
        ok = ok and not result.revoked and cap == 35.5

        _step(6, "The leftover secret is fixed; verify passes and the next run revokes")
        print(_indent(render_verify(check(production))))
        clock.advance(minutes=10)
        result = run("revoke_after=6h")
        print(_indent(render_text(result, "rotate", "OPENROUTER_API_KEY")))
        ok = ok and result.revoked == (first,)

        _step(7, "Proof: every target's sealed secret opens to the active key")
        active = result.key_hash
        for target in TARGETS:
            opened = box.github.open_secret(target, "OPENROUTER_API_KEY")
            digest = hashlib.sha256(opened.encode()).hexdigest()
            match = digest == active
            ok = ok and match and box.openrouter.works(opened)
            print(
                f"   {target:<55} opens to key {digest[:12]}: "
                f"{'active key, works' if match else 'MISMATCH'}"
            )
        revoked_works = box.openrouter.works(old_plain) if old_plain else True
        ok = ok and not revoked_works
        print(
            f"   revoked key {first[:12] if first else '-'} answers GET /key: "
            f"{'401, it no longer works' if not revoked_works else 'STILL WORKS'}"
        )
        live = [k.hash[:12] for k in box.openrouter.live_keys()]
        print(f"   live keys in OpenRouter: {', '.join(live)} (only the active one)")
        ok = ok and live == [active[:12] if active else ""]
        state = box.github.variable("octo-org/app", "OPENROUTER_API_KEY_ROTATION") or ""
        ok = ok and "sk-or-v1-" not in state
        print(
            f"   state variable OPENROUTER_API_KEY_ROTATION: {len(state)} bytes of JSON, "
            "hashes and times only, no key"
        )

    took = time.monotonic() - started
    print(
        f"\n{'Demo complete' if ok else 'Demo FAILED'} in {took:.1f}s. "
        "Next: see README.md to run it on GitHub Actions."
    )
    return 0 if ok else 1


def _plaintext_of(box: Sandbox, key_hash: str | None) -> str | None:
    """The sandbox knows every plaintext; the engine never keeps one (demo-only look-up)."""
    for record in box.openrouter.live_keys():
        if record.hash == key_hash:
            return record.plaintext
    return None
