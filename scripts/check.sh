#!/usr/bin/env bash
# The static checks: ruff's lint rules, ruff's formatting, and mypy over the package as it is installed (spanlite.*).
# scripts/test.sh runs this next to the test suites, and fails if it does. Alone, after scripts/test.sh made the venv
# (or `pip install -e '.[otlp,viewer,evaluation]' --group test`, pip 25.1 or later): `bash scripts/check.sh`
# (PYTHON=<a venv's python> for another).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}

failed=0
"$python" -m ruff check --no-cache . || failed=1
"$python" -m ruff format --no-cache --check . || failed=1

# mypy finds modules through folders, not through the import hook of the editable install, and the folders are not
# laid out as the package is (store/ is spanlite.store): so it reads a tree of symlinks laid out as pyproject's
# package-dir maps them, remade each run in a fixed place (mypy's cache stays valid), and its messages are turned
# back into paths in the repository.
tree=build/typecheck
rm -rf "$tree"
rewrite=$("$python" - "$tree" <<'EOF'
import sys
import tomllib
from pathlib import Path

tree = Path(sys.argv[1])
folders = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
for package, folder in sorted(folders.items(), key=lambda item: -item[0].count(".")):  # sub-packages first
    place = tree.joinpath(*package.split("."))
    place.mkdir(parents=True, exist_ok=True)
    for entry in Path(folder).iterdir():
        if entry.name != "__pycache__" and not (place / entry.name).exists():
            (place / entry.name).symlink_to(entry.resolve())
    print(f"s#^{place}/#{folder}/#")
EOF
)
MYPYPATH=$tree "$python" -m mypy -p spanlite | sed -e "$rewrite" || failed=1

exit "$failed"
