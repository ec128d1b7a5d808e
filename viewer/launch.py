"""Start the viewer: what ``spanlite ui`` calls.

The viewer has no login, so it answers only to the names it is served under: loopback, and the address it is bound
to. A web page whose domain an attacker points at this machine (DNS rebinding) is refused.

>>> from spanlite.viewer.launch import run_viewer
>>> run_viewer(Path("traces.db"), port=8501)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVE = Path(__file__).with_name("serve.py")
DB_ENV = "SPANLITE_DB"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
EVERY_INTERFACE = ("0.0.0.0", "::", "")
PARENT_ENV = "SPANLITE_UI_PARENT"  # the pid of the run_viewer that started Streamlit, which stops when it is gone
# How a process is asked to stop; Windows has no SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
ORPHAN_CHECK_S = 1.0


def viewer_command(
    db: Path, port: int, host: str = "127.0.0.1", headless: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the viewer for ``db``; tests start it with ``Popen``."""
    # -P: the user's working folder is not put first on sys.path, so a ``spanlite/`` or ``pandas.py`` in it cannot
    # shadow what the viewer imports.
    argv = [
        sys.executable, "-P", "-m", "streamlit", "run", str(SERVE),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # the viewer's own code does not change while it runs
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu: this is a tool, not an app in dev
    ]  # fmt: skip
    for name in allowed_hosts(host):
        argv += ["--server.allowedHosts", name]
    env = {**os.environ, DB_ENV: str(Path(db).expanduser().resolve())}
    return argv, env


def allowed_hosts(host: str) -> list[str]:
    """The names the viewer answers to (in the ``Host`` header): loopback's, and the bound address or, bound to every
    interface, this machine's own names and addresses."""
    names = [*LOOPBACK, host.strip("[]")] if host not in EVERY_INTERFACE else [*LOOPBACK, *_own_names()]
    return list(dict.fromkeys(name.lower() for name in names))


def run_viewer(db: Path, port: int, host: str = "127.0.0.1", headless: bool = True) -> int:
    """Serve the viewer on ``host:port`` until stopped (SIGTERM, SIGINT, SIGHUP: Streamlit stops first); returns
    Streamlit's exit code (2: not installed)."""
    if importlib.util.find_spec("streamlit") is None:
        print("The viewer needs Streamlit: pip install 'spanlite[viewer]'", file=sys.stderr)
        return 2
    if not _is_loopback(host):
        print(
            f"Warning: the viewer has no login: anyone who can reach {host}:{port} can read and rate every trace in "
            f"{db}. Keep to 127.0.0.1 (the default) unless this network is yours. It answers only to the names "
            f"{', '.join(allowed_hosts(host))}; to use another, bind it: --host <address or name>.",
            file=sys.stderr,
            flush=True,
        )
    argv, env = viewer_command(db, port, host, headless)
    streamlit = subprocess.Popen(argv, env={**env, PARENT_ENV: str(os.getpid())})
    # However this process is asked to stop (a service manager's SIGTERM, Ctrl-C, a closed terminal's SIGHUP, `kill`
    # of this pid alone), Streamlit stops too rather than keep serving re-parented; SIGKILL, which no handler sees,
    # Streamlit notices itself (``stop_when_orphaned``).
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():  # where Python lets us handle signals
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, lambda signum, frame: streamlit.terminate())
    try:
        return streamlit.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_when_orphaned() -> None:
    """In the viewer's process: stop as on SIGTERM once the ``run_viewer`` that started it is gone, even killed by
    SIGKILL; without this Streamlit would keep serving the port with nobody to stop it."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():  # not started by run_viewer (a test's Popen, a service of its own): nothing to watch
        return

    def watch() -> None:
        while os.getppid() == int(parent):  # a dead parent's child is re-parented: its parent pid changes
            time.sleep(ORPHAN_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="spanlite-orphan-watch", daemon=True).start()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _own_names() -> list[str]:
    """This machine's host names and the addresses they resolve to: how other machines may reach it."""
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        names += [str(info[4][0]) for info in socket.getaddrinfo(names[0], None)]
    except OSError:  # a host name that does not resolve: the names alone
        pass
    return names
