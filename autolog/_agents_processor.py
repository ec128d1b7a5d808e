"""The tracing processor the OpenAI Agents SDK calls on each trace and span start and end: it keeps the table of
open spans, their parents and the contexts they are current in (see ``openai_agents`` for the whole design)."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from agents.tracing import Span as AgentsSpan
from agents.tracing import Trace, TracingProcessor
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from spanlite.tracing import attributes as attr
from spanlite.tracing._capture import set_json
from spanlite.tracing._guard import guard
from spanlite.tracing._provider import capture_content
from spanlite.tracing._sdk_attributes import set_valid_attributes
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json
from spanlite.tracing.span import close_span, open_span, otel_values

from ._agents_shapes import FOLDED, MODELS, closing, model_io, opening, tool_calls
from ._patch import OuterCall, enter_outer_call, leave_outer_call

_scope: contextvars.ContextVar[object | None] = contextvars.ContextVar("spanlite_openai_agents_scope", default=None)
_UNSET: Any = object()


class _Open:
    """One open span: where it hangs, what to undo when it ends, and what its agent took in and gave."""

    __slots__ = ("span", "trace_id", "parent", "kind", "attached", "outer", "inputs", "output", "error", "calls")

    def __init__(self, span: otel_trace.Span, trace_id: str, parent: str | None, kind: SpanKind) -> None:
        self.span = span
        self.trace_id = trace_id  # the SDK's: spans a run leaves open end with its trace
        self.parent = parent  # the key of the open span it hangs under
        self.kind = kind
        self.attached: tuple[object, contextvars.Token[object | None]] | None = None
        self.outer: tuple[OuterCall, contextvars.Token[OuterCall | None]] | None = None
        self.inputs: Any = _UNSET
        self.output: Any = None
        # A failure the SDK put on a span we fold (a turn's, on the agent), or the root's: its last agent's.
        self.error: Any = None
        self.calls: list[tuple[str, str, str]] = []  # an agent's: the tool calls its model asked for, not yet run


class SpanliteProcessor(TracingProcessor):
    """Opens a spanlite span on each SDK trace and span start, ends it on their end; keyed by the SDK's ids."""

    def __init__(self) -> None:
        self.active = True
        self._open: dict[str, _Open] = {}
        # a folded span's id -> the key its children hang under, and its trace's id
        self._folded: dict[str, tuple[str | None, str]] = {}
        self._lock = threading.Lock()

    # the SDK's calls: each guarded, so that our failure never reaches the run ---------------------------------------

    def on_trace_start(self, trace: Trace) -> None:
        if self.active:
            guard(self._trace_start, trace)

    def on_trace_end(self, trace: Trace) -> None:
        guard(self._end, trace.trace_id, None)

    def on_span_start(self, span: AgentsSpan[Any]) -> None:
        if self.active:
            guard(self._span_start, span)

    def on_span_end(self, span: AgentsSpan[Any]) -> None:
        guard(self._end, span.span_id, span)

    def shutdown(self) -> None:
        pass  # our spans go through spanlite's own pipeline, which flushes at exit

    def force_flush(self) -> None:
        pass

    # opening --------------------------------------------------------------------------------------------------------

    def _trace_start(self, trace: Trace) -> None:
        values: dict[str, Any] = {}
        group_id, metadata = getattr(trace, "group_id", None), getattr(trace, "metadata", None)
        if group_id:
            values[attr.SESSION_ID] = str(group_id)
        if metadata:
            values[attr.TRACE_METADATA] = to_json(metadata)
        self._start(trace.trace_id, trace.trace_id, None, str(trace.name), SpanKind.CHAIN, values)

    def _span_start(self, span: AgentsSpan[Any]) -> None:
        data = span.span_data
        parent = self._parent_key(span)
        if data.type in FOLDED:
            with self._lock:
                self._folded[span.span_id] = (parent, span.trace_id)
            return
        name, kind, values = opening(data)
        opened = self._start(span.span_id, span.trace_id, parent, name, kind, values)
        if data.type in MODELS:
            outer = OuterCall()
            opened.outer = (outer, enter_outer_call(outer))

    def _parent_key(self, span: AgentsSpan[Any]) -> str | None:
        key: str | None = span.parent_id or span.trace_id
        with self._lock:
            while key is not None and key in self._folded:
                key = self._folded[key][0]
            return key if key in self._open else None

    def _start(
        self, key: str, trace_id: str, parent: str | None, name: str, kind: SpanKind, values: dict[str, Any]
    ) -> _Open:
        with self._lock:
            above = self._open.get(parent) if parent is not None else None
        # The parent given explicitly: attached around the start only, in this frame, so always balanced.
        token = otel_context.attach(otel_trace.set_span_in_context(above.span)) if above is not None else None
        try:
            opened = _Open(open_span(name, kind, values), trace_id, parent if above is not None else None, kind)
        finally:
            if token is not None:
                otel_context.detach(token)
        opened.attached = (otel_context.attach(otel_trace.set_span_in_context(opened.span)), _scope.set(object()))
        with self._lock:
            self._open[key] = opened
        return opened

    # ending ---------------------------------------------------------------------------------------------------------

    def _end(self, key: str, span: AgentsSpan[Any] | None) -> None:
        with self._lock:
            folded = self._folded.pop(key, None)
            if folded is not None:
                target = self._open.get(folded[0]) if folded[0] is not None else None
                if target is not None and span is not None and span.error:
                    target.error = span.error
                return
            opened = self._open.pop(key, None)
            stragglers = []
            if span is None:  # a run cut short may leave spans of its trace open: they end with it
                stragglers = [self._open.pop(k) for k, o in list(self._open.items()) if o.trace_id == key]
                for k in [k for k, (_, trace_id) in self._folded.items() if trace_id == key]:
                    del self._folded[k]
        if opened is None:
            return
        for straggler in reversed(stragglers):  # the deepest first, as they would have ended
            guard(_finish, straggler, straggler.error)
        error = span.error if span is not None and span.error else opened.error
        try:
            if span is not None:
                guard(self._record, opened, span, error)
            if opened.inputs is not _UNSET or opened.output is not None:
                guard(_set_io, opened)
        finally:
            guard(_finish, opened, error)

    def _record(self, opened: _Open, span: AgentsSpan[Any], error: Any) -> None:
        data = span.span_data
        content = capture_content()
        name, values = closing(data, content)
        if name is not None:
            opened.span.update_name(name)
        set_valid_attributes(opened.span, otel_values(values))
        if data.type in MODELS:
            calls = tool_calls(data)
            agent = self._agent_of(opened)
            if agent is not None and calls:
                agent.calls = calls
            if content:
                self._hand_up(opened, *model_io(data))
        elif data.type == "function":
            call_id = self._call_id(opened, str(data.name), data.input)
            if call_id is not None:
                opened.span.set_attribute(attr.GEN_AI_TOOL_CALL_ID, call_id)
        if opened.kind is SpanKind.AGENT:
            with self._lock:
                root = self._open.get(opened.parent) if opened.parent is not None else None
            if root is not None and root.parent is None:  # the agent ran at the top of the workflow
                root.error = error

    def _agent_of(self, opened: _Open) -> _Open | None:
        with self._lock:
            above = self._open.get(opened.parent) if opened.parent is not None else None
        return above if above is not None and above.kind is SpanKind.AGENT else None

    def _call_id(self, tool: _Open, name: str, arguments: Any) -> str | None:
        """The id of the model's call this tool run answers: the first asked for by that name (and those arguments,
        when the SDK kept them: parallel calls of one tool differ by them)."""
        agent = self._agent_of(tool)
        if agent is None:
            return None
        with self._lock:
            for i, (called, given, call_id) in enumerate(agent.calls):
                if called == name and (arguments is None or given == arguments):
                    del agent.calls[i]
                    return call_id
        return None

    def _hand_up(self, model: _Open, inputs: Any, output: Any) -> None:
        """A model call's input and answer become its agents' and the workflow's: the first input, the last answer."""
        with self._lock:
            above = self._open.get(model.parent) if model.parent is not None else None
            while above is not None:
                if above.kind is SpanKind.AGENT or above.parent is None:
                    if above.inputs is _UNSET:
                        above.inputs = inputs
                    if output is not None:
                        above.output = output
                above = self._open.get(above.parent) if above.parent is not None else None


