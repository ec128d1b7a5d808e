"""Sessions page: sessions by latest activity, and one session's traces read as a conversation."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spanlite.store import TraceSummary
from spanlite.viewer import _render, data

SESSIONS_PER_PAGE = 20


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
                    "Last activity (UTC)": _render.when(s.last_ns),
                    "Session": s.session_id,
                    "Traces": s.trace_count,
                    "User": s.user_id or "",
                    "Tokens": _render.tokens(s.input_tokens, s.output_tokens),
                    "Errors": s.error_count,
                    "Started (UTC)": _render.when(s.first_ns),
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


def _turn(trace: TraceSummary, root_inputs: object, root_outputs: object) -> None:
    """One trace as a user turn and an assistant turn, with a link to the whole trace."""
    with st.chat_message("user"):
        st.text(_render.as_text(root_inputs) if root_inputs is not None else trace.input_preview or "")
    with st.chat_message("assistant"):
        st.text(_render.as_text(root_outputs) if root_outputs is not None else trace.output_preview or "")
        st.caption(
            f"{_render.status_label(trace.status)} · {_render.md_escape(trace.name or '')} · "
            f"{_render.duration(trace.duration_ms)} · {_render.when(trace.start_ns)} UTC"
        )
        st.page_link("trace_page.py", label="Open trace", query_params={"trace": trace.trace_id}, icon="🔍")


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
    for trace in traces:
        root = roots.get((trace.trace_id, trace.root_span_id or ""))
        _turn(trace, root.inputs if root else None, root.outputs if root else None)
    if next_token is not None and st.button("Load more"):
        tokens.append(next_token)
        st.rerun()


def _page() -> None:
    if session_id := st.query_params.get("session"):
        _conversation(session_id)
    else:
        _list()


st.fragment(run_every=data.live_interval())(_page)()
