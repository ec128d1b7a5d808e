"""How a span records the exception that failed it: as the SDK's ``record_exception`` does, at a bounded cost.

The SDK's way calls the app's ``str(exc)`` three times a span (the message, the traceback's last line, and our
status), and an exception that leaves several traced calls is recorded by each of them. An app's ``__str__`` may be
slow, and its text huge: here it is asked once, however many spans the exception fails, and its message kept once
in full (up to the field bound), in the event; the status and the stack trace's last line hold only its start.
"""

from __future__ import annotations

import traceback
from typing import NamedTuple

from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from . import attributes as attr
from .serialize import MAX_FIELD_BYTES, MAX_NAME_BYTES, bounded_text

_TRACEBACK = "Traceback (most recent call last):\n"
# What ``traceback`` writes between chained exceptions (its own constants are private).
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


class _Failure(NamedTuple):
    """An exception as recorded: all of its stack trace but its own frames, which grow as it leaves each call."""

    exc: BaseException
    type_name: str
    message: str  # bounded to the field bound
    status: str
    before: str  # the exceptions it was raised from or during, formatted
    after: str  # its last line (``Type: start of the message``), and its notes
    whole: str | None  # a whole exception group's trace, formatted once, as its frames interleave with its members'


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
        failure = last = _first_record(exc)
    if failure.whole is not None:
        stacktrace = failure.whole
    else:
        own = traceback.format_tb(exc.__traceback__)
        stacktrace = failure.before + (_TRACEBACK + "".join(own) if own else "") + failure.after
    span.add_event(
        attr.EVENT_EXCEPTION,
        {
            attr.EXCEPTION_TYPE: failure.type_name,
            attr.EXCEPTION_MESSAGE: failure.message,
            attr.EXCEPTION_STACKTRACE: bounded_text(stacktrace, MAX_FIELD_BYTES),
            attr.EXCEPTION_ESCAPED: "False",
        },
    )
    span.set_status(Status(StatusCode.ERROR, failure.status))


def _first_record(exc: BaseException) -> _Failure:
    kind, module = type(exc), type(exc).__module__
    type_name = f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__
    # Its own frames are formatted apart (``format_tb``), for each span: their source lines are not looked up here.
    failure = traceback.TracebackException(kind, exc, exc.__traceback__, compact=True, lookup_lines=False)
    # It has called str(exc), to format it, and keeps the text (3.11 to 3.13 at least): read, not asked again.
    message = getattr(failure, "_str", None)
    if not isinstance(message, str):
        message = _safe_str(exc)
    short = bounded_text(message, MAX_NAME_BYTES)
    if short is not message and hasattr(failure, "_str"):
        failure._str = short  # so that the stack trace's last line holds the message's start only
    status = bounded_text(f"{kind.__name__}: {short}", MAX_NAME_BYTES)
    full = bounded_text(message, MAX_FIELD_BYTES)
    if failure.exceptions is not None:  # an exception group
        return _Failure(exc, type_name, full, status, "", "", bounded_text("".join(failure.format()), MAX_FIELD_BYTES))
    before = ""
    if failure.__cause__ is not None:
        before = "".join(failure.__cause__.format()) + _CAUSE
    elif failure.__context__ is not None and not failure.__suppress_context__:
        before = "".join(failure.__context__.format()) + _CONTEXT
    after = "".join(failure.format_exception_only())
    return _Failure(exc, type_name, full, status, bounded_text(before, MAX_FIELD_BYTES), after, None)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"
