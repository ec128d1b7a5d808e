"""The root folders install as spanlite.* — never as top-level `store` or `tracing` modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import importlib.util, sys
import spanlite, spanlite.store, spanlite.tracing, spanlite.autolog, spanlite.viewer, spanlite.otlp, spanlite.cli
import spanlite.evaluation
from spanlite.evaluation.datasets import Dataset
assert spanlite.datasets.Dataset is Dataset
from spanlite.otlp import start_receiver
from spanlite.store.prices import PriceTable
assert len(PriceTable.bundled()) > 100  # the price table is package data
for name in ("store", "tracing", "autolog", "viewer", "otlp", "evaluation"):
    assert importlib.util.find_spec(name) is None, name
print(spanlite.store.__file__)
"""


def test_wheel_installs_the_component_folders_under_spanlite(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds, which the suite running on
    # another interpreter at the same time (scripts/test.sh) may be building too.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests"))
    wheel_command = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)]
    subprocess.run([sys.executable, "-m", *wheel_command], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("spanlite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"spanlite/store/query.py", "spanlite/otlp/receiver.py", "spanlite/py.typed"} <= set(names)
    assert {"spanlite/evaluation/__init__.py", "spanlite/evaluation/datasets.py"} <= set(names)
    assert "spanlite/_bootstrap/sitecustomize.py" in names  # `spanlite run` puts its folder on PYTHONPATH
    assert {"spanlite/viewer/static/span_tree.js", "spanlite/viewer/static/span_tree.css"} <= set(names)  # Trace page
    assert not any(
        n.split("/")[0] in {"store", "tracing", "autolog", "viewer", "otlp", "evaluation", "tests"} for n in names
    )

    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    zipfile.ZipFile(wheel).extractall(site)
    # Dependencies come from the test environment, without its editable spanlite (.pth files there are not run).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = subprocess.run([python, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(site / "spanlite" / "store" / "__init__.py")


def test_editable_install_maps_the_root_folders(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(ROOT / "store" / "__init__.py")
