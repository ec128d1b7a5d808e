"""An OTLP/HTTP trace receiver: apps in any process or language send spans, spanlite stores them.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` as protobuf (``application/x-protobuf``) or OTLP/JSON
(``application/json``), plain, gzip- or deflate-compressed, with a Content-Length or chunked. Each request is
decoded whole, its attributes mapped from other conventions onto spanlite's, then written in one transaction by a
writer process (``_span_sink``), and answered once committed: a bad body is a 400 and stores nothing. Bodies over
``max_body_bytes`` (after decompression, so a gzip bomb stops there) are a 413. A store that cannot write now (locked,
full disk) is a 503, which senders retry; spans it could never store, whatever the retries, a 400. The receiver logs
and answers every bad request and keeps serving. Built on the stdlib's ``ThreadingHTTPServer``: no web framework.

>>> with start_receiver("traces.db", port=0) as receiver:  # doctest: +SKIP
...     print(receiver.endpoint)
http://127.0.0.1:40123/v1/traces
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator


try:
    from google.protobuf import json_format
    from google.rpc import code_pb2, status_pb2
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    from ._otlp import OTLPDecodeError, decode_json, decode_protobuf
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        f"the spanlite OTLP receiver needs the 'otlp' extra ({exc.name} is missing): pip install 'spanlite[otlp]'"
    ) from exc

from ._span_sink import SpanSink

logger = logging.getLogger("spanlite")

TRACES_PATH = "/v1/traces"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_DECODERS: dict[str, Callable[[bytes], list[dict[str, Any]]]] = {
    _PROTOBUF: decode_protobuf,
    "application/protobuf": decode_protobuf,
    _JSON: decode_json,
}
_PROTOBUF_SUCCESS = ExportTraceServiceResponse().SerializeToString()
_JSON_SUCCESS = json_format.MessageToJson(ExportTraceServiceResponse(), indent=None).encode()
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_MAX_CHUNK_LINE = 1024


class _Reject(Exception):
    """A request answered with an error status; ``close`` when its body was not read to the end."""

    def __init__(self, status: HTTPStatus, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], db_path: Path, sink: SpanSink, max_body_bytes: int) -> None:
        self.db_path = db_path
        self.sink = sink
        self.max_body_bytes = max_body_bytes
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("spanlite receiver: error on a connection from %s (still serving)", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: OTel exporters reuse one connection
    timeout = 30  # a stalled client frees its thread
    # A response is written once, whole (a buffered wfile, flushed by http.server after each request), and sent
    # at once: a reply in two small writes would otherwise wait for the client's delayed ACK (~40 ms).
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "spanlite-otlp"

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        json_reply = content_type != _PROTOBUF and content_type != "application/protobuf"
        try:
            if self.path.split("?")[0].rstrip("/") != TRACES_PATH:
                message = f"no such endpoint {self.path!r}; send traces to {TRACES_PATH}"
                raise _Reject(HTTPStatus.NOT_FOUND, message, close=True)
            decode = _DECODERS.get(content_type)
            if decode is None:
                raise _Reject(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"unsupported Content-Type {content_type!r}; use {_PROTOBUF} or {_JSON}",
                    close=True,
                )
            body = self._decompressed(self._body())
            stored = self._store(decode, body)
        except _Reject as reject:
            logger.info("spanlite receiver: %d %s", reject.status, reject)
            if reject.close:
                self.close_connection = True
            self._reply_status(reject.status, str(reject), json_reply)
            return
        except Exception:
            logger.exception("spanlite receiver: could not handle a request (still serving)")
            self.close_connection = True
            self._reply_status(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error in the spanlite receiver", json_reply)
            return
        logger.debug("spanlite receiver: stored %d spans", stored)
        if json_reply:
            self._reply(HTTPStatus.OK, _JSON, _JSON_SUCCESS)
        else:
            self._reply(HTTPStatus.OK, _PROTOBUF, _PROTOBUF_SUCCESS)

    def handle_expect_100(self) -> bool:
        """Send the ``100 Continue`` now: with a buffered wfile it would wait for a body the client holds back."""
        super().handle_expect_100()
        self.wfile.flush()
        return True

    def do_GET(self) -> None:  # noqa: N802
        self._reply_status(HTTPStatus.METHOD_NOT_ALLOWED, f"POST OTLP traces to {TRACES_PATH}", True)

    def _body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise _Reject(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length or use chunked encoding", close=True)
        try:
            length = int(length_header)
        except ValueError:
            raise _Reject(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}", close=True) from None
        if length < 0:
            raise _Reject(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}", close=True)
        if length > limit:
            raise _Reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit), close=True)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _Reject(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length", close=True)
        return body

    def _chunked_body(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Reject(HTTPStatus.BAD_REQUEST, "malformed chunked encoding", close=True) from None
            if size < 0:
                raise _Reject(HTTPStatus.BAD_REQUEST, "malformed chunked encoding", close=True)
            if size == 0:
                break
            if len(body) + size > limit:
                raise _Reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit), close=True)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(_MAX_CHUNK_LINE).strip():
                raise _Reject(HTTPStatus.BAD_REQUEST, "malformed chunked encoding", close=True)
            body += chunk
        while (trailer := self.rfile.readline(_MAX_CHUNK_LINE)).strip():  # trailers: read and ignored
            pass
        if not trailer:
            raise _Reject(HTTPStatus.BAD_REQUEST, "chunked body ended early", close=True)
        return bytes(body)

    def _decompressed(self, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        limit = self.server.max_body_bytes
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            return _inflate(body, _GZIP_WBITS, limit)
        if encoding == "deflate":
            try:
                return _inflate(body, zlib.MAX_WBITS, limit)
            except _Reject:
                return _inflate(body, -zlib.MAX_WBITS, limit)  # some clients send raw deflate
        raise _Reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"unsupported Content-Encoding {encoding!r}; use gzip")

    def _store(self, decode: Callable[[bytes], list[dict[str, Any]]], body: bytes) -> int:
        try:
            spans = decode(body)
        except OTLPDecodeError as exc:
            raise _Reject(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if failure := self.server.sink.write(spans):  # which maps other conventions' attributes onto ours
            logger.warning("spanlite receiver could not write %d spans: %s", len(spans), failure.message)
            if failure.permanent:  # the spans' own fault: a retry would fail the same way, forever
                raise _Reject(HTTPStatus.BAD_REQUEST, f"these spans cannot be stored: {failure.message}")
            # Busy or full disk: 503 is retryable, so the sender's exporter tries again later.
            raise _Reject(HTTPStatus.SERVICE_UNAVAILABLE, f"the trace store is unavailable: {failure.message}")
        return len(spans)

    def _reply_status(self, status: HTTPStatus, message: str, json_reply: bool) -> None:
        """Errors carry a ``google.rpc.Status`` in the request's encoding, as OTLP/HTTP specifies."""
        code = code_pb2.INVALID_ARGUMENT if status < 500 else code_pb2.UNAVAILABLE
        body = status_pb2.Status(code=code, message=message)
        if json_reply:
            self._reply(status, _JSON, json_format.MessageToJson(body, indent=None).encode())
        else:
            self._reply(status, _PROTOBUF, body.SerializeToString())

    def _reply(self, status: HTTPStatus, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            self.send_header("Retry-After", "1")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
        logger.debug("spanlite receiver %s: " + format, self.address_string(), *args)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes, however small the input (a gzip bomb stops at the limit)."""
    out = bytearray()
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            out += inflater.decompress(data, limit + 1 - len(out))
            while not inflater.eof and len(out) <= limit:
                chunk = inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
                if not chunk and not inflater.unconsumed_tail:
                    break
                out += chunk
            if len(out) > limit:
                raise _Reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit))
            if not inflater.eof:
                raise _Reject(HTTPStatus.BAD_REQUEST, "compressed body is truncated")
            data = inflater.unused_data  # gzip allows several members back to back
    except zlib.error as exc:
        raise _Reject(HTTPStatus.BAD_REQUEST, f"body could not be decompressed: {exc}") from None
    return bytes(out)


def _too_large(limit: int) -> str:
    return f"body is larger than the receiver's limit of {limit} bytes (after decompression); send smaller batches"


class Receiver:
    """A running receiver; ``stop()`` (or leaving its ``with`` block) shuts it down and closes the store."""

    def __init__(self, server: _Server, thread: threading.Thread | None) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        host, port = server.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)
        self.db_path: Path = server.db_path

    @property
    def endpoint(self) -> str:
        """The URL to give an OTLP/HTTP exporter (``OTLPSpanExporter(endpoint=...)``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{TRACES_PATH}"

    @property
    def writer_pid(self) -> int | None:
        """The process writing into the store (``None``: the receiver's own, when no writer process runs)."""
        return self._server.sink.writer_pid

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self._server.sink.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _server(db: str | Path, host: str, port: int, max_body_bytes: int) -> _Server:
    path = Path(db).expanduser()
    sink = SpanSink(path)  # a bad path or a newer store fails here, before the port is taken
    try:
        return _Server((host, port), path, sink, max_body_bytes)
    except BaseException:
        sink.close()
        raise


def start_receiver(
    db: str | Path, host: str = "127.0.0.1", port: int = 0, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Receiver:
    """Serve in a background thread and return at once; ``port=0`` picks a free port (see ``.port``)."""
    server = _server(db, host, port, max_body_bytes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.name = f"spanlite-receiver-{server.server_address[1]}"
    thread.start()
    return Receiver(server, thread)


def serve(
    db: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> None:
    """Receive OTLP/HTTP traces into ``db`` until SIGINT (Ctrl-C) or SIGTERM; what ``spanlite serve`` runs.

    Point any OpenTelemetry SDK at it with ``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318``.
    """
    server = _server(db, host, port, max_body_bytes)
    receiver = Receiver(server, None)
    with _stopped_by_signals(server):  # until the store is closed: a second Ctrl-C must not cut that short
        try:
            print(f"spanlite: receiving OTLP/HTTP traces on {receiver.endpoint} into {db}", file=sys.stderr, flush=True)
            server.serve_forever()
        finally:
            receiver.stop()


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
