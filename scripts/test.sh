#!/usr/bin/env bash
# Install everything the test suite needs and run it on every supported Python found here: 3.11 always (in .venv),
# 3.12 and 3.13 where present, in PATH or under ~/.pyenv/versions (in .venv312, .venv313). CI (.ci/run) runs exactly
# this. Arguments go to pytest on 3.11 (`bash scripts/test.sh tests/test_cli.py -x`); the others run the whole suite
# but the modules named at ONE_PYTHON_ONLY below, and one more (in .venv-otel-oldest) the modules that exercise the OpenTelemetry SDK, on its oldest supported release.
#
# The interpreters' suites run at the same time, one pytest process each (3.11's whole suite as two, split by module),
# rather than one after another or split with pytest-xdist: much of the suite waits on the subprocesses and servers
# it starts, so the suites share CI's two cores well (all three in 5.5 minutes on a busy 2-core machine, each 4.5 of them), and no test has to be made
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

# One line on stderr per step, so that minutes of quiet installs say what they are doing.
step() { echo "scripts/test.sh: $*" >&2; }

# The test dependency group (PEP 735, pyproject's [dependency-groups]) as requirements, one a line: read here rather
# than with --group, which uv has but pip has only from 25.1, so that the fallback to pip below takes it too.
test_group() {
  "$1/bin/python" -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["test"]))'
}

