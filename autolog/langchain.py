"""What to record for LangChain and LangGraph: a callback handler that turns each run into a span.

One handler joins every run through langchain_core's configure hook (the way LangChain adds its own tracers), so
chains, runnables, chat models, LLMs, tools, retrievers, and LangGraph graphs and nodes become spans that keep the run
tree: a run's span is a child of its parent run's span, a root run's span a child of whatever span is active when it
starts (a user's ``@spanlite.trace``). Parents are given explicitly, never by attaching in a callback, because a
callback may end a run in another task, thread or generator frame than the one that started it.

A chat model / LLM run *is* the model span: while it is open the SDK patch beneath (openai, anthropic) stands aside
(``_patch.OuterCall``), so one call is one span and its tokens count once. The code a run executes (a tool's body, a
node, a lambda) runs in a context LangChain copies for it; we make the run's span active in that copy, so spans it
makes (an SDK call in a tool, a ``@spanlite.trace`` helper in a node) nest under the run.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

import wrapt
from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard, strict
from spanlite.tracing._provider import capture_content
from spanlite.tracing.kinds import SpanKind
from spanlite.tracing.serialize import to_json
from spanlite.tracing.span import Span, close_span, open_span

from . import _record as rec
from ._openai_hosts import name_of_url
from ._patch import Installed, OuterCall, enter_outer_call, leave_outer_call, uninstall

# Where LangChain and LangGraph set up the copied context a run's body executes in.
_CONFIG_MODULES = ("langchain_core.runnables.config", "langgraph._internal._runnable")
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
_PROVIDERS = {"azure": "azure.ai.openai", "bedrock": "aws.bedrock", "google_vertexai": "gcp.vertex_ai"}
_PARAMS = {
    attr.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    attr.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    attr.GEN_AI_REQUEST_TOP_P: "top_p",
    attr.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    attr.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}
_scope: contextvars.ContextVar[object | None] = contextvars.ContextVar("spanlite_langchain_scope", default=None)


class _Run:
    """One open run: its span, plus what must be undone when it ends."""

    __slots__ = ("span", "outer", "outer_token", "scope", "streamed")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.outer: OuterCall | None = None
        self.outer_token: contextvars.Token[OuterCall | None] | None = None
        self.scope: tuple[object, contextvars.Token[object | None]] | None = None
        self.streamed = False


class SpanHandler(BaseCallbackHandler):
    """Opens a span on each run's start and ends it on the run's end or error, keyed by ``run_id``."""

    run_inline = True  # called in the run's own context, not a worker thread: the model marker must land there

    def __init__(self) -> None:
        self.active = True
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    @property
    def raise_error(self) -> bool:  # type: ignore[override]  # a class attribute of LangChain's, read only here
        """Our own failures surface only under SPANLITE_STRICT=1 (LangChain logs and drops them otherwise)."""
        return strict()

    # chains, graphs, nodes, parsers -----------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.active:
            guard(self._chain_start, serialized, inputs, run_id, parent_run_id, metadata or {}, kwargs.get("name"))

    def _chain_start(
        self,
        serialized: Any,
        inputs: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any],
        name: Any,
    ) -> None:
        name = str(name or _serialized_name(serialized) or "chain")
        kind = _chain_kind(name, serialized, metadata)
        values: dict[str, Any] = {}
        if kind is SpanKind.AGENT:
            values = {attr.GEN_AI_OPERATION_NAME: "invoke_agent", attr.GEN_AI_AGENT_NAME: name}
        if metadata.get("langgraph_node") == name:
            values[attr.LANGGRAPH_NODE] = name
            values[attr.LANGGRAPH_STEP] = metadata.get("langgraph_step")
        self._open(run_id, parent_run_id, name, kind, values, inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, lambda run: _set_io(run.span, kwargs.get("inputs"), outputs))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if _is_bubble_up(error):  # an interrupt pauses the graph; the run did nothing wrong
            self._end(run_id, lambda run: run.span.add_event(attr.EVENT_INTERRUPT, _interrupt(error)))
        else:
            self._end(run_id, None, error)

    # chat models and LLMs --------------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.active:
            guard(
                self._model_start,
                SpanKind.CHAT_MODEL,
                serialized,
                run_id,
                parent_run_id,
                metadata or {},
                kwargs,
                lambda: [_message(m) for m in (messages[0] if messages else [])],
            )

    def on_llm_start(
        self,
        serialized: Any,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.active:
            guard(
                self._model_start,
                SpanKind.LLM,
                serialized,
                run_id,
                parent_run_id,
                metadata or {},
                kwargs,
                lambda: [{"role": "user", "parts": [rec.text_part(p)]} for p in prompts],
            )

    def _model_start(
        self,
        kind: SpanKind,
        serialized: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, Any],
        kwargs: Mapping[str, Any],
        messages: Callable[[], list[Any]],
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        model = params.get("model") or params.get("model_name") or metadata.get("ls_model_name")
        operation = "chat" if kind is SpanKind.CHAT_MODEL else "text_completion"
        values: dict[str, Any] = {attr.GEN_AI_OPERATION_NAME: operation, **rec.request_attributes(params, _PARAMS)}
        provider = _provider(metadata, serialized)
        if provider:
            values[attr.GEN_AI_PROVIDER_NAME] = provider
        if model:
            values[attr.GEN_AI_REQUEST_MODEL] = str(model)
        if params.get("tools"):
            values[attr.GEN_AI_TOOL_DEFINITIONS] = [_tool_definition(t) for t in params["tools"]]
        inputs = None
        if capture_content():
            values[attr.GEN_AI_INPUT_MESSAGES] = messages()
            inputs = {
                "messages": values[attr.GEN_AI_INPUT_MESSAGES],
                "invocation_params": {k: v for k, v in params.items() if k != "tools"},
            }
        run = self._open(run_id, parent_run_id, rec.span_name(operation, model), kind, values, inputs)
        run.outer = OuterCall()
        run.outer_token = enter_outer_call(run.outer)

    def on_llm_new_token(self, token: str | list[Any], *, run_id: UUID, chunk: Any = None, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or run.streamed:
            return
        if token or getattr(getattr(chunk, "message", None), "tool_call_chunks", None):
            run.streamed = True
            run.span.set_attribute(attr.STREAM, True)
            run.span.add_event(attr.EVENT_FIRST_TOKEN)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, lambda run: _model_response(run.span, response))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, None, error)

    # tools and retrievers ----------------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: Any,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.active:
            guard(self._tool_start, serialized, input_str, run_id, parent_run_id, inputs, kwargs)

    def _tool_start(
        self,
        serialized: Any,
        input_str: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        inputs: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        name = str(_serialized_name(serialized) or kwargs.get("name") or "tool")
        values: dict[str, Any] = {attr.GEN_AI_OPERATION_NAME: "execute_tool", attr.GEN_AI_TOOL_NAME: name}
        if kwargs.get("tool_call_id"):
            values[attr.GEN_AI_TOOL_CALL_ID] = str(kwargs["tool_call_id"])
        arguments = inputs if inputs is not None else input_str
        if capture_content():
            values[attr.GEN_AI_TOOL_CALL_ARGUMENTS] = arguments
        self._open(run_id, parent_run_id, f"execute_tool {name}", SpanKind.TOOL, values, arguments)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, lambda run: _set_io(run.span, None, output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, None, error)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        if self.active:
            guard(self._retriever_start, serialized, query, run_id, parent_run_id, kwargs.get("name"))

    def _retriever_start(
        self, serialized: Any, query: str, run_id: UUID, parent_run_id: UUID | None, name: Any
    ) -> None:
        name = str(name or _serialized_name(serialized) or "retriever")
        run = self._open(run_id, parent_run_id, name, SpanKind.RETRIEVER, {}, {"query": query})
        # A retriever's start and end bracket its body in one frame (no streaming), so attaching here is balanced;
        # it makes an embedding call inside the retriever nest under it.
        run.scope = (otel_context.attach(otel_trace.set_span_in_context(run.span.otel_span)), _scope.set(object()))

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, lambda run: _set_io(run.span, None, [_document(d) for d in documents]))

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, None, error)

    # the run table -----------------------------------------------------------------------------------------------

    def _open(
        self, run_id: UUID, parent_run_id: UUID | None, name: str, kind: SpanKind, values: dict[str, Any], inputs: Any
    ) -> _Run:
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        values = {attr.LANGCHAIN_RUN_ID: str(run_id), **{k: v for k, v in values.items() if v is not None}}
        # Explicit parent: attach and detach around the start only, in this frame, so it is always balanced.
        token = otel_context.attach(otel_trace.set_span_in_context(parent.span.otel_span)) if parent else None
        try:
            run = _Run(Span(open_span(name, kind, values)))
        finally:
            if token is not None:
                otel_context.detach(token)
        if inputs is not None and capture_content():
            run.span.set_inputs(inputs)
        with self._lock:
            self._runs[run_id] = run
        return run

    def _end(self, run_id: UUID, record: Callable[[_Run], None] | None, exc: BaseException | None = None) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            return
        try:
            if record is not None:
                guard(record, run)
        finally:
            guard(_finish, run, exc)

    def activate(self, config: Any) -> None:
        """Make the span of the run that owns ``config`` active in the context LangChain copied for its body.

        That context is LangChain's own throwaway copy, so the attach is never detached: it goes with the copy.
        """
        callbacks = config.get("callbacks") if isinstance(config, Mapping) else None
        run = self._runs.get(getattr(callbacks, "parent_run_id", None))  # type: ignore[arg-type]
        if run is not None:
            otel_context.attach(otel_trace.set_span_in_context(run.span.otel_span))


def _finish(run: _Run, exc: BaseException | None) -> None:
    if run.outer is not None and run.outer_token is not None:
        leave_outer_call(run.outer, run.outer_token)
    if run.scope is not None:
        try:
            _scope.reset(run.scope[1])  # fails unless this is the context that attached: then leave it be
        except (ValueError, RuntimeError):
            pass
        else:
            otel_context.detach(run.scope[0])  # type: ignore[arg-type]
    if exc is not None:
        run.span.set_attribute(attr.ERROR_TYPE, type(exc).__qualname__)
    close_span(run.span.otel_span, None, exc)


def _set_io(span: Span, inputs: Any, outputs: Any) -> None:
    if capture_content():
        if inputs is not None:  # streamed runs learn their input only at the end
            span.set_inputs(inputs)
        span.set_outputs(outputs)


def _provider(metadata: Mapping[str, Any], serialized: Any) -> str | None:
    """The model's provider: LangChain's ``ls_provider``, except that ChatOpenAI says "openai" whatever API its
    ``base_url`` points at, which then names the provider as it does for the OpenAI SDK."""
    provider = metadata.get("ls_provider")
    if not provider:
        return None
    if provider == "openai" and isinstance(serialized, Mapping):
        base_url = (serialized.get("kwargs") or {}).get("openai_api_base")
        if isinstance(base_url, str):
            return name_of_url(base_url)
    return _PROVIDERS.get(str(provider), str(provider))


def _serialized_name(serialized: Any) -> Any:
    if not isinstance(serialized, Mapping):
        return None
    ids = serialized.get("id")
    return serialized.get("name") or (ids[-1] if isinstance(ids, list) and ids else None)


def _chain_kind(name: str, serialized: Any, metadata: Mapping[str, Any]) -> SpanKind:
    if metadata.get("ls_integration") == "langgraph" and "langgraph_node" not in metadata:
        return SpanKind.AGENT  # the graph itself (a node's metadata names the node)
    ids = serialized.get("id") if isinstance(serialized, Mapping) else None
    path = ".".join(map(str, ids)) if isinstance(ids, list) else ""
    if "output_parsers" in path or name.endswith("Parser"):
        return SpanKind.PARSER
    return SpanKind.CHAIN


def _is_bubble_up(error: BaseException) -> bool:
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(error).__mro__)


def _interrupt(error: BaseException) -> dict[str, Any]:
    first = error.args[0] if error.args else None
    items = first if isinstance(first, (list, tuple)) else [first] if first is not None else []
    return {"type": type(error).__name__, "value": [getattr(i, "value", i) for i in items]}


def _tool_definition(tool: Any) -> Any:
    function = rec.get(rec.plain(tool), "function")
    return {"type": "function", **function} if isinstance(function, dict) else rec.plain(tool)


def _document(document: Any) -> dict[str, Any]:
    values = {"page_content": getattr(document, "page_content", None), "metadata": getattr(document, "metadata", {})}
    if getattr(document, "id", None) is not None:
        values["id"] = document.id
    return values


# messages and results, in the OTel GenAI shape the SDK integrations write -----------------------------------------


def _message(message: Any) -> dict[str, Any]:
    kind = getattr(message, "type", None)
    role = _ROLES.get(str(kind), getattr(message, "role", None) or kind)
    content = getattr(message, "content", None)
    if kind == "tool":
        parts: list[Any] = [{"type": "tool_call_response", "id": message.tool_call_id, "response": content}]
    else:
        parts = _parts(content)
        for call in getattr(message, "tool_calls", None) or []:
            parts.append(rec.tool_call_part(call.get("id"), call.get("name"), call.get("args")))
    result: dict[str, Any] = {"role": role, "parts": parts}
    if getattr(message, "name", None) and kind != "tool":
        result["name"] = message.name
    return result


def _parts(content: Any) -> list[Any]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [rec.text_part(content)]
    parts = []
    for block in content if isinstance(content, list) else [content]:
        kind = rec.get(block, "type")
        if isinstance(block, str):
            parts.append(rec.text_part(block))
        elif kind == "text":
            parts.append(rec.text_part(rec.get(block, "text")))
        elif kind not in ("tool_use", "tool_call", "function_call"):  # those come again as tool_calls
            parts.append(rec.plain(block))
    return parts


def _model_response(span: Span, response: Any) -> None:
    generations = [g for batch in getattr(response, "generations", None) or [] for g in batch]
    messages: list[Any] = [getattr(g, "message", None) for g in generations]
    llm_output = getattr(response, "llm_output", None) or {}
    meta: dict[str, Any] = next((m.response_metadata for m in messages if getattr(m, "response_metadata", None)), {})
    values = rec.response_attributes(
        response_id=meta.get("id") or llm_output.get("id"),
        model=meta.get("model_name") or meta.get("model") or llm_output.get("model_name"),
        finish_reasons=[_finish_reason(g) for g in generations],
    )
    usage = next((m.usage_metadata for m in messages if getattr(m, "usage_metadata", None)), None)
    if usage:  # every choice carries the whole call's usage: read it once
        counts = rec.usage_attributes(
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            cache_read=rec.get(usage, "input_token_details", "cache_read"),
            cache_creation=rec.get(usage, "input_token_details", "cache_creation"),
            reasoning=rec.get(usage, "output_token_details", "reasoning"),
        )
    else:
        tokens = llm_output.get("token_usage") or llm_output.get("usage") or {}
        counts = rec.usage_attributes(
            input_tokens=tokens.get("prompt_tokens"), output_tokens=tokens.get("completion_tokens")
        )
    values.update(counts)
    if capture_content():
        outputs = []
        for generation, message in zip(generations, messages):
            out = (
                _message(message)
                if message is not None
                else {"role": "assistant", "parts": [rec.text_part(generation.text)]}
            )
            outputs.append({**out, "finish_reason": _finish_reason(generation)})
        values[attr.GEN_AI_OUTPUT_MESSAGES] = outputs
        found = [m if m is not None else g.text for g, m in zip(generations, messages)]
        values[attr.OUTPUTS] = to_json(found[0] if len(found) == 1 else found)
    span.set_attributes(values)


def _finish_reason(generation: Any) -> Any:
    info = getattr(generation, "generation_info", None) or {}
    meta = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
    return info.get("finish_reason") or meta.get("finish_reason") or meta.get("stop_reason")


# installing ------------------------------------------------------------------------------------------------------


def patch() -> Callable[[], None]:
    """Join every LangChain run and scope LangChain's/LangGraph's run contexts; the function returned undoes it."""
    from langchain_core.tracers.context import _configure_hooks, register_configure_hook

    handler = SpanHandler()
    register_configure_hook(contextvars.ContextVar("spanlite_langchain", default=handler), inheritable=True)
    hook = _configure_hooks[-1]
    installed: list[Installed] = []

    def scope(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        guard(handler.activate, args[0] if args else kwargs.get("config"))
        return result

    def on_import(module: Any) -> None:
        if handler.active and hasattr(module, "_set_config_context"):
            handle = guard(wrapt.wrap_function_wrapper, module, "_set_config_context", scope)
            if handle is not None:
                installed.append(Installed(module.__name__, "_set_config_context", handle))

    for name in _CONFIG_MODULES:
        wrapt.register_post_import_hook(on_import, name)

    def undo() -> None:
        handler.active = False
        if hook in _configure_hooks:
            _configure_hooks.remove(hook)
        uninstall(installed)
        installed.clear()

    return undo
