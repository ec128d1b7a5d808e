#!/usr/bin/env bash
# Install everything the test suite needs and run it on every supported Python found here: 3.11 always (in .venv),
# 3.12 and 3.13 where present, in PATH or under ~/.pyenv/versions (in .venv312, .venv313). CI (.ci/run) runs exactly
# this. Arguments go to pytest on 3.11 (`bash scripts/test.sh tests/test_cli.py -x`); the others run the whole suite.
#
# The interpreters' suites run at the same time, one pytest process each, rather than one after another or split
# with pytest-xdist: much of the suite waits on the subprocesses and servers it starts, so three suites share CI's
# two cores well (all three in 5.5 minutes on a busy 2-core machine, each 4.5 of them), and no test has to be made
# safe to share a process pool. What they do share was made safe for it: the packaging test builds its wheel from a
# copy of the tree, the browser test writes its artifacts per interpreter. Installs run one after another: an
# editable install writes spanlite.egg-info into the tree. The static checks (scripts/check.sh: ruff, ruff format,
# mypy) run beside the suites, once, on 3.11; any finding fails the run as a failed test does.
set -euo pipefail
cd "$(dirname "$0")/.."

# An X.Y interpreter: the first in PATH, else the newest under pyenv; nothing if there is none.
find_python() {
  local version=$1 candidate
  for candidate in $(command -v "python$version" python3 || true) \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version".*/bin/python 2>/dev/null | sort -V -r); do
    if "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

pythons=() venvs=()
for version in 3.11 3.12 3.13; do
  python=$(find_python "$version")
  if [ -z "$python" ]; then
    [ "$version" = 3.11 ] && { echo "scripts/test.sh: Python 3.11 not found; it is required" >&2; exit 1; }
    continue
  fi
  venv=.venv$([ "$version" = 3.11 ] || echo "${version/./}")
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
  pythons+=("$("$venv/bin/python" -c 'import platform; print(platform.python_version())')") venvs+=("$venv")
done

# The browser test drives Debian's Chromium (Playwright must not download a browser of its own).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# 3.11 writes to the terminal as it goes; the others to a log each, shown once all have finished. Job control (-m):
# without it bash starts background commands with SIGINT ignored, and every process the tests start would inherit
# that. Each suite gets its own process group, ended with the script (a Ctrl-C included).
set -m
pids=()
trap 'for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done' EXIT
trap 'exit 130' INT TERM
logs=tests/artifacts
mkdir -p "$logs"
for i in "${!venvs[@]}"; do
  if [ "$i" = 0 ]; then
    "${venvs[0]}/bin/python" -m pytest "$@" &
  else
    "${venvs[$i]}/bin/python" -m pytest -q >"$logs/pytest-${pythons[$i]}.log" 2>&1 &
  fi
  pids+=($!)
done
PYTHON=${venvs[0]}/bin/python bash scripts/check.sh >"$logs/check.log" 2>&1 &
check_pid=$!
pids+=("$check_pid")

summary=() failed=0
for i in "${!venvs[@]}"; do
  status=0
  wait "${pids[$i]}" || status=$?
  if [ "$i" != 0 ]; then
    echo
    echo "=== Python ${pythons[$i]} (whole log: $logs/pytest-${pythons[$i]}.log) ==="
    tail -n "$([ "$status" = 0 ] && echo 3 || echo 60)" "$logs/pytest-${pythons[$i]}.log"
  fi
  if [ "$status" = 0 ]; then
    summary+=("Python ${pythons[$i]} passed")
  else
    summary+=("Python ${pythons[$i]} FAILED (exit $status)")
    failed=1
  fi
done
status=0
wait "$check_pid" || status=$?
echo
echo "=== Static checks: ruff, ruff format, mypy (whole log: $logs/check.log) ==="
if [ "$status" = 0 ]; then
  tail -n 3 "$logs/check.log"
  summary+=("static checks passed")
else
  tail -n 60 "$logs/check.log"
  summary+=("static checks FAILED (exit $status)")
  failed=1
fi
echo
printf -v ran '%s, ' "${summary[@]}"
echo "scripts/test.sh: ${ran%, }"
exit "$failed"
