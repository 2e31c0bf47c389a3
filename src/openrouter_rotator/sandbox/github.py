"""A stateful stand-in for the GitHub REST endpoints the engine and the webhook use.

(Filled in by the GitHub-side issue; until then it serves nothing.)
"""

from __future__ import annotations

import secrets

from .http import Router


class GitHubStandIn:
    def __init__(self) -> None:
        self.admin_token = "ghs_sandbox_admin_" + secrets.token_hex(8)
        self.readonly_token = "ghs_sandbox_readonly_" + secrets.token_hex(8)

    def register(self, router: Router, prefix: str = "/github") -> None:
        return None

    def register_control(self, router: Router, prefix: str = "/_sandbox/github") -> None:
        return None
