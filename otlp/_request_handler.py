"""One connection to the OTLP receiver: read each request within its deadlines, take it if there is room, answer.

A sender is answered well within its own timeout (the OTel SDK's is 10 s), whatever the other senders or the store
are doing: reading a request's header and its body each have a deadline of their own, for the whole of it, not per
read, so a sender that trickles bytes loses its connection (408) instead of holding a thread for good. A request is
decoded and stored only in one of ``max_in_flight`` slots: with none free within ``admit_wait_s`` it is a 429, and a
store that another connection holds locked is a 503 soon after the request is handed to it (``SpanSink``), both with
``Retry-After``, which OTel exporters honour. A 200 is sent once the spans are committed, so nothing answered 200 is
lost. A refused request whose body is left unread is answered before its client has sent it all: the connection
lingers (``linger``) so that the client reads the answer instead of a reset. Every refusal is told and counted
(``_rejections``).
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socket import SHUT_WR, socket
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ._decode import OTLPDecodeError, decode_json, decode_protobuf
from ._inflate import GZIP, RAW_DEFLATE, ZLIB, TooLarge, inflate
from ._rejections import Rejections
from ._span_sink import SpanSink

logger = logging.getLogger("spanlite")

TRACES_PATH = "/v1/traces"
RETRY_AFTER_S = 1
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_DECODERS: dict[str, Callable[[bytes], list[dict[str, Any]]]] = {
    _PROTOBUF: decode_protobuf,
    "application/protobuf": decode_protobuf,
    _JSON: decode_json,
}
_PROTOBUF_SUCCESS = ExportTraceServiceResponse().SerializeToString()
_JSON_SUCCESS = json_format.MessageToJson(ExportTraceServiceResponse(), indent=None).encode()
_MAX_CHUNK_LINE = 1024
_DISCARD = 64 * 1024
_HTTP_SERVER_REASONS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "too_large",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "too_large",
    HTTPStatus.NOT_IMPLEMENTED: "method_not_allowed",  # a method with no ``do_`` here: PUT, say
}
LINGER_S = 2.0
_SEND_TIMEOUT_S = 30.0  # a reply that a client does not read within this is given up, with its connection


@dataclass(frozen=True)
class Limits:
    """What one receiver takes; ``receiver`` makes them from its settings."""

    max_body_bytes: int
    max_in_flight: int  # requests being read, decoded and stored at once
    admit_wait_s: float  # how long a request waits for one of those slots before it is a 429
    header_timeout_s: float  # for a request's line and headers, from its first byte (a connection's first: from accept)
    idle_timeout_s: float  # for the next request on a kept-alive connection to begin
    body_timeout_s: float  # for a request's whole body


class Context:
    """What every connection's handler shares: the store, the limits, the free slots, the refusals."""

    def __init__(self, db_path: Path, sink: SpanSink, limits: Limits) -> None:
        self.db_path = db_path
        self.sink = sink
        self.limits = limits
        self.slots = threading.BoundedSemaphore(limits.max_in_flight)
        self.rejections = Rejections(sink)


