"""What to record for the OpenAI Agents SDK (``openai-agents``): a tracing processor of the SDK's own that turns its
traces and spans into spanlite spans.

The processor joins through the SDK's public ``add_trace_processor``, beside whatever the SDK exports itself (its
exporter to OpenAI's dashboard stays as the user set it). Its trace becomes a span named after the workflow, under
whatever span is current when it starts (a user's ``@spanlite.trace``); each of its spans becomes a child of its
parent's span, given explicitly from the SDK's parent id. While a span is open it is also the current OTel span in the
context the SDK opened it in, so that what runs inside (a user's traced helper in a tool, an autologged SDK call)
nests under it. That attach is undone only in the context that made it: the SDK may end a span elsewhere (an
abandoned stream is finalised by another task), and there OTel's detach would fail, so the copy keeps it instead.

A model call is the SDK's response/generation span. It is the model span whether or not ``autolog("openai")`` is on,
so the tree reads the same either way; it carries the ``Response`` itself (model, instructions, tools and sampling
settings, which the API echoes, output and usage) and the input, so our Responses readers get from it what the patch
would. While it is open the patched OpenAI call beneath stands aside (``_patch.OuterCall``): one call, one span.
The patch's span would have had a little more (the request model's exact name, a stream's first-token event, and for
a Chat Completions model the tool definitions, which the SDK's span does not keep: its agent's span lists the tools),
but only when the user also autologs openai; dropping the SDK's span then would give two shapes of one run.

The SDK offers no way to take a processor off again: ``autolog(..., disable=True)`` leaves ours registered and inert.

A package of the app's own may be named ``agents`` too (it is a common name): then there is nothing to join, and
autolog says nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import wrapt

from spanlite.tracing._guard import guard

_MODULE = "agents.tracing.provider"
_METHOD = "SynchronousMultiTracingProcessor.set_processors"


def patch() -> Callable[[], None]:
    """Add a processor to the SDK's tracing; the function returned makes it inert (the SDK cannot remove one).

    ``set_trace_processors`` replaces every processor, which is how users keep the SDK's traces from its backend: ours
    is added back after it, so that call means what the user meant, whether it comes before autolog or after.
    """
    if not _is_the_sdk():
        return lambda: None
    from agents.tracing import add_trace_processor

    from ._agents_processor import SpanliteProcessor

    processor = SpanliteProcessor()
    add_trace_processor(processor)

    def keep_ours(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        if processor.active:
            guard(instance.add_tracing_processor, processor)
        return result

    handle = wrapt.wrap_function_wrapper(_MODULE, _METHOD, keep_ours)

    def undo() -> None:
        processor.active = False
        wrapt.unwrap_object(sys.modules[_MODULE], _METHOD, handle)

    return undo


def _is_the_sdk() -> bool:
    try:
        return importlib.util.find_spec(_MODULE) is not None
    except (ImportError, ValueError):  # an ``agents`` module that is not a package
        return False
