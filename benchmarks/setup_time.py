"""The action's setup and the engine's import time.

    python benchmarks/setup_time.py [--skip-venv] [--runs 7]

Setup: ``setup/setup.bash`` (what ``action.yml``'s setup step runs: a venv filled from the
hash-locked ``setup/requirements.txt``, nothing resolved) against the first release's setup,
``pip install <checkout>`` (resolve PyGithub, PyNaCl, httpx afresh, build the project in
isolation). The first run warms pip's cache (downloads and built wheels); the warm-cache rows
are the figures for a runner whose pip cache is warm. Needs PyPI unless the cache is warm.

Import time: the median wall time of ``python -c "import ..."`` for the modules a run loads,
against a bare interpreter, and the largest contributors from ``python -X importtime``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import median, table

ROOT = Path(__file__).resolve().parents[1]
PIP = ["--quiet", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
MODULES = (
    "openrouter_rotator.config",
    "openrouter_rotator.github",
    "openrouter_rotator.rotation",
    "openrouter_rotator.cli",
)


def copy_checkout(workdir: Path) -> Path:
    """A copy of the checkout, as the action path is: no build artifacts of the working tree."""
    source = workdir / "src-copy"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__"),
    )
    return source


def count_packages(venv_python: str) -> int:
    listing = "import importlib.metadata as m; print(len(list(m.distributions())))"
    done = subprocess.run([venv_python, "-c", listing], check=True, capture_output=True, text=True)
    return int(done.stdout)


def setup_unlocked(python: str, workdir: Path, fast: bool) -> tuple[float, int]:
    """(seconds, installed packages) of the first release's setup: ``pip install <checkout>``,
    which resolves PyGithub, PyNaCl and httpx afresh and builds the project in isolation.

    ``fast``: a venv without pip, filled by the host's ``pip --python``; otherwise the ordinary
    venv with its own pip.
    """
    venv = workdir / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    source = copy_checkout(workdir)
    start = time.perf_counter()
    subprocess.run([python, "-m", "venv", *(["--without-pip"] if fast else []), str(venv)],
                   check=True)  # fmt: skip
    venv_python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "--python", venv_python] if fast else [venv_python, "-m", "pip"]
    subprocess.run([*pip, "install", *PIP, str(source)], check=True)
    return time.perf_counter() - start, count_packages(venv_python)


def setup_locked(python: str, workdir: Path) -> tuple[float, int]:
    """(seconds, installed packages) of setup/setup.bash, the action's setup step as it is:
    the hash-locked requirements, nothing resolved, the project's code put on the path."""
    runner_temp = workdir / "runner-temp"
    shutil.rmtree(runner_temp, ignore_errors=True)
    runner_temp.mkdir()
    source = copy_checkout(workdir)
    output = workdir / "github-output"
    output.write_text("")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]),
        "ROTATOR_ACTION_PATH": str(source),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(output),
    }
    env.pop("VIRTUAL_ENV", None)
    start = time.perf_counter()
    subprocess.run(["bash", str(source / "setup" / "setup.bash")], check=True, env=env)
    seconds = time.perf_counter() - start
    venv_python = output.read_text().strip().removeprefix("python=")
    return seconds, count_packages(venv_python)


def wall(python: str, code: str, runs: int) -> float:
    times = []
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run([python, "-c", code], check=True, env=env)  # compile the .pyc files first
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - start)
    return median(times)


def top_imports(python: str, module: str, n: int = 8) -> list[tuple[str, float]]:
    done = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        try:
            cumulative = int(parts[1]) / 1000
        except ValueError:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        if depth == 1 or (depth == 0 and name.strip() == module):
            rows.append((name.strip(), cumulative))
    return sorted(rows, key=lambda r: -r[1])[:n]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-venv", action="store_true", help="only the import times")
    parser.add_argument("--runs", type=int, default=7, help="runs per import figure")
    parser.add_argument("--python", default=sys.executable, help="interpreter for imports")
    args = parser.parse_args(argv)

    if not args.skip_venv:
        base = shutil.which("python3") or sys.executable
        # The base interpreter of this venv, like the runner's python3 the action starts from.
        base = getattr(sys, "_base_executable", None) or base
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            rows: list[tuple[object, ...]] = []
            for label, fast in (
                ("unlocked, ordinary venv, first (cache warmed here)", False),
                ("unlocked, ordinary venv, warm cache", False),
                ("unlocked, venv --without-pip + pip --python, warm cache", True),
            ):
                seconds, count = setup_unlocked(base, work, fast)
                rows.append((label, f"{seconds:.2f}", count))
            for label in (
                "setup/setup.bash (locked), first",
                "setup/setup.bash (locked), warm cache",
                "setup/setup.bash (locked), warm cache, again",
            ):
                seconds, count = setup_locked(base, work)
                rows.append((label, f"{seconds:.2f}", count))
        print(f"\n## Action setup, from no venv to a venv that imports the engine ({base})")
        print(table(rows, ("run", "seconds", "packages")))

    bare = wall(args.python, "pass", args.runs)
    rows: list[tuple[object, ...]] = [("(bare interpreter)", f"{bare * 1000:.0f}", "-")]
    for module in MODULES:
        t = wall(args.python, f"import {module}", args.runs)
        rows.append((module, f"{t * 1000:.0f}", f"{(t - bare) * 1000:.0f}"))
    print(f"\n## Import time (median of {args.runs} processes)")
    print(table(rows, ("import", "wall ms", "minus bare ms")))
    print("\nlargest direct imports of openrouter_rotator.cli (python -X importtime, cumulative):")
    for name, ms in top_imports(args.python, "openrouter_rotator.cli"):
        print(f"  {name:<40} {ms:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
