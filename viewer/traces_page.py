"""Traces page: the newest traces first, filtered and searched, one keyset page at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from spanlite.store import TraceFilter, TraceSummary
from spanlite.store.views import FeedbackSummary
from spanlite.tracing.kinds import SpanKind
from spanlite.viewer import _add_to_dataset, _getting_started, _render, data
from spanlite.viewer._pager import page_buttons

ANY = "Any"
TIME = f"Time ({_render.zone_name()})"  # a page script runs on every rerun: the zone chosen now

if trace_id := st.query_params.get("trace"):  # ``/?trace=<id>`` deep links land on the default page
    st.switch_page("trace_page.py", query_params={"trace": trace_id})

st.title("Traces")


STATUSES = {ANY: ANY, "OK": "OK (no errors)", "ERROR": "Has errors", "IN_PROGRESS": "In progress"}
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "slowest": "Slowest first",
    "most-tokens": "Most tokens first",
    "most-cost": "Most cost first",
}


def _filters() -> data.FilterForm:
    top = st.columns([3, 1])
    text = top[0].text_input("Search", placeholder="Full-text search over span inputs and outputs", key="f_text")
    sort = top[1].selectbox("Sort", list(SORT_LABELS), format_func=SORT_LABELS.__getitem__, key="f_sort")
    with st.expander("Filters", expanded=True, icon=":material/filter_list:"):
        row1 = st.columns(4)
        time_range = row1[0].selectbox(
            "Time range", list(data.TIME_RANGES), index=len(data.TIME_RANGES) - 1, key="f_time"
        )
        status = row1[1].selectbox(
            "Status", list(STATUSES), format_func=STATUSES.__getitem__, key="f_status",
            help="Has errors: a span failed, whatever the root says. OK: finished with none. In progress: no root yet.",
        )  # fmt: skip
        name = row1[2].text_input("Name contains", key="f_name")
        kinds = [k.value for k in SpanKind if k.value in data.facet("kind")]
        kind = row1[3].selectbox("Has span kind", [ANY, *kinds], key="f_kind")
        row2 = st.columns(4)
        model = row2[0].selectbox(
            "Model", [ANY, *data.model_names()], key="f_model", help="Also finds its dated ids (gpt-4o-mini-2024-07-18)"
        )
        tags = row2[1].multiselect("Tags (all of)", data.facet("tag"), key="f_tags")
        session_id = row2[2].text_input("Session ID", key="f_session")
        user_id = row2[3].text_input("User ID", key="f_user")
        row3 = st.columns(4)
        feedback = row3[0].selectbox("Feedback", data.FEEDBACK_STATES, key="f_feedback")
        on_spans = row3[0].checkbox(
            "Count feedback on spans too", key="f_feedback_spans",
            help="Feedback and its condition look at ratings of the trace itself; this counts its spans' ratings too",
        )  # fmt: skip
        condition = row3[1].text_input(
            "Feedback condition", placeholder="e.g. score<3", key="f_feedback_cond",
            help="name, an operator (= != < <= > >=) and a value: score<3, thumbs=false, label=hallucination",
        )  # fmt: skip
        service = row3[2].selectbox(
            "Service", [ANY, *data.facet("service")], key="f_service", help="Traces with a span from this service"
        )
        min_cost = row3[3].number_input(
            "Min cost (USD)", min_value=0.0, value=None, step=0.01, format="%.4f", key="f_min_cost",
            help="Traces whose model calls cost at least this; traces with no known cost are left out",
        )  # fmt: skip
        row4 = st.columns(4)
        min_ms = row4[0].number_input("Min duration (ms)", min_value=0.0, value=None, step=100.0, key="f_min_ms")
        max_ms = row4[1].number_input("Max duration (ms)", min_value=0.0, value=None, step=100.0, key="f_max_ms")
        metadata = row4[2].text_input(
            "Metadata", placeholder="e.g. env=prod, team=search", key="f_metadata",
            help="key=value pairs, comma-separated, that the trace's metadata must all hold",
        )  # fmt: skip
        dates, zone = row4[3].columns(2), _render.zone_name()
        date_from = dates[0].date_input(f"From ({zone})", value=None, key="f_from", help="Within the time range too")
        date_to = dates[1].date_input(f"To ({zone})", value=None, key="f_to", help="That whole day included")
    filters = TraceFilter(
        status=None if status == ANY else status,
        name=name.strip() or None,
        kind=None if kind == ANY else kind,
        model=None if model == ANY else model,
        service=None if service == ANY else service,
        tags=tags or None,
        session_id=session_id.strip() or None,
        user_id=user_id.strip() or None,
        min_duration_ms=min_ms,
        max_duration_ms=max_ms,
        min_cost=min_cost,
        text=text.strip() or None,
        feedback_on_spans=on_spans,
    )
    return data.FilterForm(
        filters,
        time_range=time_range,
        feedback=feedback,
        feedback_condition=condition,
        sort=sort,
        date_from=date_from if isinstance(date_from, dt.date) else None,
        date_to=date_to if isinstance(date_to, dt.date) else None,
        metadata=metadata,
        local_days=_render.zone() is None,
    )


def _status(t: TraceSummary) -> str:
    """The trace's own outcome, and its failed spans when its root did not say so (a recovered failure)."""
    label = _render.status_text(t.status)  # a cell: text, since icons do not render there
    if t.status == "ERROR" or not t.error_count:
        return label
    return f"{label} · {t.error_count:,} error{'s' if t.error_count != 1 else ''}"


