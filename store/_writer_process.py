"""A child process that writes spans into the store, so SQLite's work runs beside the app, not in it.

Under sustained load the writer is most of what tracing costs a process: turning spans into rows, redaction,
SQLite inserts and index updates. The exporter hands such work to this child instead, over a pipe, as
``marshal``-ed packed spans (``_rows.pack_span``), or as rows already built and redacted by a caller with CPU to
spare (the receiver); each request is answered once the child has committed it, so the exporter's export stays
synchronous and the processor's retries, drop counting and flushes work unchanged. The child exits when its stdin
closes, that is, when the app closes it or dies; it ignores SIGINT and SIGTERM so a Ctrl-C or a stop sent to the
whole process group cannot kill it while the app is still flushing to it.

Frames are a 4-byte little-endian length followed by ``marshal`` data. Requests: ``("packed", packed_spans)``,
``("rows", rows)``, ``("dropped", count)``; replies: ``(ok, error, permanent)`` (``permanent``: this batch itself
cannot be stored, see ``SQLiteSpanExporter.last_error_permanent``), and ``(ok, detail)`` once, when the child has
opened the store. Between requests the child catches the text index up.
"""

from __future__ import annotations

import marshal
import select
import signal
import struct
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any, BinaryIO

_HEADER = struct.Struct("<I")
# Not ``-m``: this module is already imported with the package by the time runpy would run it as __main__.
_CHILD = "import sys; from spanlite.store._writer_process import main; main(*sys.argv[1:])"
READY = "ready"
IDLE_POLL_S = 0.2


class WriterGone(Exception):
    """The writer process has exited or stopped answering; the caller writes in-process instead."""


class WriterProcess:
    """The app's handle on one writer child for one store file."""

    def __init__(self, path: Path, redactors: list[str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), ",".join(redactors)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._to_child: BinaryIO = self._process.stdin
        self._from_child: BinaryIO = self._process.stdout
        # A handle dropped without close() (its exporter never shut down) still lets the child finish and exit.
        self._finalizer = weakref.finalize(self, _end, self._process, self._to_child, self._from_child, 5.0)
        try:
            ok, detail = self._receive()
        except WriterGone:
            self.close()
            raise
        if not ok:
            self.close()
            raise WriterGone(f"the writer process could not open the store: {detail}")

    @property
    def pid(self) -> int:
        return self._process.pid

    def request(self, message: tuple[str, Any]) -> tuple[bool, str | None, bool]:
        """Send one request and wait for its reply: ``(True, None, False)`` once committed, else ``(False, why,
        permanent)``."""
        try:
            _send(self._to_child, message)
        except OSError as exc:
            raise WriterGone(f"the writer process is gone ({exc})") from exc
        return self._receive()

    def _receive(self) -> tuple[bool, Any]:
        reply = _read(self._from_child)
        if reply is None:
            raise WriterGone(f"the writer process exited (code {self._process.poll()})")
        return reply

    def close(self, timeout_s: float = 5.0) -> None:
        """Let the child finish and exit (closing its stdin is the signal); kill it if it does not."""
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


def _end(process: subprocess.Popen[bytes], to_child: BinaryIO, from_child: BinaryIO, timeout_s: float) -> None:
    for stream in (to_child, from_child):
        try:
            stream.close()
        except OSError:
            pass
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _send(stream: BinaryIO, message: Any) -> None:
    data = marshal.dumps(message)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return marshal.loads(data)


def main(path: str, redactor_names: str) -> None:
    """Serve write requests from stdin until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from spanlite.tracing import redaction

    from .exporter import SQLiteSpanExporter

    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    steps = [redaction.BUILT_IN[name] for name in redactor_names.split(",") if name]
    try:
        exporter = SQLiteSpanExporter(path, redact=redaction.chain(*steps) if steps else None, writer="thread")
    except Exception as exc:  # a bad or newer store: the app writes in-process and reports it
        _send(replies, (False, f"{type(exc).__name__}: {exc}"))
        return
    _send(replies, (True, READY))
    idle_work_left = True
    while True:
        if idle_work_left and not select.select([requests], [], [], IDLE_POLL_S)[0]:
            idle_work_left = exporter.on_idle()
            continue
        message = _read(requests)
        if message is None:
            break
        kind, payload = message
        if kind == "packed":
            ok = exporter.write_packed(payload)
        elif kind == "rows":
            ok = exporter.write_rows(payload)
        else:
            ok = exporter.record_dropped(payload)
        _send(replies, (ok, None, False) if ok else (ok, exporter.last_error, exporter.last_error_permanent))
        idle_work_left = True
    exporter.shutdown()
