"""The real viewer served for a test: a free port, and the process until it answers, ended afterwards."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    argv: list[str], env: dict[str, str], port: int, startup_s: float = 60, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """Run the viewer (``viewer_command``) until it answers on 127.0.0.1:``port``; ``popen`` says where its output
    goes. Ended, and killed if it will not end, when the block leaves."""
    process = subprocess.Popen(argv, env=env, cwd=ROOT, **popen)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the viewer did not start"
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
