"""What a list shows of a trace's input or output: one short line of text, not the JSON it is stored as.

The writer keeps it in ``traces.input_preview``/``output_preview``; the viewer reads a preview an older spanlite
stored (compact JSON) through ``preview`` again, which leaves text as it is.
"""

from __future__ import annotations

from typing import Any

import orjson

PREVIEW_CHARS = 300
_DEPTH = 5  # nesting searched for text: a value's text is near its top, or it is data


def preview(json_text: str | None) -> str | None:
    """A short one-line text for lists: the text a value holds (``text_of``), else the value as compact JSON."""
    if json_text is None:
        return None
    try:
        value = orjson.loads(json_text)
    except orjson.JSONDecodeError:
        value = json_text
    text = text_of(value)
    if text is None:
        text = orjson.dumps(value).decode()  # one line: orjson escapes line breaks inside strings
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def text_of(value: Any, depth: int = 0) -> str | None:
    """The text a reader looks for: a string itself; of a chat (a list of messages, or ``{"messages": [...]}``)
    the last user message; of a content part its text; of any other mapping or list its first text, in order;
    ``None`` when it holds none."""
    if isinstance(value, str):
        return value if value.strip() else None
    if depth >= _DEPTH:
        return None
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, dict) and isinstance(value.get("text"), str):  # a content part: {"type": "text", ...}
        return text_of(value["text"], depth + 1)
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        users = [m for m in value if m.get("role") == "user"] or value
        return text_of(users[-1].get("content"), depth + 1)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        if (text := text_of(item, depth + 1)) is not None:
            return text
    return None
