"""Sessions page: sessions by latest activity, and one session's traces read as a conversation."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spanlite.store import SpanRecord, TraceSummary
from spanlite.viewer import _bounded, _render, data

SESSIONS_PER_PAGE = 20
FIELDS_SHOWN = 20  # of one turn's fields; the trace page shows them all
MARKDOWN_HELP = "Formatting only: no HTML or images; links only to http, https and mailto addresses"


def _list() -> None:
    st.title("Sessions")
    wanted = st.text_input("Session ID", placeholder="Open a session by its ID")
    if wanted.strip():
        st.query_params["session"] = wanted.strip()
        st.rerun()
    cursors: list[int | None] = st.session_state.setdefault("session_cursors", [None])
    sessions = data.sessions(cursors[-1], limit=SESSIONS_PER_PAGE)
    if not sessions:
        st.info("No sessions yet. Set one with `spanlite.update_current_trace(session_id=...)`.")
    else:
        table = pd.DataFrame(
            [
                {
                    f"Last activity ({_render.zone_name()})": _render.when(s.last_ns),
                    "Session": s.session_id,
                    "Traces": s.trace_count,
                    "User": s.user_id or "",
                    "Tokens": _render.tokens(s.input_tokens, s.output_tokens),
                    "Errors": s.error_count,
                    f"Started ({_render.zone_name()})": _render.when(s.first_ns),
                }
                for s in sessions
            ]
        )
        event = st.dataframe(
            table, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"sessions_{len(cursors)}"
        )
        if event.selection.rows:
            st.query_params["session"] = sessions[event.selection.rows[0]].session_id
            st.rerun()
        st.caption("Select a row to read the session.")
    prev, _, nxt = st.columns([1, 2, 1])
    if prev.button("← Newer", disabled=len(cursors) == 1, key="sessions_prev"):
        cursors.pop()
        st.rerun()
    if nxt.button("Older →", disabled=len(sessions) < SESSIONS_PER_PAGE, key="sessions_next"):
        cursors.append(sessions[-1].last_ns)
        st.rerun()


def _turn(trace: TraceSummary, root: SpanRecord | None, budget: _bounded.Budget, markdown: bool) -> None:
    """One trace as a user turn and an assistant turn (its error, when it failed), with a link to the whole trace."""
    key = f"turn_{trace.trace_id}"
    with st.chat_message("user"):
        _said(root.inputs if root else None, trace.input_preview, key=f"{key}_in", budget=budget)
    with st.chat_message("assistant"):
        failed = root is not None and root.status == "ERROR"
        outputs = root.outputs if root else None
        if outputs is not None or not failed:
            _said(outputs, trace.output_preview, key=f"{key}_out", budget=budget, markdown=markdown)
        if failed and root is not None:
            _failure(root, key=f"{key}_error", budget=budget)
        st.caption(
            f"{_render.status_label(trace.status)} · {_render.md_escape(trace.name or '')} · "
            f"{_render.duration(trace.duration_ms)} · {_render.when_named(trace.start_ns)}"
        )
        st.page_link(
            "trace_page.py", label="Open trace", query_params={"trace": trace.trace_id}, icon=":material/open_in_new:"
        )


def _said(value: object, preview: str | None, *, key: str, budget: _bounded.Budget, markdown: bool = False) -> None:
    """What one side said, as text: a turn of several fields (``{"question": ..., "context": ...}``) each under
    its name, anything else as ``_render.as_text`` reads it."""
    value = _render.parse(value)
    if value is None:
        st.text(preview or "")
        return
    body: _bounded.Body = "markdown" if markdown else "text"
    if isinstance(value, dict) and len(value) > 1 and _bounded.as_cut(value) is None and not _render.as_messages(value):
        fields = list(value.items())
        for number, (name, field) in enumerate(fields[:FIELDS_SHOWN]):
            st.caption(_render.md_escape(name, limit=60))
            _bounded.show_text(_render.as_text(field), key=f"{key}_{number}", budget=budget, body=body)
        if len(fields) > FIELDS_SHOWN:
            st.caption(f"{len(fields) - FIELDS_SHOWN:,} more fields: open the trace to see them")
        return
    _bounded.show_text(_render.as_text(value), key=key, budget=budget, body=body)


def _failure(root: SpanRecord, *, key: str, budget: _bounded.Budget) -> None:
    """Why the turn failed: its exception's type and message, else the root's status message."""
    errors = [e.get("attributes") or {} for e in root.events if e.get("name") == "exception"]
    lines = [f"{a.get('exception.type', 'Exception')}: {a.get('exception.message', '')}" for a in errors]
    st.caption(f"{_render.STATUS_ICONS['ERROR']} This turn failed")
    text = "\n".join(lines) or root.status_message or "no error message recorded"
    _bounded.show_text(text, key=key, budget=budget, body="code")


def _conversation(session_id: str) -> None:
    summary = data.session(session_id)
    st.title("Session")
    st.text(session_id)
    if st.button("← All sessions"):
        del st.query_params["session"]
        st.rerun()
    if summary is None:
        st.warning("No traces in this session.")
        return
    cols = st.columns(4)
    cols[0].metric("Traces", f"{summary.trace_count:,}")
    cols[1].metric("Tokens in → out", _render.tokens(summary.input_tokens, summary.output_tokens) or "—")
    cols[2].metric("Errors", f"{summary.error_count:,}")
    cols[3].metric("User", _render.md_escape(summary.user_id or "—", limit=40))
    tokens: list[str | None] = st.session_state.setdefault(f"session_pages_{session_id}", [None])
    traces: list[TraceSummary] = []
    next_token = None
    for token in tokens:  # "Load more" keeps earlier pages on screen: a conversation reads top to bottom
        page = data.session_traces(session_id, token)
        traces.extend(page)
        next_token = page.next_page_token
    roots = data.spans([(t.trace_id, t.root_span_id) for t in traces if t.root_span_id])
    markdown = st.toggle("Answers as Markdown", key="session_markdown", help=MARKDOWN_HELP)
    budget = _bounded.Budget()  # the whole conversation on screen, however many pages are loaded
    for trace in traces:
        _turn(trace, roots.get((trace.trace_id, trace.root_span_id or "")), budget, markdown)
    if next_token is not None and st.button("Load more"):
        tokens.append(next_token)
        st.rerun()


def _page() -> None:
    if session_id := st.query_params.get("session"):
        _conversation(session_id)
    else:
        _list()


st.fragment(run_every=data.live_interval())(_page)()
