"""The part every fake provider server shares: an HTTP/1.1 server on 127.0.0.1 (a free port) in a daemon thread."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer(ThreadingHTTPServer):
    """Started with ``start()``, reached at ``url``; a fake keeps what it was asked in ``requests``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[Any] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive, no Nagle delay, no log lines."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms per call

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def json_body(self) -> Any:
        """The request's JSON body; ``{}`` when there is none."""
        return json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
