"""Show trace content safely: as text, JSON or code, and as Markdown only through ``_markdown.safe``.

Model output is untrusted. Streamlit's Markdown would turn ``[x](javascript:...)``, images or ``:red[...]`` in it
into live elements, so content reaches ``st.text``, ``st.code``, ``st.json`` and dataframes, or, when the reader
asks for Markdown, ``st.markdown`` of ``_markdown.safe``'s rewrite; labels that must be Markdown (headings,
captions) go through ``md_escape``. Every value is bounded by ``_bounded``: one value, and one page, show so much.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import orjson
import streamlit as st

from spanlite.store import clock
from spanlite.store.prices import format_usd
from spanlite.viewer._bounded import Budget, as_cut, left_out, show_cut, show_json, show_text, unmark

# Material icons, not emoji: Streamlit ships their font, while a fresh Linux desktop or server often has no emoji
# font at all. They work in Markdown (labels, captions, headings) and ``icon=`` parameters; dataframe cells show
# plain text instead (``status_text``).
KIND_ICONS = {
    "LLM": ":material/smart_toy:", "CHAT_MODEL": ":material/chat:", "EMBEDDING": ":material/calculate:",
    "RETRIEVER": ":material/search:", "RERANKER": ":material/sort:", "TOOL": ":material/build:",
    "AGENT": ":material/support_agent:", "CHAIN": ":material/link:", "PARSER": ":material/extension:",
    "GUARDRAIL": ":material/shield:", "EVALUATOR": ":material/balance:", "TASK": ":material/assignment:",
    "UNKNOWN": ":material/help:",
}  # fmt: skip
STATUS_ICONS = {
    "OK": ":material/check_circle:", "ERROR": ":material/cancel:", "IN_PROGRESS": ":material/hourglass_top:",
    "UNSET": ":material/radio_button_unchecked:",
}  # fmt: skip
TOOL_ICON = KIND_ICONS["TOOL"]
ROLE_AVATARS = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}
OTHER_ROLE_AVATARS = {"system": ":material/settings:", "developer": ":material/settings:", "tool": TOOL_ICON}
OTHER_ROLE_AVATARS["function"] = TOOL_ICON
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
    """A status for Markdown (captions, headings): its icon and its name."""
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def status_text(status: str) -> str:
    """A status for a dataframe cell, where icons do not render: its name, "in progress" spelled out."""
    return status.replace("_", " ").lower() if status == "IN_PROGRESS" else status


TIMES_IN = "times_in"  # the sidebar's choice: "local" (the default) or "UTC"


def zone() -> dt.tzinfo | None:
    """The zone the reader chose for times: ``None`` for the local time of the machine the viewer runs on (a local
    tool: the reader's own, as a rule), else UTC."""
    return dt.UTC if st.session_state.get(TIMES_IN) == "UTC" else None


def zone_name() -> str:
    """The chosen zone's name now, for headings: ``Time (CET)``."""
    return clock.zone_name(zone())


def when(ns: int) -> str:
    """A time to the second in the chosen zone, for a cell under a heading that names the zone (``zone_name``); the
    zone's own name follows when another held that day (CEST under a CET heading)."""
    moment = clock.at(ns, zone())
    text = moment.strftime(clock.FORMAT)
    return text if moment.tzname() == zone_name() else f"{text} {moment.tzname()}"


def when_named(ns: int) -> str:
    """A time to the second in the chosen zone with the zone named, for captions: ``2026-12-06 09:41:00 CET``."""
    return clock.clock(ns, zone())


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


def as_documents(value: Any, kind: str | None = None) -> list[dict[str, Any]] | None:
    """Retrieved documents found in a value, each as ``{"text", "id", "score", ...the rest}``: dicts whose text is
    under ``content`` (OpenInference, flattened from ``retrieval.documents``), ``page_content`` (LangChain, MLflow)
    or ``text`` (LlamaIndex nodes, or ``{"node": {...}, "score": ...}``), also under a ``documents`` key (Haystack);
    a dict with a ``role`` is a message, not a document. A retriever's list of plain strings is documents too."""
    value = parse(value)
    if isinstance(value, dict) and isinstance(value.get("documents"), list):
        value = value["documents"]
    if not isinstance(value, list) or not value:
        return None
    retrieved = kind in ("RETRIEVER", "RERANKER")
    if retrieved and all(isinstance(d, str) for d in value):
        return [{"text": d} for d in value]
    cards = [_card(d, retrieved) for d in value]
    return None if any(c is None for c in cards) else [c for c in cards if c is not None]


_TEXT_KEYS = ("content", "page_content", "text")
_ID_KEYS = ("id", "id_", "doc_id", "document_id")


def _card(document: Any, retrieved: bool) -> dict[str, Any] | None:
    """A document as a card; ``text`` is a document's only as a LlamaIndex node has it (or in a retriever's output):
    many a list of records has a ``text``."""
    if not isinstance(document, dict) or "role" in document:
        return None
    if isinstance(node := document.get("node"), dict):  # LlamaIndex's NodeWithScore: the node, its score beside it
        document = {**node, **{k: v for k, v in document.items() if k != "node"}}
    keys = _TEXT_KEYS if retrieved or "id_" in document else _TEXT_KEYS[:2]
    text = next((document[k] for k in keys if isinstance(document.get(k), str)), None)
    if text is None:
        return None
    card = {"text": text, "id": next((document[k] for k in _ID_KEYS if document.get(k) is not None), None)}
    card["score"] = document.get("score")
    card.update({k: v for k, v in document.items() if k not in (*_TEXT_KEYS, *_ID_KEYS, "score")})
    return card


def show_documents(documents: list[dict[str, Any]], *, key: str = "documents", budget: Budget | None = None) -> None:
    """Each document (as ``as_documents`` gives it) in a box: number, id and score, its text, then its metadata and
    anything else as JSON."""
    budget = budget or Budget()
    for number, document in enumerate(documents, start=1):
        if left_out(documents[number - 1 :], "documents", key=key, budget=budget):
            break
        with st.container(border=True):
            label = [f"Document {number}"]
            if document.get("id") is not None:
                label.append(str(document["id"]))
            if isinstance(score := document.get("score"), (int, float)) and not isinstance(score, bool):
                label.append(f"score {score:.3f}")
            st.caption(f":material/description: {md_escape(' · '.join(label))}")
            show_text(document["text"], key=f"{key}_{number}", budget=budget)
            rest = {k: v for k, v in document.items() if k not in ("text", "id", "score") and v is not None}
            if rest:
                show_json(rest, key=f"{key}_{number}_rest", budget=budget, expanded=1)


def show_value(
    value: Any, *, key: str, budget: Budget | None = None, markdown: bool = False, kind: str | None = None
) -> None:
    """Messages as a chat, documents as documents, text as text (or safe Markdown), anything else as a JSON tree;
    each within what ``budget`` (one page's) has left, a value spanlite cut labelled as cut."""
    budget = budget or Budget()
    value = parse(value)
    if value is None:
        st.caption("—")
    elif (cut := as_cut(value)) is not None:
        show_cut(cut, key=key, budget=budget)
    elif (messages := as_messages(value := unmark(value))) is not None:
        show_messages(messages, key=key, budget=budget, markdown=markdown)
    elif (documents := as_documents(value, kind)) is not None:
        show_documents(documents, key=key, budget=budget)
    elif isinstance(value, str):
        show_text(value, key=key, budget=budget, body="markdown" if markdown else "text")
    elif isinstance(value, (dict, list)):
        show_json(value, key=key, budget=budget)
    else:
        st.code(str(value), language=None, wrap_lines=True)


def show_messages(
    messages: list[dict[str, Any]], *, key: str = "messages", budget: Budget | None = None, markdown: bool = False
) -> None:
    budget = budget or Budget()
    for number, message in enumerate(messages):
        if left_out(messages[number:], "messages", key=key, budget=budget):
            break
        role = str(message.get("role") or "unknown")
        known = ROLE_AVATARS.get(role.lower())
        if known is not None:
            name, avatar = known, known
        else:  # the author name is not shown as text, but keep arbitrary content out of it anyway
            name = role.lower() if role.lower() in OTHER_ROLE_AVATARS else "message"
            avatar = OTHER_ROLE_AVATARS.get(role.lower(), ":material/chat:")
        with st.chat_message(name, avatar=avatar):
            if role.lower() not in ("user", "assistant"):
                st.caption(md_escape(role))
            _message_body(message, _Show(f"{key}_{number}", budget, markdown))


@dataclasses.dataclass
class _Show:
    """Where one message's parts go: their keys' stem, the page's budget, Markdown or not."""

    key: str
    budget: Budget
    markdown: bool
    parts: int = 0

    def text(self, text: str) -> None:
        show_text(text, key=self._next(), budget=self.budget, body="markdown" if self.markdown else "text")

    def code(self, text: str) -> None:
        show_text(text, key=self._next(), budget=self.budget, body="code")

    def json(self, value: Any) -> None:
        show_json(value, key=self._next(), budget=self.budget, expanded=1)

    def _next(self) -> str:
        self.parts += 1
        return f"{self.key}_{self.parts}"


def _message_body(message: dict[str, Any], show: _Show) -> None:
    content = message.get("content")
    if isinstance(content, str):
        show.text(content)
    elif isinstance(content, list):
        for part in content:
            _part(part, show)
    elif content is not None:
        show.json(content)
    for part in message.get("parts") or []:  # OTel GenAI semantic-convention messages
        _part(part, show)
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            show.json(call)
            continue
        function = call.get("function") or {}
        st.caption(f"{TOOL_ICON} tool call {md_escape(function.get('name') or call.get('name') or '')}")
        show.code(_pretty(function.get("arguments", call.get("arguments"))))
    if message.get("tool_call_id"):
        st.caption(f"result of tool call {md_escape(message['tool_call_id'])}")


def _part(part: Any, show: _Show) -> None:
    if isinstance(part, str):
        show.text(part)
        return
    if not isinstance(part, dict):
        show.json(part)
        return
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        show.text(str(part.get("text", part.get("content", ""))))
    elif kind in ("tool_call", "tool_use", "function_call"):
        st.caption(f"{TOOL_ICON} tool call {md_escape(part.get('name') or '')}")
        show.code(_pretty(part.get("arguments", part.get("input"))))
    elif kind in ("tool_call_response", "tool_result", "function_call_output"):
        st.caption("tool result")
        result = part.get("response", part.get("content", part.get("output")))
        show.text(result) if isinstance(result, str) else show.json(result)
    else:
        show.json(part)


def _pretty(arguments: Any) -> str:
    value = parse(arguments)
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def show_exception(event: dict[str, Any], *, key: str = "exception", budget: Budget | None = None) -> None:
    """An ``exception`` event: type and message, then the traceback as code."""
    budget = budget or Budget()
    attributes = event.get("attributes") or {}
    header = f"{attributes.get('exception.type', 'Exception')}: {attributes.get('exception.message', '')}"
    show_text(header, key=key, budget=budget, body="code")
    if stacktrace := attributes.get("exception.stacktrace"):
        show_text(str(stacktrace), key=f"{key}_stacktrace", budget=budget, body="code")


def as_text(value: Any) -> str:
    """A turn of a conversation as plain text: a lone string as itself, the last message's text, else JSON."""
    value = unmark(parse(value))
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
