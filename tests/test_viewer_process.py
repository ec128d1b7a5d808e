"""`spanlite ui` as a process: however it is stopped, the Streamlit it started stops with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from viewer_server import free_port, serving


def streamlit_serving(port: int) -> list[int]:
    """Every live process whose command line runs Streamlit on ``port``: what a user would find with ``ps``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended while we looked
            continue
        if b"streamlit" in argv and str(port).encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


def port_accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


STOPS = [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGHUP, False), (signal.SIGKILL, False)]
STOPS += [(signal.SIGINT, True)]  # Ctrl-C in a terminal: both processes get it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("signum", "group"), STOPS, ids=lambda v: v.name if isinstance(v, signal.Signals) else "")
def test_stopping_spanlite_ui_stops_streamlit(
    db_path: Path, tmp_path: Path, signum: signal.Signals, group: bool
) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "spanlite.cli", "ui", "--db", str(db_path), "--port", str(port)]
    env = {**os.environ, "SPANLITE_STRICT": "0"}
    # Its own session, as a service is: the signal goes to the pid alone (or, as Ctrl-C does, to its process group).
    with open(tmp_path / "ui.log", "wb") as log:
        with serving(argv, env, port, stdout=log, stderr=subprocess.STDOUT, start_new_session=True) as ui:
            assert streamlit_serving(port)
            (os.killpg if group else os.kill)(ui.pid, signum)
            ui.wait(60)
            try:
                deadline = time.monotonic() + 60
                while port_accepts(port) or streamlit_serving(port):
                    assert time.monotonic() < deadline, f"Streamlit outlived `spanlite ui` stopped by {signum.name}"
                    time.sleep(0.2)
            finally:  # what this test started and failed to stop: not left serving after it
                for pid in streamlit_serving(port):
                    os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in (tmp_path / "ui.log").read_text()
