"""The GitHub calls only the webhook makes: dispatching the rotation workflow and finding the
run it started, a commenter's permission, and the reaction and reply on their comment.

They ride on the engine's :class:`~openrouter_rotator.github.GitHubClient`: the same
transport, ``X-GitHub-Api-Version``, write pacing, retry policy and errors that name the
missing permission. What differs is only what is called, and one rule: a dispatch or a comment
is never retried on a 5xx or a lost answer (it may have landed); a reaction may be (adding the
same one twice is one reaction).
"""

from __future__ import annotations

from typing import Any

# Module-internal helpers of the engine's GitHub layer, shared with its one subclass here.
from openrouter_rotator.github import _METADATA, GitHubClient, _quote, _repo_path
from openrouter_rotator.permissions import REQUIRED, describe
from openrouter_rotator.schedule import parse_timestamp
from openrouter_rotator.targets import PERMISSIONS

__all__ = ["REACTIONS", "WebhookGitHub"]

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

# What each call needs from the token, appended to 401/403/404 explanations.
_NEED_DISPATCH = (
    "a token with "
    + describe(
        REQUIRED[("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches")]
    )
    + " on the repository that holds the workflow"
)
_NEED_ISSUES = (
    "a token with "
    + describe(REQUIRED[("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")])
    + ' (or "Pull requests: write" for comments on pull requests)'
)
_NEED_METADATA = f"a token with {_METADATA}"


class WebhookGitHub(GitHubClient):
    """The engine's GitHub client plus the webhook's calls (``GitHubPort`` in ``rotations``)."""

    def dispatch_workflow(
        self, repo: str, workflow: str, ref: str, inputs: dict[str, str]
    ) -> str | None:
        """Start ``workflow`` (file name or id) on ``ref``; the run's URL when GitHub tells it."""
        path = f"{_repo_path(repo)}/actions/workflows/{_quote(str(workflow))}/dispatches"
        body = {"ref": ref, "inputs": dict(inputs), "return_run_details": True}
        # Never retried on 5xx: a dispatch that landed would start a second rotation.
        reply = self._request("POST", path, body=body, idempotent=False)
        if reply.status == 204:
            return None
        if reply.status == 200:
            data = reply.data if isinstance(reply.data, dict) else {}
            url = data.get("html_url")
            return str(url) if url else None
        raise self._fail(reply, "POST", path, _NEED_DISPATCH)

    def find_run(
        self, repo: str, workflow: str, title_part: str, created_since: float
    ) -> str | None:
        """The web URL of a dispatched run of ``workflow`` whose ``display_title`` contains
        ``title_part`` (a request id the workflow puts in its ``run-name``), created at or after
        ``created_since`` (unix seconds); None when there is none (yet)."""
        path = f"{_repo_path(repo)}/actions/workflows/{_quote(str(workflow))}/runs"
        # Runs come newest first; stop at the first one older than the request (with a minute
        # of slack for clock skew between this host and GitHub). The ``created`` filter would
        # do the same, but its search syntax (``>=date``) is not what the description allows.
        since = created_since - 60
        query: dict[str, Any] = {"event": "workflow_dispatch", "per_page": 100}
        for page in range(1, 4):
            reply = self._request("GET", path, query={**query, "page": page}, idempotent=True)
            if reply.status != 200 or not isinstance(reply.data, dict):
                raise self._fail(reply, "GET", path, _NEED_DISPATCH)
            runs = reply.data.get("workflow_runs")
            for run in runs if isinstance(runs, list) else []:
                if not isinstance(run, dict):
                    continue
                if title_part in str(run.get("display_title") or ""):
                    return str(run.get("html_url") or "") or None
                if _timestamp(run.get("created_at")) < since:
                    return None
            if not isinstance(runs, list) or len(runs) < 100:
                return None
        return None

    def collaborator_permission(self, repo: str, username: str) -> str:
        """The user's role on ``repo``: admin, maintain, write, triage, read or none."""
        path = f"{_repo_path(repo)}/collaborators/{_quote(username)}/permission"
        reply = self._request("GET", path, idempotent=True)
        if reply.status != 200 or not isinstance(reply.data, dict):
            raise self._fail(reply, "GET", path, _NEED_METADATA)
        # ``permission`` folds maintain into write and triage into read; ``role_name`` does not
        # (it may also be a custom role, which then counts as its base permission).
        role = str(reply.data.get("role_name") or "")
        if role in PERMISSIONS:
            return role
        permission = str(reply.data.get("permission") or "none")
        return permission if permission in PERMISSIONS else "none"

    def create_issue_comment(self, repo: str, number: int, body: str) -> None:
        path = f"{_repo_path(repo)}/issues/{int(number)}/comments"
        reply = self._request("POST", path, body={"body": body}, idempotent=False)
        if reply.status != 201:
            raise self._fail(reply, "POST", path, _NEED_ISSUES)

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        if content not in REACTIONS:
            raise ValueError(f"reaction must be one of {', '.join(REACTIONS)}, not {content!r}")
        path = f"{_repo_path(repo)}/issues/comments/{int(comment_id)}/reactions"
        # Adding the same reaction twice is harmless (GitHub answers 200), so it may be retried.
        reply = self._request("POST", path, body={"content": content}, idempotent=True)
        if reply.status not in (200, 201):
            raise self._fail(reply, "POST", path, _NEED_ISSUES)


def _timestamp(value: Any) -> float:
    """GitHub's ``2026-03-10T12:00:00Z`` as unix seconds; 0 for anything else."""
    try:
        return parse_timestamp(value).timestamp()
    except ValueError:
        return 0.0
