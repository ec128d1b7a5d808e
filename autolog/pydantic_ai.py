"""What to record for Pydantic AI: its own OpenTelemetry instrumentation, pointed at spanlite.

Why its instrumentation rather than patches of our own: Pydantic AI already opens the spans the tree needs at points
only it knows: the agent run (``invoke_agent <name>``, with the run's messages and final output), one ``chat <model>``
span per model request (messages, tool definitions, model, tokens; a ``FallbackModel``'s failed attempt as an error
span beneath it), ``execute_tool <name>`` with arguments and result, retries as the further requests they are. It
keeps them right across ``run``, ``run_sync``, ``run_stream``, ``iter`` and streams abandoned early, in the GenAI
conventions the store's normaliser maps onto spanlite's kinds, inputs and outputs (``store/_normalize.py``). Patches
of our own on ``Agent.run`` / ``iter``, model requests and tool calls would have to rebuild all that from internals
that move with each release; the few patches here only mark a model request (below) and add a run's deps.

So autolog sets the default every ``Agent`` falls back on (``Agent.instrument_all``) to settings whose tracer is
spanlite's, looked up at each span so a later ``configure()`` is followed, and whose ``include_content`` is
spanlite's ``capture_content``. Whatever instrumentation the app set up itself is left alone: an agent's own
``instrument=``, and a default already set (Logfire, its own settings), which autolog then does not replace.
``disable`` restores the previous default, unless the app has replaced ours since.

Pydantic AI never records a run's deps. spanlite adds them to the run's span only when they are plain data (what
``plain_json`` takes: dicts, lists, dataclasses of such), and only when contents are recorded: deps are where apps
keep HTTP clients, connections and credentials, which must never be rendered, let alone stored.

One model request, one model span: while Pydantic AI's ``chat`` span for our settings is open, the patched OpenAI SDK
call beneath stands aside (``_patch.OuterCall``), so with ``autolog("openai")`` on too the tokens count once. A
streamed request is made in the task that consumes the stream, not the one that opened the span; Pydantic AI carries
the span's OTel context over there (``capture_current_context``), and the mark goes along with it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import wrapt
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import NoOpMeterProvider
from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings

from spanlite.tracing import attributes as attr
from spanlite.tracing._guard import guard
from spanlite.tracing._provider import capture_content, tracer
from spanlite.tracing.serialize import plain_json

from ._patch import Installed, OuterCall, enter_outer_call, leave_outer_call, uninstall

# The modules that open a model request's span through ``open_model_request_span``, each under its own name for it:
# the agent's instrumentation capability, and an ``InstrumentedModel`` used on its own.
_REQUEST_SPAN_USERS = ("pydantic_ai.capabilities.instrumentation", "pydantic_ai.models.instrumented")
# Where an agent run's span is opened: its handler runs with that span current.
_RUN = ("pydantic_ai.capabilities.instrumentation", "Instrumentation.wrap_run")
# Where a streamed request's span context is captured, to be re-entered in the task that consumes the stream.
_STREAM_CONTEXT = ("pydantic_ai._agent_graph", "capture_current_context")
_request: contextvars.ContextVar[OuterCall | None] = contextvars.ContextVar(
    "spanlite_pydantic_ai_request", default=None
)


class _Tracer(otel_trace.Tracer):
    """spanlite's tracer as it is at each span, not as it was at ``autolog()``: ``configure()`` replaces it."""

    def start_span(self, *args: Any, **kwargs: Any) -> otel_trace.Span:
        return tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return tracer().start_as_current_span(*args, **kwargs)


class _TracerProvider(otel_trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> otel_trace.Tracer:
        return _Tracer()


class _Settings(InstrumentationSettings):
    """Pydantic AI's settings with spanlite's tracer, recording contents as spanlite's set-up says at each run."""

    @property  # a dataclass field of InstrumentationSettings, read from spanlite's set-up here instead
    def include_content(self) -> bool:
        return capture_content()

    @include_content.setter
    def include_content(self, value: bool) -> None:
        """``InstrumentationSettings.__init__`` assigns it; spanlite's ``capture_content`` decides."""


def patch() -> Callable[[], None]:
    previous = Agent._instrument_default
    ours: _Settings | None = None
    if not previous:  # the app's own instrumentation, if any, stays as it set it
        # No meter provider of the app's: the global one would get Pydantic AI's metrics behind its back.
        ours = _Settings(tracer_provider=_TracerProvider(), meter_provider=NoOpMeterProvider())
        Agent.instrument_all(ours)
    points: list[tuple[str, str, Callable[..., Any]]] = [
        (module, "open_model_request_span", _marked) for module in _REQUEST_SPAN_USERS
    ]
    points += [(*_STREAM_CONTEXT, _carried), (*_RUN, _with_deps)]
    installed = [
        Installed(module, name, handle)
        for module, name, wrapper in points
        if (handle := guard(wrapt.wrap_function_wrapper, module, name, wrapper)) is not None
    ]

    def undo() -> None:
        uninstall(installed)
        if ours is not None and Agent._instrument_default is ours:
            Agent.instrument_all(previous)

    return undo


def _marked(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A model request's span, opened for our settings: SDK calls within it stand aside."""
    settings = args[0] if args else kwargs.get("settings")
    span = wrapped(*args, **kwargs)
    return _as_outer_call(span) if isinstance(settings, _Settings) else span


@contextlib.contextmanager
def _as_outer_call(span: contextlib.AbstractContextManager[Any]) -> Iterator[Any]:
    call = OuterCall()
    token, mine = enter_outer_call(call), _request.set(call)
    try:
        with span as value:
            yield value
    finally:
        leave_outer_call(call, token)
        with contextlib.suppress(ValueError, RuntimeError):
            _request.reset(mine)  # left as it is in another context: a closed call marks nothing


def _carried(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The captured context of a model request's span, which also marks the task it is re-entered in."""
    attach = wrapped(*args, **kwargs)
    request = _request.get()
    if request is None or not request.open:
        return attach

    @contextlib.contextmanager
    def attach_marked() -> Iterator[None]:
        call = OuterCall()  # one of its own: it ends with the segment, which may end in another context
        token = enter_outer_call(call) if request.open else None
        try:
            with attach():
                yield
        finally:
            if token is not None:
                leave_outer_call(call, token)

    return attach_marked


async def _with_deps(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An agent run of ours whose span, once open, also records the run's deps if they are plain data."""
    handler = kwargs.get("handler")
    if handler is None or not isinstance(getattr(instance, "settings", None), _Settings):
        return await wrapped(*args, **kwargs)
    run = args[0] if args else kwargs.get("ctx")

    async def recording_deps() -> Any:
        guard(_record_deps, run)
        return await handler()

    return await wrapped(*args, **{**kwargs, "handler": recording_deps})


def _record_deps(run: Any) -> None:
    deps = getattr(run, "deps", None)
    if deps is None or not capture_content():
        return
    text = plain_json(deps)  # None for anything only the app's own code could render: a client, a connection
    if text is not None:
        otel_trace.get_current_span().set_attribute(attr.AGENT_DEPS, text)  # the run's span, current in its handler
