"""A child process that writes spans into the store, so SQLite's work runs beside the app, not in it.

Under sustained load the writer is most of what tracing costs a process: turning spans into rows, redaction,
SQLite inserts and index updates. The exporter hands such work to this child instead, over a pipe, as
``marshal``-ed packed spans (``_rows.pack_span``), or as rows already built and redacted by a caller with CPU to
spare (the receiver); each request is answered once the child has committed it (and before it sees to the log,
which can take seconds), so the exporter's export stays
synchronous and the processor's retries, drop counting and flushes work unchanged. Several threads may send at
once (the receiver's do): their requests queue up in the pipe, so the child starts the next one as soon as it has
answered one, instead of waiting for a thread to wake and send it. The child exits when its stdin
closes, that is, when the app closes it or dies; it ignores SIGINT and SIGTERM so a Ctrl-C or a stop sent to the
whole process group cannot kill it while the app is still flushing to it.

Frames are a 4-byte little-endian length followed by ``marshal`` data. Requests: ``("packed", packed_spans, None)``,
``("rows", rows, give_up_at)``, ``("counts", {name: count}, give_up_at)`` (``give_up_at``: see
``SQLiteSpanExporter.store_rows``); replies: ``(ok, error, permanent)`` (``permanent``: this batch itself cannot be
stored, see ``SQLiteSpanExporter.last_error_permanent``), and ``(ok, detail)`` once, when the child has opened the
store. The child writes through a ``StoreWriter``, as the exporter does without a child; between requests it catches
the text index up.
"""

from __future__ import annotations

import collections
import io
import marshal
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

import orjson

from spanlite.tracing._threads import start_thread

from ._store_writer import StoreWriter

_HEADER = struct.Struct("<I")
# Not ``-m``: this module is already imported with the package by the time runpy would run it as __main__.
_CHILD = "import sys; from spanlite.store._writer_process import main; main(*sys.argv[1:])"
READY = "ready"
IDLE_POLL_S = 0.2
ANSWER_POLL_S = 0.1  # how often a request waiting for its answer looks at ``give_up_at``


class WriterGone(Exception):
    """The writer process has exited or stopped answering; the caller writes in-process instead."""


class WriterProcess:
    """The app's handle on one writer child for one store file."""

    def __init__(self, path: Path, redactors: list[str], prices: list[dict[str, Any]] | None = None) -> None:
        # ``prices``: the rows the app added to the bundled price table (``PriceTable.added``), as JSON.
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), ",".join(redactors), orjson.dumps(prices or []).decode()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            # Unbuffered: a buffered reader holds its lock while it waits, and the reply thread always waits, so
            # a forked copy of the app could never close its copy of the pipe (the lock stays held there for good).
            bufsize=0,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._to_child: IO[bytes] = self._process.stdin
        self._from_child: IO[bytes] = self._process.stdout
        self.give_up_at: float | None = None  # ``time.monotonic()`` after which no request waits for its answer
        # A handle dropped without close() (its exporter never shut down) still lets the child finish and exit.
        self._finalizer = weakref.finalize(self, _end, self._process, self._to_child, self._from_child, 5.0)
        # Not at exit: there the app closes its exporters by its exit deadline, and this child with them (or, left
        # open, it ends when the app does and its stdin closes); waiting up to 5 s here first would break that.
        self._finalizer.atexit = False
        reply = _read(self._from_child)
        if reply is None or not reply[0]:
            self.close()
            why = f"exited (code {self._process.poll()})" if reply is None else f"could not open the store: {reply[1]}"
            raise WriterGone(f"the writer process {why}")
        self._unanswered = _Unanswered()
        # The thread holds no reference to this handle, so that dropping the handle still ends the child.
        args = (self._from_child, self._unanswered, self._process)
        try:
            start_thread(_read_replies, "spanlite-writer-replies", *args)
        except RuntimeError as exc:  # Python 3.12+ starts no thread once the interpreter is shutting down
            self.close()
            raise WriterGone(f"no thread to read the writer process's answers ({exc})") from exc

    @property
    def pid(self) -> int:
        return self._process.pid

    def request(self, message: tuple[Any, ...]) -> tuple[bool, str | None, bool]:
        """Send one request and wait for its reply: ``(True, None, False)`` once committed, else ``(False, why,
        permanent)``. ``ValueError`` for a value ``marshal`` cannot carry; nothing is sent then."""
        return self.send(marshal.dumps(message))

    def send(self, request: bytes) -> tuple[bool, str | None, bool]:
        """``request`` for a request marshalled already."""
        frame = _frame(request)
        reply: Future[tuple[bool, str | None, bool]] = Future()
        unanswered = self._unanswered
        with unanswered.sending:
            if unanswered.ended:
                raise WriterGone(f"the writer process exited (code {self._process.poll()})")
            unanswered.replies.append(reply)
            try:
                _write_all(self._to_child, frame)
            except (OSError, ValueError) as exc:  # the child is gone, or its pipe is being closed
                raise WriterGone(f"the writer process is gone ({exc})") from exc
        while True:  # the app may begin to end, and set ``give_up_at``, while the child works on it
            try:
                return reply.result(timeout=ANSWER_POLL_S)
            except TimeoutError:
                if self.give_up_at is not None and time.monotonic() >= self.give_up_at:
                    return self._abandon(reply)

    def _abandon(self, reply: Future[tuple[bool, str | None, bool]]) -> tuple[bool, str | None, bool]:
        """Past the deadline: end the child now, so that a request it was working on is either answered or never
        stored, and never stored after the app has counted its spans as dropped."""
        self._process.kill()
        self._process.wait()
        try:
            return reply.result(timeout=1.0)  # an answer it had written before it died, read by the reply thread
        except (WriterGone, TimeoutError):
            return False, "the writer process did not finish by the deadline", False

    def close(self, timeout_s: float = 5.0) -> None:
        """Let the child finish and exit (closing its stdin is the signal); kill it if it does not in ``timeout_s``,
        so that a request it has not answered is not stored after all."""
        self._finalizer.detach()
        _end(self._process, self._to_child, self._from_child, timeout_s)

    def forget(self) -> None:
        """In a forked child of the app: drop our copies of the pipes, which belong to the parent's writer."""
        self._finalizer.detach()
        for stream in (self._to_child, self._from_child):
            try:
                stream.close()  # closes this process's copy of the pipe only; the parent's stays open
            except OSError:
                pass


