"""The mark every key the engine creates carries in its name, so that it can find its own keys.

A key the engine made but whose hash never reached the state (its run was killed between the
create and the record, or a create's answer was lost and its request landed late) is live and
untracked. The sweep finds such keys by this mark and revokes them. The mark is
``<key name> [rotator <nonce>.<tag>]``: ``tag`` is an HMAC, keyed with the management key, of
the state's location, the key name and the nonce. A key made by hand with the same name, or
with a copied mark, or by another rotation sharing the key name, does not verify, so the sweep
never touches it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_MARK = re.compile(r"^(?P<base>.*) \[rotator (?P<nonce>[0-9a-f]{8})\.(?P<tag>[0-9a-f]{16})\]$")
MARK_LENGTH = len(" [rotator 01234567.0123456789abcdef]")


def _tag(secret: str, owner: str, base: str, nonce: str) -> str:
    message = f"openrouter-rotator\n{owner}\n{base}\n{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]


def marked_name(secret: str, owner: str, base: str, nonce: str | None = None) -> str:
    """``base`` with a fresh mark; ``owner`` names the rotation (its state's location)."""
    nonce = nonce or secrets.token_hex(4)
    return f"{base} [rotator {nonce}.{_tag(secret, owner, base, nonce)}]"


def base_name(name: str) -> str:
    """The key name without a mark (any mark: this does not verify it)."""
    found = _MARK.match(name)
    return found.group("base") if found else name


def is_own(secret: str, owner: str, base: str, name: str) -> bool:
    """True if ``name`` is ``base`` with a mark this rotation made."""
    found = _MARK.match(name)
    if found is None or found.group("base") != base:
        return False
    expected = _tag(secret, owner, base, found.group("nonce"))
    return hmac.compare_digest(expected, found.group("tag"))
