"""Attributes read after a span has ended, on spanlite's export thread instead of the caller's.

Reading a model's response into attributes (the messages out, usage, the whole response as JSON) is about a third
of what autolog adds to a call, and none of it needs the call to be live: the response is the SDK's new object, or
a stream we folded ourselves. So a model call leaves a reader here and ends its span at once; so does a span given
an object of the app's as its inputs or outputs (``_capture``), whose rendering may be slow. Each of spanlite's
export processors settles a span before it packs or exports it: the first to get there runs the reader; one that
drops the span says so, and the reader is let go once every processor has had the span. In an app that waits on
I/O, as model calls do, the export thread reads while the caller waits on its next request.

Only where every processor of the span's provider is spanlite's, since all of them settle spans: a processor of
someone else's could export the span without these attributes. There ``read_later`` returns ``False`` and the
caller sets them itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan

from ._guard import log_internal_error
from ._sdk_attributes import add_to_ended

Reader = Callable[[], dict[str, Any]]


class _Reading:
    """A span's reader, until one processor runs it, and a token for each processor yet to settle the span."""

    __slots__ = ("reader", "waiting")

    def __init__(self, reader: Reader, settling: int) -> None:
        self.reader: Reader | None = reader
        self.waiting = [None] * settling


_pending: dict[int, _Reading] = {}  # by span id
_lock = threading.Lock()  # taken by export threads to read; a caller's thread drops spans without it
_checked: tuple[object, int] = ((), 0)  # the last provider's processors looked at, and how many settle spans


def _after_fork_in_child() -> None:
    global _lock
    _pending.clear()  # the parent's spans are the parent's to export
    _lock = threading.Lock()  # an export thread of the parent's may have held it, and it is not here to let go


os.register_at_fork(after_in_child=_after_fork_in_child)


def read_later(span: otel_trace.Span, reader: Reader) -> bool:
    """Have the attributes ``reader()`` returns (valid values, as ``otel_values`` makes them) added to ``span`` once
    it has ended, off the caller's thread; ``False``, with nothing kept, where that cannot be done."""
    if not span.is_recording():  # sampled out: nothing would keep them
        return True
    processors = getattr(getattr(span, "_span_processor", None), "_span_processors", None)
    checked, settling = _checked
    if processors is not checked:
        settling = _count_settling(processors)
    if not settling:
        return False
    context = span.get_span_context()
    if context.trace_flags.sampled:  # else no processor takes the span, and there is nothing to read
        reading = _pending.get(context.span_id)
        if reading is not None and reading.reader is not None:  # a second reader (inputs, then outputs): both run
            reading.reader = _both(reading.reader, reader)
        else:
            _pending[context.span_id] = _Reading(reader, settling)
    return True


def _both(first: Reader, second: Reader) -> Reader:
    return lambda: {**first(), **second()}


def _count_settling(processors: Any) -> int:
    """How many processors settle spans: all of them, or 0 if any does not."""
    global _checked
    from ._processor import QueueProcessor  # here: the processor module imports this one

    settling = 0
    if type(processors) is tuple and processors and all(type(p) is QueueProcessor for p in processors):
        settling = len(processors)
    _checked = (processors, settling)
    return settling


def settle(spans: Iterable[ReadableSpan], *, exported: bool) -> None:
    """A processor has ``spans`` in hand to export (``exported``: their readers run now, if no processor's has
    yet), or has dropped them."""
    if not _pending:
        return
    if exported:
        with _lock:  # a processor that finds a reader taken waits here until it has run
            for span in spans:
                reading = _pending.get(span.context.span_id)
                if reading is not None and reading.reader is not None:
                    reader, reading.reader = reading.reader, None
                    _read(span, reader)
    for span in spans:
        span_id = span.context.span_id
        reading = _pending.get(span_id)
        if reading is None:
            continue
        try:
            reading.waiting.pop()  # one C call: no lock needed
        except IndexError:
            pass
        if not reading.waiting:
            _pending.pop(span_id, None)


def _read(span: ReadableSpan, reader: Reader) -> None:
    try:
        values = reader()
    except Exception:  # the span goes out without them; on an export thread there is no caller to raise into
        log_internal_error(reader)
        return
    add_to_ended(span, values)
