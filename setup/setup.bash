#!/usr/bin/env bash
# The action's setup step (action.yml runs it; the shape of sigstore/gh-action-sigstore-python's
# setup/setup.bash): a private virtualenv holding exactly the packages of setup/requirements.txt,
# each checked against its sha256, and this checkout's own code. Nothing is resolved from the
# index at run time, so a new release of a dependency reaches no job until the lock is updated
# (`uv pip compile ...`, the command at the top of setup/requirements.txt).
#
# In:  ROTATOR_ACTION_PATH (the action's checkout), RUNNER_TEMP, GITHUB_OUTPUT.
# Out: python=<the venv's interpreter> in GITHUB_OUTPUT.
#
# The venv lives under RUNNER_TEMP (cleaned after the job), one per action checkout, so a second
# use of the action in the same job reuses it.
set -euo pipefail

die() {
  echo "::error title=openrouter-rotator setup::$1"
  exit 1
}

action_path=${ROTATOR_ACTION_PATH:?ROTATOR_ACTION_PATH is not set}
lock="$action_path/setup/requirements.txt"
[ -f "$lock" ] || die "$lock is missing: the action's checkout is incomplete"

python=""
for candidate in python3 python; do
  if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
done
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  die "Python 3.10 or newer must be on PATH. Add before this step:%0A  - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0%0A    with:%0A      python-version: '3.12'"
fi

id=$("$python" -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$action_path")
venv="${RUNNER_TEMP:?RUNNER_TEMP is not set}/openrouter-rotator-$id"

venv_bin() {
  if [ -x "$venv/bin/python" ]; then echo "$venv/bin"; else echo "$venv/Scripts"; fi
}

# --require-hashes: every file pip takes must match a hash in the lock; --no-deps: the lock is
# the whole set, pip resolves nothing.
pip_options=(install --quiet --disable-pip-version-check --no-input --progress-bar off
  --require-hashes --no-deps --requirement "$lock")

if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"
  # Fast path: a venv without its own pip (ensurepip is a third of an ordinary setup), filled
  # by the host's pip (`pip --python`, pip >= 22.3). Otherwise the ordinary way.
  if "$python" -m venv --without-pip "$venv" \
    && "$python" -m pip --python "$(venv_bin)/python" "${pip_options[@]}"
  then
    :
  else
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$(venv_bin)/python" -m pip "${pip_options[@]}" \
      || die "pip could not install the locked dependencies (its message is above): see the setup step in docs/troubleshooting.md"
  fi
  # This checkout's own code, without building or installing it: a .pth line puts its src/ on
  # the venv's path (the action path stays in place for the whole job).
  site=$("$(venv_bin)/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  printf '%s\n' "$action_path/src" > "$site/openrouter_rotator_action.pth"
  "$(venv_bin)/python" -c 'import openrouter_rotator.cli' \
    || die "the action's code does not import in its virtualenv ($venv)"
  touch "$venv/.ready"
fi
echo "python=$(venv_bin)/python" >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
