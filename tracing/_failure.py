"""How a span records the exception that failed it: as the SDK's ``record_exception`` does, at a bounded cost.

The SDK's way calls the app's ``str(exc)`` three times a span (the message, the traceback's last line, and our
status), and an exception that leaves several traced calls is recorded by each of them, its whole traceback
formatted again each time: leaving a traced recursion 900 deep took 30 s. Here ``str(exc)`` is asked once, however
many spans the exception fails, and each span formats only the frames the exception has left since the last one.
Its message is kept once in full (up to the field bound), in the event; the status and the stack trace's last line
hold only its start.
"""

from __future__ import annotations

import traceback
from types import TracebackType

from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from . import attributes as attr
from .serialize import MAX_FIELD_BYTES, MAX_NAME_BYTES, bounded_text

_TRACEBACK = "Traceback (most recent call last):\n"
# What ``traceback`` writes between chained exceptions (its own constants are private).
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


class _Failure:
    """An exception as recorded so far: its stack trace in parts, its own frames growing as it leaves each call."""

    __slots__ = ("exc", "type_name", "message", "status", "before", "after", "whole", "tb", "frames")

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        kind, module = type(exc), type(exc).__module__
        self.type_name = f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__
        # Its own frames are formatted apart (``own_frames``): their source lines are not looked up here.
        formatter = traceback.TracebackException(kind, exc, exc.__traceback__, compact=True, lookup_lines=False)
        # It has called str(exc), to format it, and keeps the text (3.11 to 3.13 at least): read, not asked again.
        message = getattr(formatter, "_str", None)
        if not isinstance(message, str):
            message = _safe_str(exc)
        short = bounded_text(message, MAX_NAME_BYTES)
        if short is not message and hasattr(formatter, "_str"):
            formatter._str = short  # so that the stack trace's last line holds the message's start only
        self.message = bounded_text(message, MAX_FIELD_BYTES)
        self.status = bounded_text(f"{kind.__name__}: {short}", MAX_NAME_BYTES)
        # An exception group's members interleave with its frames: its trace is formatted whole, once.
        self.whole = _cut_middle("".join(formatter.format())) if formatter.exceptions is not None else None
        self.before = ""  # the exceptions it was raised from or during, formatted
        if formatter.__cause__ is not None:
            self.before = _cut_middle("".join(formatter.__cause__.format())) + _CAUSE
        elif formatter.__context__ is not None and not formatter.__suppress_context__:
            self.before = _cut_middle("".join(formatter.__context__.format())) + _CONTEXT
        self.after = "".join(formatter.format_exception_only())  # its last line, and its notes
        self.tb: TracebackType | None = None  # where its frames began when they were last formatted
        self.frames = ""

    def stacktrace(self) -> str:
        """The stack trace as it is now, formatting only the frames the exception has left since last time."""
        if self.whole is not None:
            return self.whole
        tb, seen = self.exc.__traceback__, self.tb
        new = 0
        while tb is not None and tb is not seen:
            new, tb = new + 1, tb.tb_next
        if tb is None and seen is not None:  # not the traceback seen before (given another one): all of it anew
            self.frames = ""
            new = -1
        if new:
            head = traceback.extract_tb(self.exc.__traceback__, limit=new if new > 0 else None).format()
            self.frames = "".join(head) + self.frames
            self.tb = self.exc.__traceback__
        trace = self.before + (_TRACEBACK + self.frames if self.frames else "") + self.after
        return _cut_middle(trace)


def _cut_middle(trace: str) -> str:
    """``trace`` within the field bound, cut in the middle: its start says where it began, its end where it failed."""
    if len(trace) <= MAX_FIELD_BYTES and (len(trace) <= MAX_FIELD_BYTES // 4 or trace.isascii()):
        return trace
    text = trace.encode("utf-8", "surrogatepass")
    if len(text) <= MAX_FIELD_BYTES:
        return trace
    keep = max(MAX_FIELD_BYTES - 100, 4) // 4
    marker = f"\n…[{len(text) - 4 * keep} bytes cut by spanlite]…\n".encode()
    return (text[:keep] + marker + text[-3 * keep :]).decode("utf-8", "ignore")


# The last exception recorded, while spans may still be failing with it (as it leaves the calls they trace); let go
# of when a span ends without one, so that it does not keep the frames of its traceback alive for long.
last: _Failure | None = None


def record_failure(span: otel_trace.Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc``, with an ``exception`` event (type, message, stack trace)."""
    global last
    if not span.is_recording():
        return
    failure = last if last is not None and last.exc is exc else None
    if failure is None:
        failure = last = _Failure(exc)
    span.add_event(
        attr.EVENT_EXCEPTION,
        {
            attr.EXCEPTION_TYPE: failure.type_name,
            attr.EXCEPTION_MESSAGE: failure.message,
            attr.EXCEPTION_STACKTRACE: failure.stacktrace(),
            attr.EXCEPTION_ESCAPED: "False",
        },
    )
    span.set_status(Status(StatusCode.ERROR, failure.status))


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"