def _set_io(opened: _Open) -> None:
    if opened.inputs is not _UNSET:
        set_json(opened.span, attr.INPUTS, opened.inputs)
    if opened.output is not None:
        set_json(opened.span, attr.OUTPUTS, opened.output)


def _finish(opened: _Open, error: Any) -> None:
    if opened.outer is not None:
        leave_outer_call(*opened.outer)
    if opened.attached is not None:
        token, scope = opened.attached
        try:
            _scope.reset(scope)  # fails unless this is the context that attached: then that context keeps it
        except (ValueError, RuntimeError):
            pass
        else:
            otel_context.detach(token)  # type: ignore[arg-type]
    if error:
        _fail(opened.span, error)
    close_span(opened.span, None, None)


def _fail(span: otel_trace.Span, error: Any) -> None:
    """The SDK hands a span's failure over as data (``SpanError``: a message and details), not as the exception."""
    message = str(error.get("message") or "error")
    details = error.get("data") or {}
    text = f"{message}: {details['error']}" if isinstance(details, dict) and details.get("error") else message
    span.add_event(attr.EVENT_EXCEPTION, {attr.EXCEPTION_TYPE: "agents.SpanError", attr.EXCEPTION_MESSAGE: text})
    span.set_status(Status(StatusCode.ERROR, message))