class _Unanswered:
    """Requests sent and not yet answered, in the order they were sent, which is the order the child answers them."""

    def __init__(self) -> None:
        self.sending = threading.Lock()  # one frame at a time into the pipe, queued here in the same order
        self.replies: collections.deque[Future[tuple[bool, str | None, bool]]] = collections.deque()
        self.ended = False  # the child's replies have ended: nothing sent from now on would be answered


def _read_replies(from_child: IO[bytes], unanswered: _Unanswered, process: subprocess.Popen[bytes]) -> None:
    """Hand each reply to the oldest request; once replies end (the child exited), fail the requests left."""
    while (reply := _reply(from_child)) is not None:
        unanswered.replies.popleft().set_result(reply)
    with unanswered.sending:
        unanswered.ended = True
        left = list(unanswered.replies)
        unanswered.replies.clear()
    gone = WriterGone(f"the writer process exited (code {process.poll()})")
    for request in left:
        request.set_exception(gone)


def _reply(from_child: IO[bytes]) -> Any:
    """The child's next reply, or ``None`` once there are no more: it exited, or ``close`` closed its pipe."""
    try:
        return _read(from_child)
    except (OSError, ValueError):  # ValueError: the pipe was closed under the read, once the child had exited
        return None


def _end(process: subprocess.Popen[bytes], to_child: IO[bytes], from_child: IO[bytes], timeout_s: float) -> None:
    """Close the child's stdin, wait for it to exit, then close its stdout, which the reply thread reads to the end."""
    try:
        to_child.close()
    except OSError:
        pass
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:
        from_child.close()
    except OSError:
        pass


def _frame(data: bytes) -> bytes:
    return _HEADER.pack(len(data)) + data


def _send(stream: IO[bytes], message: Any) -> None:
    _write_all(stream, _frame(marshal.dumps(message)))
    stream.flush()


def _write_all(stream: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) :]


def _read(stream: IO[bytes]) -> Any:
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    data = _read_exactly(stream, size)
    return None if data is None else marshal.loads(data)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes, or ``None`` if the pipe closes first; an unbuffered pipe hands them over in pieces."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        if not (part := stream.read(size - got)):
            return None
        parts.append(part)
        got += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _null(value: None) -> None:
    return value


def main(path: str, redactor_names: str, prices: str = "[]") -> None:
    """Serve write requests from stdin until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The sqlite3 module looks for an adapter for every None it binds, and not finding one costs it an
    # AttributeError made and cleared; a span's row binds about seven. This process is ours, so None gets one.
    sqlite3.register_adapter(type(None), _null)
    from spanlite.tracing import redaction

    # Unbuffered, so that ``select`` sees every request waiting: a buffered reader could hold a whole small one
    # that has left the pipe, and the child would sit idle beside it.
    requests, replies = io.FileIO(sys.stdin.fileno(), "r", closefd=False), sys.stdout.buffer
    from .prices import PriceTable

    steps = [redaction.BUILT_IN[name] for name in redactor_names.split(",") if name]
    try:
        added = orjson.loads(prices)
        table = PriceTable.bundled().with_rows(added) if added else None
        writer = StoreWriter(Path(path), redaction.chain(*steps) if steps else None, table)
    except Exception as exc:  # a bad or newer store: the app writes in-process and reports it
        _send(replies, (False, f"{type(exc).__name__}: {exc}"))
        return
    writer.upkeep_later = True
    try:
        _send(replies, (True, READY))
        _serve(writer, requests, replies)
    except BrokenPipeError:  # the app has ended without waiting for an answer (it need not wait for a child starting)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush does not fail too
    writer.close()


def _serve(writer: StoreWriter, requests: IO[bytes], replies: IO[bytes]) -> None:
    idle_work_left = True
    while True:
        if idle_work_left and not select.select([requests], [], [], IDLE_POLL_S)[0]:
            idle_work_left = writer.on_idle()
            continue
        message = _read(requests)
        if message is None:
            break
        kind, payload, give_up_at = message
        if kind == "packed":
            failure = writer.write_packed(payload)
        elif kind == "rows":
            failure = writer.write_rows(payload, give_up_at)
        else:
            failure = writer.add_counts(payload, give_up_at)
        _send(replies, (True, None, False) if failure is None else (False, *failure))
        writer.upkeep()  # once the app knows: it may end, and kill this process, while the log is rewound
        idle_work_left = True
