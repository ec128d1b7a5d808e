"""Inputs and outputs as JSON: plain data at once, the app's own objects later, on spanlite's export thread.

Plain data (what orjson encodes by itself: dicts, lists, strings, numbers, dataclasses, ...) is encoded when the
span gets it, at C speed and as it is then. An object whose rendering runs the app's code (a custom ``__repr__``,
a pydantic ``model_dump``) may be slow, and the caller must not wait for it: such a value is kept, its plain parts
encoded now (``serialize.snapshot``), and rendered once the span has ended, on the thread that exports it
(``_late``). The trade-off: an object is recorded as it is when the span is exported, a fraction of a second after
it ended; one the app changes meanwhile shows its later state, and its ``__repr__`` runs on another thread. Where
no export thread of spanlite's will see the span (a processor of someone else's), it is rendered at once, as before.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace

from ._guard import logger
from ._late import read_later
from ._sdk_attributes import set_valid_attributes
from .serialize import plain_json, snapshot, to_json


def set_json(span: otel_trace.Span, key: str, value: Any) -> None:
    """Set ``key`` on ``span`` to ``value`` as JSON text: now if it is plain data, else once the span has ended."""
    text = plain_json(value)
    if text is None:
        set_json_later(span, key, value)
    else:
        set_valid_attributes(span, {key: text})


def set_json_later(span: otel_trace.Span, key: str, value: Any) -> None:
    """Set ``key`` on ``span`` to ``value`` as JSON text once the span has ended (``value`` is no plain data)."""
    held = snapshot(value)
    if not read_later(span, lambda: {key: _render(held)}):
        set_valid_attributes(span, {key: to_json(value)})


def _render(held: Any) -> str:
    try:
        return to_json(held)
    except Exception as exc:  # the app changed it while it was read (a dict resized under the walk, say)
        logger.debug("spanlite could not render a value the app changed meanwhile: %r", exc)
        return to_json(f"<not recorded: {type(exc).__name__} while it was read>")
