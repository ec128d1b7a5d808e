"""The span of one MCP request, the same on the client and on the server: its name, kind, inputs and outputs, and
whether mcp's own span for it goes where ours go (``mcp.py`` puts these spans where the requests happen)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from spanlite.tracing import attributes as attr
from spanlite.tracing._failure import record_failure
from spanlite.tracing._provider import capture_content, tracer
from spanlite.tracing._sdk_attributes import set_valid_attributes
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import MAX_NAME_BYTES, bounded_text, to_json
from spanlite.tracing.span import close_span, otel_values, start_otel_span


class Call:
    """One request's span, current from ``open`` until ``close``; closing twice does nothing.

    ``adopt``: mcp's own span for the request, recorded by spanlite's pipeline already (``use_global_provider``):
    it gets our attributes and stays mcp's to end, rather than a second span saying the same under it.
    """

    __slots__ = ("method", "span", "content", "adopted", "sent", "_open", "_token")

    def __init__(
        self,
        method: str,
        params: Mapping[str, Any],
        values: dict[str, Any],
        kind: otel_trace.SpanKind,
        parent: otel_context.Context | None = None,
        adopt: otel_trace.Span | None = None,
    ) -> None:
        self.method = method
        self.content = capture_content()
        name, span_kind, request_values, inputs = describe(method, params, self.content)
        request_values.update(values)
        request_values[attr.SPAN_KIND] = span_kind.value
        if inputs is not None:
            request_values[attr.INPUTS] = to_json(inputs)
        self.adopted = adopt is not None
        self.sent = False  # whether mcp's dispatcher has taken this span for its own (``_send_span``)
        self._open = True
        self._token: object | None = None
        if adopt is not None:
            if getattr(getattr(adopt, "parent", None), "is_remote", False):
                request_values[attr.LOCAL_ROOT] = True  # as ``start_otel_span`` marks a span under another process's
            set_valid_attributes(adopt, otel_values(request_values))
            self.span = adopt
            return
        token = None if parent is None else otel_context.attach(parent)
        try:
            self.span = start_otel_span(name, otel_values(request_values), kind)
        finally:
            if token is not None:
                otel_context.detach(token)
        self._token = otel_context.attach(otel_trace.set_span_in_context(self.span))

    def close(self, result: Any, exc: BaseException | None) -> None:
        if not self._open:
            return
        self._open = False
        if self.adopted:  # mcp's middleware records its failure and ends it
            if exc is None:
                self._record(result)
            return
        try:
            if exc is None:
                self._record(result)
        finally:
            close_span(self.span, self._token, exc)

    def record_failure(self, exc: BaseException) -> None:
        """Keep an exception the server turned into an error result: its type, message and stack trace."""
        record_failure(self.span, exc)

    def _record(self, result: Any) -> None:
        data = wire(result)
        if not isinstance(data, dict):
            return
        values: dict[str, Any] = {}
        if self.method == "initialize":
            values.update(server_values(data.get("serverInfo"), data.get("protocolVersion")))
        if self.content:
            values[attr.OUTPUTS] = to_json({k: v for k, v in data.items() if k != "_meta"})
        set_valid_attributes(self.span, otel_values(values))
        if data.get("isError") is True:
            self.span.set_attribute(attr.ERROR_TYPE, "tool_error")  # the semantic conventions' value
            self.span.set_status(Status(StatusCode.ERROR, _error_text(data) if self.content else "tool error"))


def describe(
    method: str, params: Mapping[str, Any], content: bool
) -> tuple[str, SpanKind, dict[str, Any], dict[str, Any] | None]:
    """The span name (``tools/call get_weather``), kind, attributes and inputs of a request, on either end."""
    target = params.get("uri" if method == "resources/read" else "name")
    target = None if target is None else str(target)
    values: dict[str, Any] = {attr.MCP_METHOD_NAME: method}
    inputs: dict[str, Any] | None = None
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, Mapping):  # a malformed request: the server rejects it, the span still shows it
        arguments = {"arguments": arguments}
    if method == "tools/call":
        values.update({attr.GEN_AI_OPERATION_NAME: "execute_tool", attr.GEN_AI_TOOL_NAME: target})
        inputs = dict(arguments)
    elif method == "prompts/get":
        values[attr.GEN_AI_PROMPT_NAME] = target
        inputs = dict(arguments)
    elif method == "resources/read":
        values[attr.MCP_RESOURCE_URI] = target
        inputs = {"uri": target}
    kind = SpanKind.TOOL if method == "tools/call" else SpanKind.CHAIN
    name = f"{method} {target}" if target else method
    return name, kind, {k: v for k, v in values.items() if v is not None}, inputs if content else None


def wire(result: Any) -> Any:
    """A result as it goes over the wire: the server's is that dict already, the client's a pydantic model."""
    if isinstance(result, dict):
        return result
    dump = getattr(result, "model_dump", None)
    return dump(mode="json", by_alias=True, exclude_none=True) if callable(dump) else None


def _error_text(data: Mapping[str, Any]) -> str:
    texts = [block.get("text") for block in data.get("content") or () if isinstance(block, dict)]
    return bounded_text(" ".join(t for t in texts if isinstance(t, str)) or "tool error", MAX_NAME_BYTES)


def server_values(info: Any, protocol_version: Any) -> dict[str, Any]:
    """The server's name and version (``initialize``'s ``serverInfo``, as a dict or mcp's model) and protocol."""
    values: dict[str, Any] = {}
    for key, name in ((attr.MCP_SERVER_NAME, "name"), (attr.MCP_SERVER_VERSION, "version")):
        value = info.get(name) if isinstance(info, dict) else getattr(info, name, None)
        if isinstance(value, str) and value:
            values[key] = value
    if isinstance(protocol_version, str):
        values[attr.MCP_PROTOCOL_VERSION] = protocol_version
    return values


def ours(span: otel_trace.Span) -> bool:
    """Whether ``span`` (mcp's own) goes where ours go: the global provider is the one spanlite records with."""
    processor = getattr(tracer(), "span_processor", None)
    return span.is_recording() and processor is not None and getattr(span, "_span_processor", None) is processor


def mcp_spans_redundant() -> bool:
    """Whether mcp's own spans would add nothing: recorded nowhere (no global provider) or where ours go."""
    provider = otel_trace.get_tracer_provider()
    if isinstance(provider, (otel_trace.ProxyTracerProvider, otel_trace.NoOpTracerProvider)):
        return True
    processor = getattr(tracer(), "span_processor", None)
    return processor is not None and getattr(provider, "_active_span_processor", None) is processor
