"""MCP (``mcp`` 2.x): a span for each tool call, resource read and prompt, on the client and on the server, in one
trace across the hop.

mcp 2.x carries the trace context itself, and this builds on it rather than doing it twice: its dispatcher puts the
current span's ``traceparent`` in every request's ``params._meta`` (inside a CLIENT span of its own, from the global
OTel provider), and its server's ``OpenTelemetryMiddleware`` makes the extracted context current around the handler.
Both hand the context through even with no global provider (OTel's no-op tracer passes the current or remote span
on), so a client span here need only be current while the request goes out, and a server span opens innermost in
the server's middleware chain, under whatever that middleware made current. Should the app have dropped mcp's
middleware, the server span reads ``_meta`` itself, with mcp's own reader.

Where mcp's own spans would be recorded nowhere, or by spanlite's pipeline (``use_global_provider=True``), they are
not doubled: the dispatcher's CLIENT span for a request is ours, and the middleware's SERVER span gets our attributes
instead of a second span under it. An app's own OTel set-up elsewhere keeps mcp's spans, but the ``traceparent``
names the client's span of ours, so that the tree in the store has no gap at the hop.

Client: ``ClientSession.call_tool`` / ``list_tools`` / ``read_resource`` / ``get_prompt`` / ``initialize`` (the
high-level ``mcp.Client`` calls these). Server: the requests of those methods, whichever server answers them (the
low-level ``Server``, ``MCPServer``), and the exception behind an ``MCPServer`` tool's error result.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing._sdk_attributes import set_valid_attributes
from spanlite.tracing.span import otel_values

from ._mcp_call import Call, describe, mcp_spans_redundant, ours, server_values
from ._patch import Installed, uninstall

# ClientSession's methods and the MCP method each sends; the server traces the same requests (``initialize`` is
# the client's: the server answers it inline, before any handler).
_CLIENT_METHODS = {
    "call_tool": "tools/call",
    "list_tools": "tools/list",
    "read_resource": "resources/read",
    "get_prompt": "prompts/get",
    "initialize": "initialize",
}
_SERVER_METHODS = frozenset(_CLIENT_METHODS.values()) - {"initialize"}
_SESSION_HEADER = "mcp-session-id"  # the one request header read on the server: the others may carry credentials


# The client's span for the request being sent (``_send_span``), and the server's for the request being answered.
_calling: contextvars.ContextVar[Call | None] = contextvars.ContextVar("spanlite_mcp_calling", default=None)
_serving: contextvars.ContextVar[Call | None] = contextvars.ContextVar("spanlite_mcp_serving", default=None)


# --- the client ---------------------------------------------------------------------------------------------------


def _client_params(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's params from the ClientSession method's arguments (name or uri first, then arguments)."""
    if method == "resources/read":
        return {"uri": args[0] if args else kwargs.get("uri")}
    if method in ("tools/call", "prompts/get"):
        return {
            "name": args[0] if args else kwargs.get("name"),
            "arguments": args[1] if len(args) > 1 else kwargs.get("arguments"),
        }
    return {}


