"""Show trace content safely: always as text, JSON or code, never as Markdown or HTML.

Model output is untrusted. Streamlit's Markdown would turn ``[x](javascript:...)``, images or ``:red[...]`` in it
into live elements, so content only ever reaches ``st.text``, ``st.code``, ``st.json`` and dataframes; labels that
must be Markdown (headings, captions) go through ``md_escape``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson
import streamlit as st

from spanlite.store.prices import format_usd

KIND_ICONS = {
    "LLM": "🤖", "CHAT_MODEL": "💬", "EMBEDDING": "🧮", "RETRIEVER": "🔎", "RERANKER": "📶", "TOOL": "🔧",
    "AGENT": "🕵️", "CHAIN": "🔗", "PARSER": "🧩", "GUARDRAIL": "🛡️", "EVALUATOR": "⚖️", "TASK": "📋",
    "UNKNOWN": "❔",
}  # fmt: skip
STATUS_ICONS = {"OK": "✅", "ERROR": "❌", "IN_PROGRESS": "⏳", "UNSET": "▫️"}
ROLE_AVATARS = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}
OTHER_ROLE_AVATARS = {"system": "⚙️", "developer": "⚙️", "tool": "🔧", "function": "🔧"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: Any, limit: int = 200) -> str:
    """Text that Markdown shows literally: one line, every punctuation mark backslash-escaped."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", line)


def kind_icon(kind: str) -> str:
    return KIND_ICONS.get(kind, KIND_ICONS["UNKNOWN"])


def status_label(status: str) -> str:
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def when(ns: int) -> str:
    """A start time in UTC, to the second."""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    if input_tokens is None and output_tokens is None:
        return ""
    return f"{input_tokens or 0:,} → {output_tokens or 0:,}"


def cost(usd: float | None) -> str:
    """A cost as plain text (tables); "" when unknown, which is not $0. In a metric, pass it through ``md_escape``."""
    return format_usd(usd)


def parse(value: Any) -> Any:
    """JSON text (as attributes hold it) as a value; anything else unchanged."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def as_messages(value: Any) -> list[dict[str, Any]] | None:
    """Chat messages found in a value: a message list, ``{"messages": [...]}``, a completion or one message."""
    value = parse(value)
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("choices"), list):  # an OpenAI chat completion
            value = [c.get("message") for c in value["choices"] if isinstance(c, dict)]
        elif "role" in value:
            value = [value]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        return value
    return None


def as_documents(value: Any) -> list[dict[str, Any]] | None:
    """Retrieved documents found in a value: a list of dicts whose text is under ``content`` (OpenInference) or
    ``page_content`` (LangChain, MLflow); a dict with a ``role`` is a message, not a document."""
    value = parse(value)
    if isinstance(value, list) and value and all(_document_text(d) is not None for d in value):
        return value
    return None


def _document_text(document: Any) -> str | None:
    if not isinstance(document, dict) or "role" in document:
        return None
    text = document.get("content", document.get("page_content"))
    return text if isinstance(text, str) else None


def show_documents(documents: list[dict[str, Any]]) -> None:
    """Each document in a box: number, id and score, its text, then its metadata (and anything else) as JSON."""
    for number, document in enumerate(documents, start=1):
        with st.container(border=True):
            label = [f"📄 Document {number}"]
            if document.get("id") is not None:
                label.append(str(document["id"]))
            if isinstance(score := document.get("score"), (int, float)) and not isinstance(score, bool):
                label.append(f"score {score:.3f}")
            st.caption(md_escape(" · ".join(label)))
            st.text(_document_text(document))
            rest = {k: v for k, v in document.items() if k not in ("content", "page_content", "id", "score")}
            if rest:
                st.json(rest, expanded=2)


def show_value(value: Any, *, key: str) -> None:
    """Messages as a chat, documents as documents, text as text, anything else as a JSON tree."""
    if value is None:
        st.caption("—")
        return
    if (messages := as_messages(value)) is not None:
        show_messages(messages)
    elif (documents := as_documents(value)) is not None:
        show_documents(documents)
    elif isinstance(value, str):
        st.text(value)
    elif isinstance(value, (dict, list)):
        st.json(value, expanded=2)
    else:
        st.code(str(value), language=None, wrap_lines=True)


def show_messages(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        role = str(message.get("role") or "unknown")
        known = ROLE_AVATARS.get(role.lower())
        if known is not None:
            name, avatar = known, known
        else:  # the author name is not shown as text, but keep arbitrary content out of it anyway
            name = role.lower() if role.lower() in OTHER_ROLE_AVATARS else "message"
            avatar = OTHER_ROLE_AVATARS.get(role.lower(), "💬")
        with st.chat_message(name, avatar=avatar):
            if role.lower() not in ("user", "assistant"):
                st.caption(md_escape(role))
            _message_body(message)


def _message_body(message: dict[str, Any]) -> None:
    content = message.get("content")
    if isinstance(content, str):
        st.text(content)
    elif isinstance(content, list):
        for part in content:
            _part(part)
    elif content is not None:
        st.json(content, expanded=1)
    for part in message.get("parts") or []:  # OTel GenAI semantic-convention messages
        _part(part)
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            st.json(call)
            continue
        function = call.get("function") or {}
        st.caption(f"🔧 tool call {md_escape(function.get('name') or call.get('name') or '')}")
        st.code(_pretty(function.get("arguments", call.get("arguments"))), language="json", wrap_lines=True)
    if message.get("tool_call_id"):
        st.caption(f"result of tool call {md_escape(message['tool_call_id'])}")


def _part(part: Any) -> None:
    if isinstance(part, str):
        st.text(part)
        return
    if not isinstance(part, dict):
        st.json(part)
        return
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        st.text(str(part.get("text", part.get("content", ""))))
    elif kind in ("tool_call", "tool_use", "function_call"):
        st.caption(f"🔧 tool call {md_escape(part.get('name') or '')}")
        st.code(_pretty(part.get("arguments", part.get("input"))), language="json", wrap_lines=True)
    elif kind in ("tool_call_response", "tool_result", "function_call_output"):
        st.caption("tool result")
        result = part.get("response", part.get("content", part.get("output")))
        st.text(result) if isinstance(result, str) else st.json(result, expanded=1)
    else:
        st.json(part, expanded=1)


def _pretty(arguments: Any) -> str:
    value = parse(arguments)
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def show_exception(event: dict[str, Any]) -> None:
    """An ``exception`` event: type and message, then the traceback as code."""
    attributes = event.get("attributes") or {}
    header = f"{attributes.get('exception.type', 'Exception')}: {attributes.get('exception.message', '')}"
    st.code(header, language=None, wrap_lines=True)
    if stacktrace := attributes.get("exception.stacktrace"):
        st.code(str(stacktrace), language="python")


def as_text(value: Any) -> str:
    """A turn of a conversation as plain text: a lone string as itself, the last message's text, else JSON."""
    value = parse(value)
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if (messages := as_messages(value)) is not None:
        content = messages[-1].get("content")
        if isinstance(content, str):
            return content
        value = content
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()
