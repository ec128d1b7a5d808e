"""The viewer answers only to its own address and loopback names: a page whose domain an attacker points at this
machine (DNS rebinding) gets neither the websocket that carries the traces nor any HTTP route."""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import viewer_server
from spanlite.viewer.launch import viewer_command
from viewer_server import free_port

EVIL = "evil.example"


@contextlib.contextmanager
def serving(argv: list[str], env: dict[str, str], port: int) -> Iterator[IO[str]]:
    """Run the viewer until it answers on 127.0.0.1:``port``; yields its stderr."""
    output = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    with viewer_server.serving(argv, env, port, **output) as process:
        assert process.stderr is not None
        with process.stderr:
            yield process.stderr


def websocket_status(port: int, host: str, origin: str) -> int:
    """The status of a raw websocket handshake on the viewer's stream, as a browser at ``origin`` would send it."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        status_line = s.makefile("rb").readline()
    return int(status_line.split()[1])


def http_status(port: int, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": host})
        return connection.getresponse().status
    finally:
        connection.close()


def assert_only_own_names_answered(port: int) -> None:
    assert websocket_status(port, f"{EVIL}:{port}", f"http://{EVIL}:{port}") != 101
    assert websocket_status(port, f"127.0.0.1:{port}", f"http://{EVIL}:{port}") != 101
    assert http_status(port, f"{EVIL}:{port}") >= 400
    for own in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert websocket_status(port, own, f"http://{own}") == 101
        assert http_status(port, own) == 200


def test_the_viewer_refuses_a_foreign_host(db_path: Path) -> None:
    port = free_port()
    argv, env = viewer_command(db_path, port)
    with serving(argv, env, port):
        assert_only_own_names_answered(port)


def test_binding_every_interface_warns_that_there_is_no_login(db_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "spanlite.cli", "ui", "--db", str(db_path), "--host", "0.0.0.0", "--port", str(port)]
    with serving(argv, {**os.environ, "SPANLITE_STRICT": "0"}, port) as stderr:
        assert "no login" in stderr.readline()
        assert_only_own_names_answered(port)
    deadline = time.monotonic() + 30  # `spanlite ui` stopped by SIGTERM stops Streamlit too: the port closes
    while not port_closed(port):
        assert time.monotonic() < deadline, "Streamlit outlived `spanlite ui`"
        time.sleep(0.2)


def port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False