class Reject(Exception):
    """A request answered with an error status; ``close`` when its body was not read to the end."""

    def __init__(self, status: HTTPStatus, reason: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # the counter it is told and counted under (``_rejections``)
        self.close = close


class DeadlineReader(io.RawIOBase):
    """A connection's socket, read until one ``deadline`` (``time.monotonic()``) for a whole phase, not per read."""

    def __init__(self, sock: socket) -> None:
        self._sock = sock
        self.deadline = math.inf
        self.timed_out = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left > 0:
            self._sock.settimeout(left)
            try:
                return self._sock.recv_into(buffer)
            except TimeoutError:
                pass
            finally:
                self._sock.settimeout(_SEND_TIMEOUT_S)
        self.timed_out = True
        raise TimeoutError("the request took too long to arrive")


def linger(sock: socket) -> None:
    """Read what the client still sends, for at most ``LINGER_S``, once the answer is sent (``SHUT_WR``): a socket
    closed with data unread is reset, and a client still sending its request would never read the answer."""
    deadline = time.monotonic() + LINGER_S
    try:
        sock.shutdown(SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(_DISCARD):
                return
    except OSError:
        pass


def canned_reply(status: HTTPStatus, *, retry: bool = False) -> bytes:
    """A bodiless answer that closes the connection, for when the request is not (or not wholly) read."""
    retry_after = f"Retry-After: {RETRY_AFTER_S}\r\n" if retry else ""
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Length: 0\r\nConnection: close\r\n{retry_after}\r\n"
    return head.encode()


class Handler(BaseHTTPRequestHandler):
    context: Context  # set on the subclass each receiver makes
    rfile: io.BufferedReader  # setup() makes it one, over the deadline reader
    protocol_version = "HTTP/1.1"  # keep-alive: OTel exporters reuse one connection
    # A response is written once, whole (a buffered wfile, flushed by http.server after each request), and sent
    # at once: a reply in two small writes would otherwise wait for the client's delayed ACK (~40 ms).
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "spanlite-otlp"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket is read through the deadline reader instead
        self._reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 64 * 1024)
        self._requests = 0
        self._unread = False  # a refused request's body is left unread: the client may still be sending it

    def finish(self) -> None:
        super().finish()
        if self._unread:
            linger(self.connection)

    def handle_one_request(self) -> None:
        """Wait for the next request (a connection's first shares its header's deadline), then handle it."""
        limits = self.context.limits
        now = time.monotonic()
        self._reader.deadline = now + (limits.header_timeout_s if self._requests == 0 else limits.idle_timeout_s)
        self._reader.timed_out = False
        try:
            begun = self.rfile.peek(1)
        except OSError:  # a silent connection, or one the client reset: closed without a word
            begun = b""
        if not begun:
            self.close_connection = True
            return
        if self._requests:
            self._reader.deadline = time.monotonic() + limits.header_timeout_s
        self._requests += 1
        super().handle_one_request()  # closes the connection on a TimeoutError
        if self._reader.timed_out:
            self._note(HTTPStatus.REQUEST_TIMEOUT, "timeout", "the request took too long to arrive; connection closed")
            self._send_and_close(canned_reply(HTTPStatus.REQUEST_TIMEOUT))

    def do_POST(self) -> None:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        json_reply = content_type != _PROTOBUF and content_type != "application/protobuf"
        try:
            if self.path.split("?")[0].rstrip("/") != TRACES_PATH:
                message = f"no such endpoint {self.path!r}; send traces to {TRACES_PATH}"
                raise Reject(HTTPStatus.NOT_FOUND, "not_found", message, close=True)
            decode = _DECODERS.get(content_type)
            if decode is None:
                message = f"unsupported Content-Type {content_type!r}; use {_PROTOBUF} or {_JSON}"
                raise Reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message, close=True)
            length = self._content_length()
            if not self.context.slots.acquire(timeout=self.context.limits.admit_wait_s):
                self._discard_body(length)
                message = "the receiver is busy with other requests; retry later"
                raise Reject(HTTPStatus.TOO_MANY_REQUESTS, "busy", message, close=length is None)
            try:
                stored = self._store(decode, self._decompressed(self._body(length)))
            finally:
                self.context.slots.release()
        except TimeoutError:
            raise  # a sender too slow to finish its request: ``handle_one_request`` closes the connection
        except Reject as reject:
            self._note(reject.status, reject.reason, str(reject))
            if reject.close:
                self.close_connection = True
                self._unread = True
            self._reply_status(reject.status, str(reject), json_reply)
            return
        except Exception:
            logger.exception("spanlite receiver: could not handle a request (still serving)")
            self.close_connection = True
            self._reply_status(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error in the spanlite receiver", json_reply)
            return
        self.log_message("stored %d spans", stored)
        if json_reply:
            self._reply(HTTPStatus.OK, _JSON, _JSON_SUCCESS)
        else:
            self._reply(HTTPStatus.OK, _PROTOBUF, _PROTOBUF_SUCCESS)

    def do_GET(self) -> None:
        message = f"POST OTLP traces to {TRACES_PATH}"
        self._note(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", message)
        self._reply_status(HTTPStatus.METHOD_NOT_ALLOWED, message, True)

    def handle_expect_100(self) -> bool:
        """Send the ``100 Continue`` now: with a buffered wfile it would wait for a body the client holds back."""
        super().handle_expect_100()
        self.wfile.flush()
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line or header) are told and counted like ours."""
        status = HTTPStatus(code)
        self._note(status, _HTTP_SERVER_REASONS.get(status, "malformed"), message or status.phrase)
        super().send_error(code, message, explain)

    def _content_length(self) -> int | None:
        """The body's declared length, ``None`` for a chunked one; refused here if it is over the limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            message = "send a Content-Length or use chunked encoding"
            raise Reject(HTTPStatus.LENGTH_REQUIRED, "length_required", message, close=True)
        try:
            length = int(length_header)
        except ValueError:
            raise Reject(
                HTTPStatus.BAD_REQUEST, "malformed", f"bad Content-Length {length_header!r}", close=True
            ) from None
        if length < 0:
            raise Reject(HTTPStatus.BAD_REQUEST, "malformed", f"bad Content-Length {length_header!r}", close=True)
        if length > self.context.limits.max_body_bytes:
            raise _too_large(self.context.limits.max_body_bytes, close=True)
        return length

    def _body(self, length: int | None) -> bytes:
        self._reader.deadline = time.monotonic() + self.context.limits.body_timeout_s
        if length is None:
            return self._chunked_body(self.context.limits.max_body_bytes)
        body = self.rfile.read(length)
        if len(body) != length:
            raise Reject(HTTPStatus.BAD_REQUEST, "malformed", "body shorter than its Content-Length", close=True)
        return body

    def _discard_body(self, length: int | None) -> None:
        """Read a refused request's body to its end, so the connection can carry the next one; a chunked body is
        not read (the connection is closed instead)."""
        if length is None:
            return
        self._reader.deadline = time.monotonic() + self.context.limits.body_timeout_s
        while length > 0 and (piece := self.rfile.read(min(length, _DISCARD))):
            length -= len(piece)

    def _chunked_body(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _malformed_chunks() from None
            if size < 0:
                raise _malformed_chunks()
            if size == 0:
                break
            if len(body) + size > limit:
                raise _too_large(limit, close=True)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(_MAX_CHUNK_LINE).strip():
                raise _malformed_chunks()
            body += chunk
        while (trailer := self.rfile.readline(_MAX_CHUNK_LINE)).strip():  # trailers: read and ignored
            pass
        if not trailer:
            raise Reject(HTTPStatus.BAD_REQUEST, "malformed", "chunked body ended early", close=True)
        return bytes(body)

    def _decompressed(self, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        limit = self.context.limits.max_body_bytes
        if encoding in ("", "identity"):
            return body
        try:
            if encoding in ("gzip", "x-gzip"):
                return inflate(body, GZIP, limit)
            if encoding == "deflate":
                try:
                    return inflate(body, ZLIB, limit)
                except TooLarge:
                    raise
                except ValueError:
                    return inflate(body, RAW_DEFLATE, limit)  # some clients send raw deflate
        except TooLarge:
            raise _too_large(limit) from None
        except ValueError as exc:
            raise Reject(HTTPStatus.BAD_REQUEST, "malformed", str(exc)) from None
        message = f"unsupported Content-Encoding {encoding!r}; use gzip"
        raise Reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)

    def _store(self, decode: Callable[[bytes], list[dict[str, Any]]], body: bytes) -> int:
        try:
            spans = decode(body)
        except OTLPDecodeError as exc:
            raise Reject(HTTPStatus.BAD_REQUEST, "malformed", str(exc)) from None
        if failure := self.context.sink.write(spans):  # which maps other conventions' attributes onto ours
            if failure.permanent:  # the spans' own fault: a retry would fail the same way, forever
                message = f"these spans cannot be stored: {failure.message}"
                raise Reject(HTTPStatus.BAD_REQUEST, "unstorable", message)
            # Locked or full disk: 503 is retryable, so the sender's exporter tries again later.
            message = f"the trace store is unavailable: {failure.message}"
            raise Reject(HTTPStatus.SERVICE_UNAVAILABLE, "store_unavailable", message)
        return len(spans)

    def _note(self, status: HTTPStatus, reason: str, message: str) -> None:
        self.context.rejections.note(reason, status.value, message, self.address_string())

    def _reply_status(self, status: HTTPStatus, message: str, json_reply: bool) -> None:
        """Errors carry a ``google.rpc.Status`` in the request's encoding, as OTLP/HTTP specifies."""
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            code = code_pb2.RESOURCE_EXHAUSTED
        else:
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
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            self.send_header("Retry-After", str(RETRY_AFTER_S))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _send_and_close(self, reply: bytes) -> None:
        self.close_connection = True
        try:
            self.wfile.write(reply)
            self.wfile.flush()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("spanlite receiver %s: " + format, self.address_string(), *args)


def _too_large(limit: int, *, close: bool = False) -> Reject:
    message = (
        f"body is larger than the receiver's limit of {limit} bytes (after decompression); send smaller batches "
        "or raise the limit (spanlite serve --max-body-size, $SPANLITE_MAX_BODY_BYTES)"
    )
    return Reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", message, close=close)


def _malformed_chunks() -> Reject:
    return Reject(HTTPStatus.BAD_REQUEST, "malformed", "malformed chunked encoding", close=True)