# Install into a venv with uv, which resolves and downloads in parallel (15 s for the test extra where pip takes two
# minutes; there are four venvs to fill), itself from PyPI into .venv; pip where uv is missing or fails. uv reads the
# system's certificates, as pip does here (PIP_CERT).
install() {
  local venv=$1
  shift
  if [ -x .venv/bin/uv ] && UV_NATIVE_TLS=1 .venv/bin/uv pip install -q --python "$venv/bin/python" "$@"; then
    return
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

# What 3.12 and 3.13 leave out: modules whose code runs the same on every interpreter, run once here to keep CI's
# two cores for what does differ between interpreters, which runs in full on each: threads, signals, exits, forks,
# SQLite, asyncio, every SDK's and framework's autolog, the store, the receiver, the exporter. Left to 3.11: the
# browser tests (Chromium driving the viewer), the viewer's AppTest pages but one (test_viewer_apptest still runs
# everywhere as the viewer's smoke test, and test_viewer_process, which signals `spanlite ui`, runs everywhere), the receiver's load test (timing-bound limits that three suites loading two
# cores at once had made flaky; tests/test_otlp_receiver.py runs everywhere), foreign instrumentors, the scorers'
# and judges' logic and the comparison of runs (evaluate, datasets and runs, on the store, run everywhere), and the
# import-layering check, which reads source, and the user's install of the wheel (its metadata is the same everywhere).
ONE_PYTHON_ONLY=(
  tests/test_viewer_e2e.py tests/test_viewer_feedback.py tests/test_viewer_hosts.py tests/test_viewer_evaluation.py
  tests/test_receiver_load.py tests/test_instrumentors.py tests/test_judges.py tests/test_scorers.py
  tests/test_compare_runs.py tests/test_online_scoring.py tests/test_store_eval_views.py tests/test_layers.py
  tests/test_install.py tests/test_viewer_trace_nav.py tests/test_viewer_render.py tests/test_viewer_traces_list.py
  tests/test_viewer_review.py tests/test_viewer_compare.py tests/test_viewer_overview.py tests/test_viewer_first_run.py
)

# A suite: its venv, what it runs (pytest's arguments; nothing: the whole suite), what to call that, and its name, from
# the versions it runs on.
venvs=() runs=() names=() outs=()
add_suite() {
  local versions
  versions=$("$1/bin/python" -c 'import platform; from importlib.metadata import version
print(platform.python_version(), version("opentelemetry-sdk"))')
  venvs+=("$1") runs+=("$2") names+=("Python ${versions% *}, opentelemetry-sdk ${versions#* } ($3)")
  outs+=("tests/artifacts/pytest-${1#.}${4:-}.log")
}

for version in 3.11 3.12 3.13; do
  python=$(find_python "$version")
  if [ -z "$python" ]; then
    [ "$version" = 3.11 ] && { echo "scripts/test.sh: Python 3.11 not found; it is required" >&2; exit 1; }
    continue
  fi
  newest_python=$python
  venv=.venv$([ "$version" = 3.11 ] || echo "${version/./}")
  step "Python $version: making $venv with spanlite and its test dependencies ($python)"
  "$python" -m venv "$venv"
  [ "$venv" = .venv ] && { .venv/bin/python -m pip install -q --disable-pip-version-check uv || true; }
  mapfile -t requirements < <(test_group "$venv")
  install "$venv" -e '.[otlp,viewer,evaluation]' "${requirements[@]}"
  if [ "$version" = 3.11 ] && [ $# -gt 0 ]; then
    add_suite "$venv" "" "what was asked"
  elif [ "$version" = 3.11 ]; then
    # The whole suite, as two processes: the modules only 3.11 runs (mostly the viewer's, which wait on Streamlit and
    # Chromium) beside the rest, so that CI's two cores have work while the other suites wait on their servers.
    add_suite "$venv" "$(printf -- '--ignore=%s ' "${ONE_PYTHON_ONLY[@]}")" "all but ${#ONE_PYTHON_ONLY[@]} modules"
    add_suite "$venv" "${ONE_PYTHON_ONLY[*]}" "those ${#ONE_PYTHON_ONLY[@]} modules" -only
  else
    add_suite "$venv" "$(printf -- '--ignore=%s ' "${ONE_PYTHON_ONLY[@]}")" "all but ${#ONE_PYTHON_ONLY[@]} modules"
  fi
done

# spanlite reads and writes the OTel SDK's private state (tests/test_sdk_internals.py says where), so pyproject.toml
# admits only the SDK releases tried here: the suites above run the newest it allows; this one the oldest, on the
# newest Python (an old library breaks there first), with the modules that exercise the SDK: the others do not depend
# on its release, and some need foreign instrumentors that need a newer one. Beside the others it costs a quarter of
# one suite's CPU time (40 s of 150), and its install under a minute.
oldest=$(sed -n 's/^ *"opentelemetry-sdk>=\([0-9.]*\),.*/\1/p' pyproject.toml)
[ -n "$oldest" ] || { echo "scripts/test.sh: no \"opentelemetry-sdk>=X,<Y\" in pyproject.toml" >&2; exit 1; }
step "making .venv-otel-oldest with opentelemetry-sdk $oldest, the oldest release supported"
"$newest_python" -m venv .venv-otel-oldest
install .venv-otel-oldest -e '.[otlp]' pytest hypothesis openai \
  "opentelemetry-api==$oldest" "opentelemetry-sdk==$oldest" "opentelemetry-exporter-otlp-proto-http==$oldest" \
  "opentelemetry-proto==$oldest"
add_suite .venv-otel-oldest "tests/test_sdk_internals.py tests/test_sdk_attributes.py tests/test_late_attributes.py
  tests/test_tracing.py tests/test_sampler.py tests/test_propagation.py tests/test_surrogates.py tests/test_store.py
  tests/test_writer_process.py tests/test_autolog_openai.py tests/test_otlp_export.py tests/test_secrets.py
  tests/test_otlp_receiver.py" "the modules that exercise the SDK"

# The browser test drives Debian's Chromium (Playwright must not download a browser of its own).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  step "installing Debian's Chromium for the browser tests"
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
step "running ${#venvs[@]} suites at once, and the static checks (3.11's output follows; the others' at the end)"
for i in "${!venvs[@]}"; do
  # shellcheck disable=SC2086  # the modules to run, one word each
  if [ "$i" = 0 ]; then
    "${venvs[0]}/bin/python" -m pytest ${runs[0]} "$@" &
  else
    "${venvs[$i]}/bin/python" -m pytest -q --durations=20 ${runs[$i]} >"${outs[$i]}" 2>&1 &
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
    echo "=== ${names[$i]} (whole log: ${outs[$i]}) ==="
    tail -n "$([ "$status" = 0 ] && echo 3 || echo 60)" "${outs[$i]}"
  fi
  if [ "$status" = 0 ]; then
    summary+=("${names[$i]} passed")
  else
    summary+=("${names[$i]} FAILED (exit $status)")
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
printf -v ran '%s; ' "${summary[@]}"
echo "scripts/test.sh: ${ran%; }"
exit "$failed"
