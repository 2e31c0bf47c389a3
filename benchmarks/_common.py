"""Shared helpers for the benchmark scripts: the engine and a naive baseline against the sandbox.

Not a test helper: the scripts print figures. Everything runs on loopback against
:class:`openrouter_rotator.sandbox.Sandbox`; nothing here needs credentials or the internet.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openrouter_rotator.config import parse_config
from openrouter_rotator.rotation import Rotator, RunResult
from openrouter_rotator.sandbox import FakeClock, RecordedRequest, Sandbox
from openrouter_rotator.state import State
from openrouter_rotator.targets import parse_target

SECRET = "OPENROUTER_API_KEY"
STATE_REPO = "octo-org/app"
KEY_NAME = "benchmark"
ORG = "octo-org"


def seed_repos(box: Sandbox, count: int, prefix: str = "svc") -> list[str]:
    """Add ``count`` repositories to the seeded organization; their names."""
    names = [f"{prefix}-{i:03d}" for i in range(1, count + 1)]
    for name in names:
        box.github.add_repo(f"{ORG}/{name}")
    return names


def make_rotator(
    box: Sandbox,
    targets: Sequence[str],
    clock: FakeClock,
    *,
    write_interval: float = 0.0,
    **options: Any,
) -> Rotator:
    """The engine as every door builds it (``Rotator.from_config``), pointed at the sandbox."""
    args: dict[str, object] = {
        "targets": list(targets),
        "key_name": KEY_NAME,
        "state_repository": STATE_REPO,
        **options,
    }
    env = {**box.env(), "ROTATOR_GITHUB_WRITE_INTERVAL": str(write_interval)}
    return Rotator.from_config(parse_config(args, env), now=clock)


def first_key(box: Sandbox, targets: Sequence[str], clock: FakeClock) -> RunResult:
    """Issue the first key (so the measured run is a real rotation with a key to revoke)."""
    result = make_rotator(box, targets, clock).run()
    clock.advance(minutes=5)
    return result


# --------------------------------------------------------------------------------------------
# Classifying recorded requests
# --------------------------------------------------------------------------------------------

CLASSES = (
    "OR create",
    "OR check",
    "OR verify",
    "OR usage",
    "OR budgets",
    "OR guardrail",
    "OR delete",
    "OR list",
    "GH public-key",
    "GH PUT",
    "GH org GET",
    "GH repo lookup",
    "GH env lookup",
    "state GET",
    "state PATCH",
    "state POST",
    "lock POST",
    "lock DELETE",
    "other",
)

_VARIABLE = re.compile(r"/actions/variables(/[^/]+)?$")


def classify(requests: Iterable[RecordedRequest]) -> list[tuple[str, RecordedRequest]]:
    """Name the endpoint class of each request, in order.

    ``GET /key`` is the management-key check before the create and the verification of the new
    key after it.
    """
    out: list[tuple[str, RecordedRequest]] = []
    created = False
    for r in requests:
        path, method = r.path, r.method
        if path.startswith("/api/v1"):
            rest = path[len("/api/v1") :]
            if rest == "/keys" and method == "POST":
                created = True
                name = "OR create"
            elif rest == "/key":
                name = "OR verify" if created else "OR check"
            elif rest.startswith("/keys/") and method == "DELETE":
                name = "OR delete"
            elif rest.startswith("/keys/"):
                name = "OR usage"
            elif rest == "/keys":
                name = "OR list"
            elif method == "GET" and rest.startswith(("/workspaces", "/guardrails")):
                name = "OR budgets"  # the budgets over a key (workspace, guardrails)
            elif method == "POST" and rest.startswith("/guardrails/"):
                name = "OR guardrail"  # the old key's guardrails assigned to the new one
            else:
                name = "other"
        elif path.endswith("/public-key"):
            name = "GH public-key"
        elif method == "PUT" and "/secrets/" in path:
            name = "GH PUT"
        elif method == "GET" and path.startswith("/github/orgs/") and "/secrets/" in path:
            name = "GH org GET"
        elif _VARIABLE.search(path):
            lock = "_LOCK_" in path or (method == "POST" and b"_LOCK_" in r.body)
            name = {
                "GET": "state GET",
                "PATCH": "state PATCH",
                "POST": "lock POST" if lock else "state POST",
                "DELETE": "lock DELETE",
            }.get(method, "other")
        elif method == "GET" and re.fullmatch(r"/github/repos/[^/]+/[^/]+", path):
            name = "GH repo lookup"
        elif method == "GET" and re.fullmatch(r"/github/repos/[^/]+/[^/]+/environments/.+", path):
            name = "GH env lookup"
        else:
            name = "other"
        out.append((name, r))
    return out


def count(classified: Iterable[tuple[str, RecordedRequest]]) -> Counter[str]:
    return Counter(name for name, _ in classified)


@dataclass(frozen=True)
class Budget:
    """The minimum of issue 7 for one forced rotation, split by endpoint class."""

    by_class: dict[str, int]
    justified: dict[str, tuple[int, str]]

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    @property
    def total_with_justified(self) -> int:
        return self.total + sum(n for n, _ in self.justified.values())


def minimum_budget(targets: Sequence[str], revoked: int, *, state_exists: bool = True) -> Budget:
    """1 create + 1 verify + 1 public key per distinct scope + 1 PUT per target + 1 GET per
    organization target whose visibility must be read + 1 lookup per selected repository name
    + the state reads and writes + 1 delete per revoked key.

    State and lock (issue 11: at most 4 writes, 1 read): 1 read of the state; the lock (POST,
    the atomic test-and-set); the deletion of the previous session's lock; the new key's hash
    as "publishing" (from here the key may sit in a target, so a crash must keep it); the
    commit with the revocation results. A killed run's key is found by its mark, not by an
    intent record.
    """
    parsed = [parse_target(t) for t in targets]
    org_reads = sum(1 for t in parsed if t.kind == "org" and t.visibility is None)
    lookups = sum(len(t.repositories) for t in parsed)
    writes = 2
    by_class = {
        "OR create": 1,
        "OR verify": 1,
        "OR delete": revoked,
        "GH public-key": len({t.scope for t in parsed}),
        "GH PUT": len(parsed),
        "GH org GET": org_reads,
        "GH repo lookup": lookups,
        "state GET": 1,
        "state PATCH" if state_exists else "state POST": writes,
        "lock POST": 1,
        "lock DELETE": 1 if state_exists else 0,
    }
    justified = {
        "OR check": (1, "issue 4: the management key is checked once at start"),
        "OR list": (
            1,
            "issue 11: the sweep lists the keys to revoke any of this rotation's own keys (by "
            "their mark) that a killed run left untracked; the old key's workspace, where the "
            "new key is made (SPEC §7), is read from the same listing",
        ),
        "OR budgets": (
            2,
            "SPEC §7: the workspaces (a key listing shows one) and the old key's guardrails, "
            "assigned to the new key",
        ),
    }
    return Budget({k: v for k, v in by_class.items() if v}, justified)


def over_budget(counts: Counter[str], budget: Budget) -> dict[str, int]:
    """Requests above the minimum plus the justified extras, per class (0 when none)."""
    over: dict[str, int] = {}
    for name, n in counts.items():
        allowed = budget.by_class.get(name, 0) + budget.justified.get(name, (0, ""))[0]
        if n > allowed:
            over[name] = n - allowed
    return over


# --------------------------------------------------------------------------------------------
# The naive baseline: PyGithub's create_secret per target
# --------------------------------------------------------------------------------------------


def naive_rotation(box: Sandbox, targets: Sequence[str], *, write_interval: float = 0.0) -> None:
    """A forced rotation done the obvious way, with PyGithub objects and the same OpenRouter
    calls minus the safety net: read the state, create the key, write every target with
    ``create_secret`` (which reads the scope's public key each time), write the state, delete
    the old key. No management-key check, no verification, no lease, no crash journal.
    """
    import httpx
    from github import Auth, Github
    from github.Organization import Organization
    from github.Repository import Repository

    env = box.env()
    gh = Github(
        auth=Auth.Token(env["GITHUB_TOKEN"]),
        base_url=env["GITHUB_API_URL"],
        seconds_between_writes=write_interval or None,
        seconds_between_requests=None,
        retry=0,
    )
    requester = gh._Github__requester  # type: ignore[attr-defined]
    # The state repository object is made lazily, so the state costs one GET and one PATCH
    # (through the same requester, so its write is paced with the others).
    url = f"{env['GITHUB_API_URL']}/repos/{STATE_REPO}"
    state_repo = Repository(requester, {}, {"url": url}, completed=False)
    variable = state_repo.get_variable(f"{SECRET}_ROTATION")  # GET the state
    old = State.from_json(variable.value, "baseline").active
    old_hash = old.hash if old else ""
    headers = {"Authorization": f"Bearer {env['OPENROUTER_MANAGEMENT_KEY']}"}
    with httpx.Client(base_url=env["OPENROUTER_BASE_URL"], headers=headers) as http:
        created = http.post("/keys", json={"name": KEY_NAME})
        created.raise_for_status()
        value = created.json()["key"]
        new_hash = created.json()["data"]["hash"]
        for spec in targets:
            target = parse_target(spec)
            if target.kind in ("repo", "dependabot"):
                repo = gh.get_repo(f"{target.owner}/{target.repo}")  # GET /repos/o/r
                kind = "actions" if target.kind == "repo" else "dependabot"
                repo.create_secret(SECRET, value, secret_type=kind)
            elif target.kind == "env":
                repo = gh.get_repo(f"{target.owner}/{target.repo}")
                environment = repo.get_environment(target.environment or "")
                environment.create_secret(SECRET, value)
            else:
                # The sandbox does not serve GET /orgs/{org}, so the organization object is
                # made lazily; on GitHub ``gh.get_organization`` would add one more GET.
                org = Organization(
                    requester,
                    {},
                    {"login": target.owner, "url": f"{env['GITHUB_API_URL']}/orgs/{target.owner}"},
                    completed=False,
                )
                if target.visibility == "selected":
                    repos = [gh.get_repo(f"{target.owner}/{n}") for n in target.repositories]
                    org.create_secret(SECRET, value, "selected", repos)
                else:
                    org.create_secret(SECRET, value, target.visibility or "private")
        variable.edit(variable.value.replace(old_hash, new_hash))  # PATCH the state
        http.delete(f"/keys/{old_hash}").raise_for_status()


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for i, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def print_figures(figures: dict[str, Any], as_json: bool) -> None:
    """One JSON object, or one ``name  value`` line per figure."""
    if as_json:
        print(json.dumps(figures))
        return
    width = max(len(name) for name in figures) + 2
    for name, value in figures.items():
        print(f"{name:<{width}}{value}")
