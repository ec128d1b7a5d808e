"""The Trace page's span tree: a small custom component (``static/span_tree.js`` and ``.css``, shipped in the
package, no build step) that draws the tree and the waterfall in one row per span, one scroll for both.

It collapses and expands, searches span names and kinds itself, asks the store to search inputs and outputs (only
span ids come back: inputs never go to the browser), jumps to the next error, and opens at the span a deep link
names. The trace's spans are sent once: a click sends only the chosen span's id back, and since the tree's data
does not change, Streamlit sends the unchanged element to the browser by reference rather than again.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
import streamlit as st

from spanlite.store import TraceSummary
from spanlite.store.prices import format_usd
from spanlite.viewer import data

STATIC = Path(__file__).parent / "static"
# One colour per span kind, the same in every trace; red is kept for errors, which are outlined, not filled.
KIND_COLORS = {
    "LLM": "#7b4fc9", "CHAT_MODEL": "#b061c7", "EMBEDDING": "#0f8f86", "RETRIEVER": "#2f6fd6",
    "RERANKER": "#1f9bbf", "TOOL": "#c9780c", "AGENT": "#2e9e4f", "CHAIN": "#687385", "PARSER": "#8d6e1f",
    "GUARDRAIL": "#c2457a", "EVALUATOR": "#5557d9", "TASK": "#6d9a1d", "UNKNOWN": "#9aa0aa",
}  # fmt: skip
ERROR_COLOR = "#d62728"

_component = st.components.v2.component(
    "spanlite_span_tree",
    html="",
    css=(STATIC / "span_tree.css").read_text(encoding="utf-8"),
    js=(STATIC / "span_tree.js").read_text(encoding="utf-8"),
)


@st.cache_data(max_entries=8, show_spinner=False)
def _tree(db: str, trace_id: str, span_count: int, end_ns: int) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The trace's spans as the component reads them (JSON text without its closing brace), and their links.

    Cached per trace and its size, so a click on a 10,000-span trace does not read and encode it again; a trace
    still growing (more spans, a later end) is read again.
    """
    del db, span_count, end_ns  # only part of the cache key
    nodes = data.span_tree(trace_id)
    start = min((n.start_ns for n in nodes), default=0)
    end = max((n.end_ns for n in nodes), default=start)
    tree = {
        "trace": trace_id,
        "ids": [n.span_id for n in nodes],
        "names": [n.name for n in nodes],
        "kinds": [n.kind if n.kind in KIND_COLORS else "UNKNOWN" for n in nodes],
        "depth": [n.depth for n in nodes],
        "start": [round((n.start_ns - start) / 1e6, 3) for n in nodes],
        "dur": [round(max(n.end_ns - n.start_ns, 0) / 1e6, 3) for n in nodes],
        "errors": [i for i, n in enumerate(nodes) if n.status == "ERROR"],
        "tokens": {
            i: f"{n.input_tokens or 0:,}→{n.output_tokens or 0:,}"
            for i, n in enumerate(nodes)
            if n.input_tokens is not None or n.output_tokens is not None
        },
        "costs": {i: format_usd(n.cost) for i, n in enumerate(nodes) if n.cost is not None},
        "total": round((end - start) / 1e6, 3),
        "colors": KIND_COLORS,
        "error_color": ERROR_COLOR,
    }
    text = orjson.dumps(tree, option=orjson.OPT_NON_STR_KEYS).decode()
    links = [(n.name, link) for n in nodes for link in n.links]
    return text[:-1], links


def links(info: TraceSummary) -> list[tuple[str, dict[str, Any]]]:
    """The links of the trace's spans: (span name, link), from the same cached read as the tree."""
    return _tree(str(data.db_path()), info.trace_id, info.span_count, info.end_ns)[1]


def show(info: TraceSummary, selected: str | None) -> None:
    """The tree for ``info``'s trace with ``selected`` highlighted; a span chosen in it becomes ``&span=``."""
    key = f"span_tree_{info.trace_id}"
    tree, _ = _tree(str(data.db_path()), info.trace_id, info.span_count, info.end_ns)
    query, matches = st.session_state.get(f"{key}_text", (None, []))
    extra = {"focus": _focus(key, selected), "query": query, "text_matches": matches}
    _component(
        key=key,
        data=tree + "," + orjson.dumps(extra).decode()[1:],
        on_select_change=functools.partial(_on_select, key),
        on_search_change=functools.partial(_on_search, key, info.trace_id),
    )


def _focus(key: str, selected: str | None) -> tuple[str | None, int]:
    """The span the tree should open at, numbered: it changes only when the selection came from elsewhere (a deep
    link, a link to a span, the browser's Back button), so a click in the tree leaves the tree's data as it was;
    the number tells the tree to go there again even when it was there before. A tree not drawn in the last run
    (its widget state is gone) is drawn anew, at the selected span."""
    fresh = key not in st.session_state
    number = st.session_state.get(f"{key}_focus", (None, 0))[1]
    if fresh or selected != st.session_state.get(f"{key}_picked"):
        st.session_state[f"{key}_focus"] = (selected, number + 1)
        st.session_state[f"{key}_picked"] = selected  # until the tree picks another
    focus: tuple[str | None, int] = st.session_state[f"{key}_focus"]
    return focus


def _on_select(key: str) -> None:
    span_id = st.session_state[key].get("select")
    if isinstance(span_id, str):
        st.session_state[f"{key}_picked"] = span_id
        st.query_params["span"] = span_id


def _on_search(key: str, trace_id: str) -> None:
    text = st.session_state[key].get("search")
    if isinstance(text, str):
        st.session_state[f"{key}_text"] = (text, data.span_text_matches(trace_id, text))
