"""An OTLP/HTTP trace receiver: apps in any process or language send spans, spanlite stores them.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` as protobuf (``application/x-protobuf``) or OTLP/JSON
(``application/json``), plain, gzip- or deflate-compressed, with a Content-Length or chunked. Each request is
decoded whole, its attributes mapped from other conventions onto spanlite's, then written in one transaction by a
writer process (``_span_sink``), and answered once committed: a bad body is a 400 and stores nothing. Bodies over
``max_body_bytes`` (after decompression, so a gzip bomb stops there) are a 413. A store that cannot write now (locked,
full disk) is a 503, which senders retry; spans it could never store, whatever the retries, a 400.

Under load it answers every sender well within its timeout rather than making all of them wait
(``_request_handler``): a few requests are worked on at once and the others are a 429, a locked store a 503 within
about a second, both with ``Retry-After``; connections are capped (503 beyond), and slow senders are cut off. Every
refusal is a rate-limited warning and a count in ``stats()``. Built on the stdlib's ``ThreadingHTTPServer``, one
thread per connection: no web framework.

>>> with start_receiver("traces.db", port=0) as receiver:  # doctest: +SKIP
...     print(receiver.endpoint)
http://127.0.0.1:40123/v1/traces
"""

from __future__ import annotations

import contextlib
import logging
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from spanlite.tracing import _settings

try:
    from . import _request_handler as handling
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        f"the spanlite OTLP receiver needs the 'otlp' extra ({exc.name} is missing): pip install 'spanlite[otlp]'"
    ) from exc

from ._span_sink import SpanSink

if TYPE_CHECKING:
    from spanlite.store.prices import PriceTable

logger = logging.getLogger("spanlite")

TRACES_PATH = handling.TRACES_PATH
DEFAULT_PORT = 4318
# The OTel SDK's default batch is 512 spans; 512 GenAI spans of ~88 KB (long prompts) weigh 43 MiB as protobuf. The
# Python SDK's exporter sends up to 64 MiB (its ``max_request_size``), so every batch it sends fits.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES_VARIABLE = "SPANLITE_MAX_BODY_BYTES"
MIN_BODY_BYTES = 1024
MAX_CONNECTIONS = 1000  # each holds a thread and a file descriptor; the next one is a 503
LISTEN_BACKLOG = 1024  # a burst of new connections waits here to be accepted (the kernel may cap it: somaxconn)
MAX_REQUESTS_IN_FLIGHT = 4  # decoded and stored at once: enough to keep the writer process busy
ADMIT_WAIT_S = 1.0  # a request waits this long for one of those before it is a 429
LOCKED_STORE_WAIT_S = 1.0  # a store locked by another connection is a 503 this long after a request is sent
HEADER_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0  # OTel SDKs export every 5 s by default, over one kept-alive connection
BODY_TIMEOUT_S = 30.0  # 64 MiB needs 2.2 MB/s
_MAX_REFUSED = 256
_FILES_KEPT = 64  # file descriptors left for the store, its writer process and the rest of the process


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], context: handling.Context) -> None:
        self.context = context
        self._cap = _connection_cap()
        self._connections = threading.BoundedSemaphore(self._cap)
        self._refused: list[tuple[socket.socket, float]] = []  # answered 503, their requests still being read
        handler = type("_Handler", (handling.Handler,), {"context": context})
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a connection's thread, or answer 503 at once when there are as many as the cap."""
        if not self._connections.acquire(blocking=False):
            status, message = HTTPStatus.SERVICE_UNAVAILABLE, f"more than {self._cap} connections at once"
            self.context.rejections.note("too_many_connections", status, message, client_address[0])
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 without a thread and without blocking the loop that accepts (the answer fits the socket's
        buffer), then read what the client sends until it closes, for at most ``LINGER_S``, as ``handling.linger``
        does, but from the serving loop (``service_actions``)."""
        try:
            request.setblocking(False)
            request.send(handling.canned_reply(HTTPStatus.SERVICE_UNAVAILABLE, retry=True))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        if len(self._refused) >= _MAX_REFUSED:
            request.close()
            return
        self._refused.append((request, time.monotonic() + handling.LINGER_S))

    def service_actions(self) -> None:
        """Between accepts: let go of the refused connections that have ended or lingered long enough."""
        now = time.monotonic()
        lingering = []
        for sock, until in self._refused:
            if now < until and not _ended(sock):
                lingering.append((sock, until))
            else:
                sock.close()
        self._refused = lingering

    def server_close(self) -> None:
        super().server_close()
        for sock, _ in self._refused:
            sock.close()
        self._refused = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("spanlite receiver: error on a connection from %s (still serving)", client_address)


def _ended(sock: socket.socket) -> bool:
    """Read whatever a non-blocking socket holds; whether its client has closed it (or it failed)."""
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


def _connection_cap() -> int:
    """``MAX_CONNECTIONS``, or fewer where the process may not open that many files: past that limit ``accept``
    fails at once, and the serving loop would spin on it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - _FILES_KEPT))