def _feedback_text(items: list[FeedbackSummary]) -> str:
    """Thumbs as ``2 up, 1 down``, numbers as ``score ⌀3.5 (2)``, anything else as ``label ×2``."""
    parts = []
    for f in items:
        name = "" if f.name == data.THUMBS else f"{f.name} "
        if f.trues + f.falses == f.count:
            parts.append(f"{name}{f.trues} up, {f.falses} down")
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
            TIME: _render.when(t.start_ns),
            "Name": t.name or "",
            "Input": data.preview_text(t.input_preview),  # what was asked and answered, in view without scrolling
            "Output": data.preview_text(t.output_preview),
            "Status": _status(t),
            "Duration (ms)": t.duration_ms,
            "Tokens": _total(t.input_tokens, t.output_tokens),
            "Cost": t.cost,
            "Errors": t.error_count,  # failed spans: a trace can recover from a failure and still end OK
            "Spans": t.span_count,
            "Feedback": _feedback_text(feedback.get(t.trace_id, [])),
            "Session": t.session_id or "",
            "User": t.user_id or "",
            "Tags": ", ".join(t.tags),
            "Service": ", ".join(services.get(t.trace_id, [])),
            "Trace ID": t.trace_id,
        }
        for t in traces
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def _total(input_tokens: int | None, output_tokens: int | None) -> int | None:
    return None if input_tokens is None and output_tokens is None else (input_tokens or 0) + (output_tokens or 0)


# Numbers stay numbers, so that a click on a header sorts them by value (on this page; "Sort" sorts them all).
COLUMNS = {
    TIME: st.column_config.TextColumn(width=150),
    "Name": st.column_config.TextColumn(width="medium"),
    "Input": st.column_config.TextColumn(width="medium"),
    "Output": st.column_config.TextColumn(width="medium"),
    "Status": st.column_config.TextColumn(
        help="The root's outcome, and its failed spans when the root did not fail (OK · 1 error)"
    ),
    "Duration (ms)": st.column_config.NumberColumn(format="%,.2f", width=110),
    "Tokens": st.column_config.NumberColumn(format="%,d", width=80, help="Input + output tokens"),
    "Cost": st.column_config.NumberColumn(format="$%.6f", width=90, help="USD, where prices are known"),
    "Errors": st.column_config.NumberColumn(width=60, help="Spans that failed"),
    "Spans": st.column_config.NumberColumn(width=60),
}


def _page(filters: data.FilterForm) -> None:
    # Keyset pagination: a stack of page tokens, reset whenever the filters change.
    if st.session_state.get("traces_filters") != filters:
        st.session_state["traces_filters"] = filters
        st.session_state["traces_tokens"] = [None]
    tokens: list[str | None] = st.session_state["traces_tokens"]
    try:
        page = data.search(filters, tokens[-1])
        matching = data.count(filters)
    except ValueError as exc:
        st.error(_render.md_escape(exc))
        return
    comparing = _toolbar(filters, matching)
    if not page and len(tokens) == 1 and not data.stats()["traces"]:
        _getting_started.show(str(data.db_path()))
        return
    if not page:
        st.info("No traces match." if len(tokens) == 1 else "No more traces.")
    else:
        event = st.dataframe(
            _table(page),
            hide_index=True,
            height="content",  # the page scrolls, not a box of ten rows inside it
            placeholder="",  # unknown tokens or cost: nothing, not "None" (and not 0)
            on_select="rerun",
            selection_mode="multi-row" if comparing else "single-row",
            key=f"traces_table_{len(tokens)}",
            column_config=COLUMNS,
        )
        chosen = [page[i].trace_id for i in event.selection.rows]
        if comparing:
            _compare_button(chosen)
        elif chosen:
            st.switch_page("trace_page.py", query_params={"trace": chosen[0]})
        what = "Select two rows to compare them." if comparing else "Select a row to open one."
        st.caption(f"{len(page):,} trace{'s' if len(page) != 1 else ''} on this page. {what}")
    newest_first = filters.sort == "newest"
    page_buttons(tokens, page.next_page_token, key="traces", caption="Page {page}", newest_first=newest_first)


def _toolbar(filters: data.FilterForm, matching: str) -> bool:
    """The count, the compare toggle, and what can be done with every matching trace; returns whether two rows are
    being chosen to compare."""
    left, toggle, download, dataset = st.columns([3, 2, 1.3, 1.3], vertical_alignment="center")
    left.caption("1 trace matches" if matching == "1" else f"{matching} traces match")
    comparing = toggle.toggle("Select two to compare", key="compare_mode")
    limit = f"the first {data.EXPORT_MAX_TRACES:,} matching traces"
    download.download_button(
        "Download JSONL",
        data=lambda: data.export_jsonl(filters),  # built only when clicked
        file_name="traces.jsonl",
        mime="application/jsonl",
        icon=":material/download:",
        on_click="ignore",
        help=f"Whole traces as `spanlite traces export` writes them: {limit} (at most "
        f"{data.EXPORT_MAX_BYTES // 2**20} MB). The CLI exports any number.",
    )
    with dataset:
        _add_to_dataset.control(lambda: data.matching_trace_ids(filters), key="list_ds")
    return comparing


def _compare_button(chosen: list[str]) -> None:
    pair = len(chosen) == 2
    label = f"Compare {chosen[0]} and {chosen[1]}" if pair else "Select exactly two traces"
    if st.button("Compare", key="compare", disabled=not pair, help=label, icon=":material/compare:") and pair:
        st.switch_page("compare_page.py", query_params={"a": chosen[0], "b": chosen[1]})


filters = _filters()
st.fragment(run_every=data.live_interval())(_page)(filters)
