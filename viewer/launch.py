"""Start the viewer: what ``spanlite ui`` calls.

>>> from spanlite.viewer.launch import run_viewer
>>> run_viewer(Path("traces.db"), port=8501)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
DB_ENV = "SPANLITE_DB"


def viewer_command(
    db: Path, port: int, host: str = "127.0.0.1", headless: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the viewer for ``db``; tests start it with ``Popen``."""
    argv = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # the viewer's own code does not change while it runs
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu: this is a tool, not an app in dev
    ]  # fmt: skip
    env = {**os.environ, DB_ENV: str(Path(db).expanduser().resolve())}
    return argv, env


def run_viewer(db: Path, port: int, host: str = "127.0.0.1", headless: bool = True) -> int:
    """Serve the viewer on ``host:port`` until interrupted; returns Streamlit's exit code (2: not installed)."""
    if importlib.util.find_spec("streamlit") is None:
        print("The viewer needs Streamlit: pip install 'spanlite[viewer]'", file=sys.stderr)
        return 2
    argv, env = viewer_command(db, port, host, headless)
    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:  # Ctrl-C reaches Streamlit too, which shuts down on its own
        return 130
