"""Traces page: the newest traces first, filtered and searched, one keyset page at a time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from spanlite.store import TraceFilter, TraceSummary
from spanlite.store.views import FeedbackSummary
from spanlite.tracing.kinds import SpanKind
from spanlite.viewer import _render, data
from spanlite.viewer._pager import page_buttons

ANY = "Any"

if trace_id := st.query_params.get("trace"):  # ``/?trace=<id>`` deep links land on the default page
    st.switch_page("trace_page.py", query_params={"trace": trace_id})

st.title("Traces")


def _filters() -> data.FilterForm:
    text = st.text_input("Search", placeholder="Full-text search over span inputs and outputs", key="f_text")
    with st.expander("Filters", expanded=True, icon=":material/filter_list:"):
        row1 = st.columns(4)
        time_range = row1[0].selectbox(
            "Time range", list(data.TIME_RANGES), index=len(data.TIME_RANGES) - 1, key="f_time"
        )
        status = row1[1].selectbox(
            "Status", [ANY, "OK", "ERROR", "IN_PROGRESS"], key="f_status",
            help="ERROR: a span failed, whatever the root says. OK: finished with none. IN_PROGRESS: no root yet.",
        )  # fmt: skip
        name = row1[2].text_input("Name contains", key="f_name")
        kinds = [k.value for k in SpanKind if k.value in data.facet("kind")]
        kind = row1[3].selectbox("Has span kind", [ANY, *kinds], key="f_kind")
        row2 = st.columns(4)
        model = row2[0].selectbox("Model", [ANY, *data.facet("model")], key="f_model")
        tags = row2[1].multiselect("Tags (all of)", data.facet("tag"), key="f_tags")
        session_id = row2[2].text_input("Session ID", key="f_session")
        user_id = row2[3].text_input("User ID", key="f_user")
        row3 = st.columns(4)
        feedback = row3[0].selectbox("Feedback", data.FEEDBACK_STATES, key="f_feedback")
        condition = row3[1].text_input(
            "Feedback condition", placeholder="score<3", key="f_feedback_cond",
            help="name, an operator (= != < <= > >=) and a value: score<3, thumbs=false, label=hallucination",
        )  # fmt: skip
        service = row3[2].selectbox(
            "Service", [ANY, *data.facet("service")], key="f_service", help="Traces with a span from this service"
        )
        min_cost = row3[3].number_input(
            "Min cost (USD)", min_value=0.0, value=None, step=0.01, format="%.4f", key="f_min_cost",
            help="Traces whose model calls cost at least this; traces with no known cost are left out",
        )  # fmt: skip
    filters = TraceFilter(
        status=None if status == ANY else status,
        name=name.strip() or None,
        kind=None if kind == ANY else kind,
        model=None if model == ANY else model,
        service=None if service == ANY else service,
        tags=tags or None,
        session_id=session_id.strip() or None,
        user_id=user_id.strip() or None,
        min_cost=min_cost,
        text=text.strip() or None,
    )
    return data.FilterForm(filters, time_range=time_range, feedback=feedback, feedback_condition=condition)


def _feedback_text(items: list[FeedbackSummary]) -> str:
    """Thumbs as ``👍 2 👎 1``, numbers as ``score ⌀3.5 (2)``, anything else as ``label ×2``."""
    parts = []
    for f in items:
        name = "" if f.name == data.THUMBS else f"{f.name} "
        if f.trues + f.falses == f.count:
            parts.append(f"{name}👍 {f.trues} 👎 {f.falses}")
        elif f.mean is not None:
            parts.append(f"{name}⌀{f.mean:.3g} ({f.count})")
        else:
            parts.append(f"{name}×{f.count}")
    return " · ".join(parts)


def _table(traces: list[TraceSummary]) -> pd.DataFrame:
    feedback = data.feedback([t.trace_id for t in traces])
    services = data.services([t.trace_id for t in traces])
    rows: list[dict[str, Any]] = [
        {
            "Time (UTC)": _render.when(t.start_ns),
            "Name": t.name or "",
            "Service": ", ".join(services.get(t.trace_id, [])),
            "Duration": _render.duration(t.duration_ms),
            "Status": _render.status_label(t.status),
            "Errors": t.error_count,  # failed spans: a trace can recover from a failure and still end OK
            "Spans": t.span_count,
            "Tokens": _render.tokens(t.input_tokens, t.output_tokens),
            "Cost": _render.cost(t.cost),
            "Session": t.session_id or "",
            "User": t.user_id or "",
            "Tags": ", ".join(t.tags),
            "Feedback": _feedback_text(feedback.get(t.trace_id, [])),
            "Input": t.input_preview or "",
            "Output": t.output_preview or "",
            "Trace ID": t.trace_id,
        }
        for t in traces
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def _page(filters: data.FilterForm) -> None:
    # Keyset pagination: a stack of page tokens, reset whenever the filters change.
    if st.session_state.get("traces_filters") != filters:
        st.session_state["traces_filters"] = filters
        st.session_state["traces_tokens"] = [None]
    tokens: list[str | None] = st.session_state["traces_tokens"]
    try:
        page = data.search(filters, tokens[-1])
    except ValueError as exc:
        st.error(_render.md_escape(exc))
        return
    if not page:
        st.info("No traces match." if len(tokens) == 1 else "No more traces.")
    else:
        event = st.dataframe(
            _table(page),
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key=f"traces_table_{len(tokens)}",
            column_config={
                "Name": st.column_config.TextColumn(width="medium"),
                "Input": st.column_config.TextColumn(width="large"),
                "Output": st.column_config.TextColumn(width="large"),
                "Spans": st.column_config.NumberColumn(width="small"),
                "Errors": st.column_config.NumberColumn(width="small", help="Spans that failed"),
            },
        )
        if event.selection.rows:
            st.switch_page("trace_page.py", query_params={"trace": page[event.selection.rows[0]].trace_id})
        st.caption(f"{len(page):,} trace{'s' if len(page) != 1 else ''} on this page. Select a row to open one.")
    page_buttons(tokens, page.next_page_token, key="traces", caption="Page {page}", newest_first=True)


filters = _filters()
st.fragment(run_every=data.live_interval())(_page)(filters)
