"""Proof from the consumer's side: does the secret a job reads hold the active, working key?

Secrets cannot be read back through GitHub's API, so a rotator can only trust that what it
sealed is what a job decrypts, under that name, in that scope. ``verify`` runs in a job that
reads the secret the way consumers do, and checks it with OpenRouter: the key must work
(``GET /key`` with it) and be the state's active key. OpenRouter never tells a key's hash to
the key itself; it tells its ``label`` (the masked form, ``sk-or-v1-abc...f00``), and the
management listing tells the label of every key, so the two are compared.

The result is recorded in the state. A failure holds back every revocation until a later
verification passes: the key the consumers still hold stays alive while the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import OpenRouterAuthError, OpenRouterError
from .openrouter import ApiKey, OpenRouterClient
from .state import State, Verification

if TYPE_CHECKING:
    from .rotation import Rotator

DEFAULT_KEY_ENV = "OPENROUTER_API_KEY"

# Why a secret that a rotation wrote may not be what a job reads (GitHub's precedence: an
# environment secret wins over a repository secret, which wins over an organization secret).
SCOPES = (
    "a secret of the same name at a narrower scope shadows the one the rotation writes "
    "(an environment secret wins over a repository secret, which wins over an organization "
    "secret); the job's `environment:` is not among the rotation's targets; an organization "
    "secret whose visibility leaves this repository out; or the job reads another secret name"
)


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found. ``to_json`` has exactly the keys of SPEC §7."""

    verified: bool
    key_hash: str | None
    active_key_hash: str | None
    hold: bool
    cause: str | None = None  # short code, see Check
    message: str = ""  # what was found and the fix (no secret in it)
    recorded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "key_hash": self.key_hash,
            "active_key_hash": self.active_key_hash,
            "hold": self.hold,
        }


@dataclass(frozen=True)
class Check:
    verified: bool
    key_hash: str | None
    cause: str | None
    message: str


def check_key(
    openrouter: OpenRouterClient, state: State, plaintext: str, key_env: str, where: str
) -> Check:
    """Compare the key a job read with the state's active key (reads only)."""
    if state.active is None:
        return Check(
            False, None, "no-active-key", f"{where} records no active key yet: run the rotation"
        )
    active = state.active.hash
    if not plaintext.strip():
        return Check(
            False,
            None,
            "empty",
            f"{key_env} is empty in this job: the secret is not visible here. Pass it as "
            f"`env: {key_env}: ${{{{ secrets.NAME }}}}`; if it is set, {SCOPES}",
        )
    try:
        current = openrouter.current_key(api_key=plaintext.strip())
    except OpenRouterAuthError as exc:
        return Check(
            False,
            None,
            "revoked",
            f"the key in {key_env} does not work (OpenRouter: {exc.detail}): it was revoked, "
            f"or the secret this job reads was never updated by the rotation. Likely: {SCOPES}",
        )
    try:
        mine = openrouter.get_key(active)
    except OpenRouterError as exc:
        if exc.status != 404:
            raise
        return Check(
            False,
            None,
            "active-gone",
            f"the state's active key {active[:12]} no longer exists in OpenRouter: run the "
            "rotation, which issues a new key",
        )
    if current.label == mine.label:
        return Check(True, active, None, f"{key_env} holds the active key {active[:12]}")
    found = _same_label(openrouter, current.label, state)
    retiring = {r.hash for r in state.retiring}
    if found is not None and found.hash in retiring:
        return Check(
            False,
            found.hash,
            "stale",
            f"{key_env} holds the previous key {found.hash[:12]}, not the active key "
            f"{active[:12]}: the rotation did not reach the secret this job reads. Likely: "
            f"{SCOPES}",
        )
    if found is not None and found.name != mine.name:
        return Check(
            False,
            found.hash,
            "foreign",
            f"{key_env} holds key {found.hash[:12]} named {found.name!r}, which is not one of "
            f"this rotation's keys ({mine.name!r}): another rotation or a hand-made key writes "
            f"this secret in the scope this job reads. Likely: {SCOPES}",
        )
    if found is not None:
        return Check(
            False,
            found.hash,
            "untracked",
            f"{key_env} holds key {found.hash[:12]}, an old key of this name that the state "
            f"does not track, not the active key {active[:12]}. Likely: {SCOPES}",
        )
    return Check(
        False,
        None,
        "unknown",
        f"{key_env} holds a working key that this OpenRouter account does not list (another "
        f"account's key, or one made by hand), not the active key {active[:12]}. Likely: "
        f"{SCOPES}",
    )


def _same_label(openrouter: OpenRouterClient, label: str, state: State) -> ApiKey | None:
    """The listed key with this label; the state's own keys first, as labels are short."""
    matches = [k for k in openrouter.every_key() if k.label == label]
    known = state.known_hashes()
    matches.sort(key=lambda k: k.hash not in known)
    return matches[0] if matches else None


def record(
    state: State, check: Check, checked: str | None, now: datetime, run_url: str | None
) -> State:
    """The state with this verification; a failure holds back revocations until one passes.

    ``checked`` is the active key the check compared with: if a rotation finished since, the
    check proves nothing about the new key and counts as a failure (the next verify settles it).
    """
    active = state.active.hash if state.active else None
    verified = check.verified and checked == active
    cause = check.cause if verified == check.verified else "rotated-meanwhile"
    verification = Verification(now, verified, check.key_hash, active, cause, run_url)
    return replace(state, verification=verification)


def verify(rotator: Rotator, plaintext: str, key_env: str) -> VerifyResult:
    """Check the key a job read and record the outcome in the state (in a locked session)."""
    state = rotator.store.load()
    if state is None or state.active is None:
        message = f"{rotator.store.where} records no active key yet: run the rotation first"
        return VerifyResult(False, None, None, hold=False, cause="no-active-key", message=message)
    try:
        check = check_key(rotator.openrouter, state, plaintext, key_env, rotator.store.where)
    except OpenRouterError as exc:
        # Not proven wrong, not proven right: hold, as a wrong secret would.
        check = Check(
            False, None, "unchecked", f"could not check the key ({exc}); run verify again"
        )
    checked = state.active.hash
    saved = rotator.update_state(
        lambda current: record(current, check, checked, rotator.now(), rotator.config.run_url)
    )
    verified = saved.verification is not None and saved.verification.verified
    return VerifyResult(
        verified,
        check.key_hash,
        saved.active.hash if saved.active else None,
        hold=saved.hold,
        cause=check.cause,
        message=check.message,
        recorded=True,
    )