def _open_client(method: str, session: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
    # What this session learnt at initialize (nothing before): cheap properties, so every span names its server.
    values = server_values(getattr(session, "server_info", None), getattr(session, "protocol_version", None))
    return Call(method, _client_params(method, args, kwargs), values, otel_trace.SpanKind.CLIENT)


def _client_wrapper(method: str) -> Callable[..., Awaitable[Any]]:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method == "initialize" and getattr(instance, "initialize_result", None) is not None:
            return await wrapped(*args, **kwargs)  # answered from the session's memory: nothing is sent
        call = guard(_open_client, method, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        calling = _calling.set(call)
        try:
            result = await wrapped(*args, **kwargs)  # the user's call: once, outside our guard
        except BaseException as exc:
            guard(call.close, None, exc)
            raise  # their error, unchanged
        finally:
            _calling.reset(calling)
        guard(call.close, result, None)
        return result

    return wrapper


def _send_span(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """mcp's dispatcher's ``otel_span(...)`` for a request it sends, while our span for that request is open.

    Ours gets mcp's attributes for the request (its id). Where mcp's own span would be recorded nowhere or beside
    ours, ours stands for it (mcp sets its error status on ours). Where the app's own OTel set-up records it
    elsewhere, it stays, but the ``traceparent`` mcp injects inside it names our span, so the server's spans in
    the store hang under the client's rather than under a span the store never gets. A request of another method
    sent meanwhile (a ping) gets mcp's span as it would have.
    """
    call = _calling.get()
    mode = guard(_send_mode, call, kwargs) if call is not None else None
    if call is None or mode is None:
        return wrapped(*args, **kwargs)
    call.sent = True
    guard(set_valid_attributes, call.span, otel_values(kwargs.get("attributes") or {}))  # the request id
    if mode == "ours":
        return contextlib.nullcontext(call.span)
    return _injecting(wrapped(*args, **kwargs), call.span)


def _send_mode(call: Call, kwargs: dict[str, Any]) -> str | None:
    """``"ours"``, ``"inject"`` (see ``_send_span``), or ``None``: not the request our span is for."""
    method = (kwargs.get("attributes") or {}).get(attr.MCP_METHOD_NAME)
    if call.sent or method != call.method or kwargs.get("kind") is not otel_trace.SpanKind.CLIENT:
        return None
    return "ours" if mcp_spans_redundant() else "inject"


@contextlib.contextmanager
def _injecting(mcp_span: Any, ours: otel_trace.Span) -> Iterator[Any]:
    with mcp_span as span:
        token = otel_context.attach(otel_trace.set_span_in_context(ours))
        try:
            yield span
        finally:
            otel_context.detach(token)


# --- the server ---------------------------------------------------------------------------------------------------


def _parent(meta: Any) -> otel_context.Context:
    """The context a server span opens in: the current one if mcp's middleware made the caller's span current (or
    its own span beside ours), else the caller's span read from ``_meta``; a caller that sent none: the current one.

    A current span recorded elsewhere (mcp's own, by the app's OTel set-up) never reaches the store: ours opens
    under its parent instead, so the store's tree has no gap."""
    from mcp.shared._otel import extract_trace_context

    current = otel_context.get_current()
    span = otel_trace.get_current_span(current)
    if span.is_recording() and not ours(span):
        above = getattr(span, "parent", None)
        if isinstance(above, otel_trace.SpanContext) and above.is_valid:
            return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(above))
    remote = extract_trace_context(meta if isinstance(meta, Mapping) else None)
    if remote is None:
        return current
    remote_trace = otel_trace.get_current_span(remote).get_span_context().trace_id
    return current if span.get_span_context().trace_id == remote_trace else remote


def _open_server(runner: Any, ctx: Any) -> Call:
    server = getattr(runner, "server", None)
    values = server_values({"name": getattr(server, "name", None), "version": getattr(server, "version", None)}, None)
    values[attr.MCP_PROTOCOL_VERSION] = getattr(ctx, "protocol_version", None)
    if (request_id := getattr(ctx, "request_id", None)) is not None:
        values[attr.JSONRPC_REQUEST_ID] = str(request_id)
    headers = getattr(getattr(ctx, "request", None), "headers", None)  # streamable HTTP's starlette request
    if headers is not None and (session_id := headers.get(_SESSION_HEADER)):
        values[attr.MCP_SESSION_ID] = str(session_id)
    values = {k: v for k, v in values.items() if v is not None}
    params = ctx.params or {}
    current = otel_trace.get_current_span()
    if ours(current) and getattr(current, "name", None) == describe(ctx.method, params, False)[0]:
        return Call(ctx.method, params, values, otel_trace.SpanKind.SERVER, adopt=current)  # mcp's middleware's
    return Call(ctx.method, params, values, otel_trace.SpanKind.SERVER, _parent(getattr(ctx, "meta", None)))


def _traced(runner: Any, inner: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """``inner`` (lookup, validation, the handler) inside a span for the requests we trace."""

    async def traced(ctx: Any) -> Any:
        if getattr(ctx, "method", None) not in _SERVER_METHODS:
            return await inner(ctx)
        call = guard(_open_server, runner, ctx)
        if call is None:
            return await inner(ctx)
        serving = _serving.set(call)
        try:
            result = await inner(ctx)  # the server's own work: once, outside our guard
        except BaseException as exc:
            guard(call.close, None, exc)
            raise
        finally:
            _serving.reset(serving)
        guard(call.close, result, None)
        return result

    return traced


def _compose(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ServerRunner._compose_server_middleware(inner)``: ours goes innermost, inside mcp's OTel middleware."""
    if args:
        args = (guard(_traced, instance, args[0]) or args[0], *args[1:])
    return wrapped(*args, **kwargs)


async def _keep_tool_failure(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``MCPServer.call_tool``: its caller turns a tool's exception into an error result; the span keeps the
    exception, unless it is a failure the tool saw coming (a ``ToolError``, which mcp logs without a traceback)."""
    try:
        return await wrapped(*args, **kwargs)
    except Exception as exc:
        call = _serving.get()
        if call is not None and not _meant(exc):
            guard(call.record_failure, exc)
        raise


def _meant(exc: Exception) -> bool:
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

    return isinstance(exc, ToolError) and not isinstance(exc, UnexpectedToolError)


def patch() -> Callable[[], None]:
    """Patch the installed mcp; the function returned takes the patches off again."""
    wrappers: list[tuple[str, str, Callable[..., Any]]] = [
        ("mcp.client.session", f"ClientSession.{name}", _client_wrapper(method))
        for name, method in _CLIENT_METHODS.items()
    ]
    if importlib.util.find_spec("mcp.shared._otel") is not None:  # mcp's own tracing (2.x)
        wrappers.append(("mcp.shared.jsonrpc_dispatcher", "otel_span", _send_span))
    if importlib.util.find_spec("mcp.server.runner") is not None:  # mcp 1.x has neither it nor MCPServer
        wrappers.append(("mcp.server.runner", "ServerRunner._compose_server_middleware", _compose))
        wrappers.append(("mcp.server.mcpserver.server", "MCPServer.call_tool", _keep_tool_failure))
    installed: list[Installed] = []
    for module, attribute, wrapper in wrappers:
        handle = guard(wrapt.wrap_function_wrapper, module, attribute, wrapper)
        if handle is not None:
            installed.append(Installed(module, attribute, handle))
    return lambda: uninstall(installed)
