"""spanlite as a user gets it: the wheel built, checked as PyPI would (twine), installed with its viewer extra into a
fresh virtual environment by pip, then the README's Quickstart run there, the CLI and the viewer started.

No network: pip takes the wheel from a folder (``--no-index``) and finds the dependencies already installed, those of
this test environment shown to the fresh one through a ``.pth`` file, less this environment's own spanlite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from viewer_server import free_port, serving

ROOT = Path(__file__).resolve().parents[1]
OWN = ("spanlite", "__editable__", "_spanlite", "__pycache__")  # this environment's editable spanlite


def _quickstart() -> str:
    """The README's Quickstart code, as a user would paste it into a file."""
    section = ROOT.joinpath("README.md").read_text().split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in the README's Quickstart"
    return match.group(1)


def _dependencies_only(into: Path) -> Path:
    """A folder of links to this environment's installed packages but spanlite, and no .pth files.

    Named site-packages: Streamlit imported from anywhere else takes itself for a development checkout of Streamlit.
    """
    into.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OWN) and entry.suffix != ".pth":
            (into / entry.name).symlink_to(entry)
    return into


def test_a_user_installs_the_wheel_traces_a_function_and_opens_the_viewer(tmp_path: Path) -> None:
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ and *.egg-info into the tree
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("spanlite-*.whl")
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", wheel], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)  # this environment's pip installs into it (--python): no ensurepip, 10 s
    site = subprocess.check_output(
        [fresh / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    )
    Path(site.strip(), "deps.pth").write_text(f"{_dependencies_only(tmp_path / 'site-packages')}\n")
    install = [sys.executable, "-m", "pip", "--python", fresh / "bin" / "python", "install", "-q", "--no-index"]
    installed = subprocess.run(
        [*install, "--find-links", wheels, "spanlite[viewer]"], capture_output=True, text=True, timeout=300
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    env = {**os.environ, "SPANLITE_DB": str(tmp_path / "user.db"), "SPANLITE_STRICT": "0"}
    env.pop("PYTHONPATH", None)
    spanlite = str(fresh / "bin" / "spanlite")
    version = subprocess.run([spanlite, "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert version.stdout == "spanlite 0.1.0\n", version.stderr
    (tmp_path / "app.py").write_text(_quickstart())
    run = subprocess.run(
        [fresh / "bin" / "python", "app.py"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0 and "spanlite ui" in run.stdout, run.stderr
    assert "site-packages" in subprocess.check_output(
        [fresh / "bin" / "python", "-c", "import spanlite; print(spanlite.__file__)"], cwd=tmp_path, text=True, env=env
    )  # the wheel's spanlite, not the tree's
    listed = subprocess.run([spanlite, "traces", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0 and "answer" in listed.stdout, listed.stderr

    port = free_port()
    with (tmp_path / "ui.log").open("w") as log:  # what the viewer said, if it did not start
        with serving([spanlite, "ui", "--port", str(port)], env, port, stdout=log, stderr=log):
            pass  # it answered /_stcore/health: the viewer runs from the installed wheel