class Receiver:
    """A running receiver; ``stop()`` (or leaving its ``with`` block) shuts it down and closes the store."""

    def __init__(self, server: _Server, thread: threading.Thread | None) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        host, port = server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.db_path: Path = server.context.db_path

    @property
    def endpoint(self) -> str:
        """The URL to give an OTLP/HTTP exporter (``OTLPSpanExporter(endpoint=...)``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{TRACES_PATH}"

    @property
    def writer_pid(self) -> int | None:
        """The process writing into the store (``None``: the receiver's own, when no writer process runs)."""
        return self._server.context.sink.writer_pid

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self._server.context.rejections.close()  # their last counts, while the store is still open
        self._server.context.sink.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _server(db: str | Path, host: str, port: int, max_body_bytes: int | None, prices: PriceTable | None) -> _Server:
    path = Path(db).expanduser()
    if max_body_bytes is None:
        max_body_bytes = _settings.size(MAX_BODY_BYTES_VARIABLE, DEFAULT_MAX_BODY_BYTES, minimum=MIN_BODY_BYTES)
    limits = handling.Limits(
        max_body_bytes=max_body_bytes,
        max_in_flight=MAX_REQUESTS_IN_FLIGHT,
        admit_wait_s=ADMIT_WAIT_S,
        header_timeout_s=HEADER_TIMEOUT_S,
        idle_timeout_s=IDLE_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
    )
    # a bad path or a newer store fails here, before the port is taken
    sink = SpanSink(path, LOCKED_STORE_WAIT_S, prices)
    context = handling.Context(path, sink, limits)
    try:
        return _Server((host, port), context)
    except BaseException:
        context.rejections.close()
        sink.close()
        raise


def start_receiver(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_body_bytes: int | None = None,
    prices: PriceTable | None = None,
) -> Receiver:
    """Serve in a background thread and return at once; ``port=0`` picks a free port (see ``.port``).

    ``max_body_bytes``: the largest request body taken, after decompression (default: ``$SPANLITE_MAX_BODY_BYTES``,
    else 64 MiB). ``prices``: what received model calls' costs are reckoned by (``spanlite.store.prices.load``;
    default: the bundled table).
    """
    server = _server(db, host, port, max_body_bytes, prices)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.name = f"spanlite-receiver-{server.server_address[1]}"
    thread.start()
    return Receiver(server, thread)


def serve(
    db: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    max_body_bytes: int | None = None,
    prices: PriceTable | None = None,
) -> None:
    """Receive OTLP/HTTP traces into ``db`` until SIGINT (Ctrl-C) or SIGTERM; what ``spanlite serve`` runs.

    Point any OpenTelemetry SDK at it with ``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``.
    """
    server = _server(db, host, port, max_body_bytes, prices)
    receiver = Receiver(server, None)
    with _stopped_by_signals(server):  # until the store is closed: a second Ctrl-C must not cut that short
        try:
            limit = _size(server.context.limits.max_body_bytes)
            print(
                f"spanlite: receiving OTLP/HTTP traces on {receiver.endpoint} into {db} (bodies up to {limit})",
                file=sys.stderr,
                flush=True,
            )
            server.serve_forever()
        finally:
            receiver.stop()


def _size(n: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} bytes"


@contextlib.contextmanager
def _stopped_by_signals(server: _Server) -> Iterator[None]:
    """SIGINT and SIGTERM end ``serve_forever`` after its current step, so that the store is closed cleanly.

    Installed whatever the signals were: a shell runs ``spanlite serve &`` with SIGINT ignored, and Python then
    leaves it ignored. ``shutdown`` waits for the serving loop, so it is called from a thread of its own.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, name="spanlite-receiver-stop", daemon=True).start()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
