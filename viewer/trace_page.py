"""Trace page (``/trace?trace=<id>&span=<id>``): the span tree beside a waterfall, then the selected span."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from spanlite.store import SpanRecord, TraceSummary
from spanlite.store.views import SpanNode
from spanlite.viewer import _add_to_dataset, _bounded, _charts, _feedback, _render, data

TREE_PAGE = 200  # spans per page of the tree and waterfall; a 10,000-span trace is 50 pages, not one huge table
INDENT = "\u2003"  # an em space: leading ASCII spaces would be trimmed in the table
DEPTHS = {"All levels": None, "Top level": 0, "2 levels": 1, "3 levels": 2, "5 levels": 4}
# What a resource's label names, of the attributes it has; the expander below it shows them all.
RESOURCE_SUMMARY = ("service.name", "service.version", "deployment.environment", "host.name")
LINKS_SHOWN = 100  # a batch consumer may link to hundreds of spans


def _open_form() -> None:
    st.title("Trace")
    trace_id = st.text_input("Trace ID", placeholder="32 hex digits")
    if trace_id:
        st.query_params["trace"] = trace_id.strip()
        st.rerun()
    st.info("Open a trace from the Traces page, or paste its ID.")


_COST_HELP = "USD at the prices spanlite knows (its bundled table and configure(prices=...)); — when unknown"


def _header(info: TraceSummary) -> None:
    st.title(f"{_render.status_label(info.status)[:2]} {_render.md_escape(info.name or 'trace')}")
    st.caption(f"Trace {info.trace_id} · started {_render.when(info.start_ns)} UTC")
    cols = st.columns(7)
    cols[0].metric("Duration", _render.duration(info.duration_ms))
    cols[1].metric("Spans", f"{info.span_count:,}")
    cols[2].metric("Errors", f"{info.error_count:,}")
    cols[3].metric("Tokens in → out", _render.tokens(info.input_tokens, info.output_tokens) or "—")
    cols[4].metric("Cost", _render.md_escape(_render.cost(info.cost) or "—"), help=_COST_HELP)  # $ is Markdown math
    cols[5].metric("Session", _render.md_escape(info.session_id or "—", limit=40))  # metric values are Markdown
    cols[6].metric("User", _render.md_escape(info.user_id or "—", limit=40))
    if info.tags:
        st.text("Tags: " + ", ".join(info.tags))
    actions = st.columns([2, 1, 1, 2])
    actions[0].download_button(
        "Download trace JSON",
        data=lambda: data.trace_json(info.trace_id),
        file_name=f"trace-{info.trace_id}.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
    )
    if info.session_id:
        actions[1].page_link("sessions_page.py", label="Open session", query_params={"session": info.session_id})
    with actions[2]:
        _add_to_dataset.control(info.trace_id, key=f"ds_{info.trace_id}")
    _resources(data.trace_resources(info.trace_id))
    with st.expander("Feedback on this trace", expanded=True, icon=":material/thumbs_up_down:"):
        _feedback.panel(info.trace_id, None, key=f"fb_{info.trace_id}")


def _resources(resources: list[dict[str, Any]]) -> None:
    """Where the trace's spans ran: one resource per process (service), each with all its attributes."""
    for resource in resources:
        label = " · ".join(str(resource[k]) for k in RESOURCE_SUMMARY if k in resource) or "attributes"
        with st.expander(f"Resource: {_render.md_escape(label)}", icon=":material/dns:"):
            st.json(resource, expanded=True)


def _links(nodes: list[SpanNode]) -> None:
    """The spans this trace's spans link to; one whose trace is in the store opens on a click."""
    links = [(node.name, link) for node in nodes for link in node.links]
    if not links:
        return
    shown = links[:LINKS_SHOWN]
    stored = data.stored_traces({str(link.get("trace_id")) for _, link in shown})
    with st.expander(f"Links ({len(links):,})", expanded=True, icon=":material/link:"):
        for name, link in shown:
            trace_id, span_id = str(link.get("trace_id")), str(link.get("span_id"))
            label = f"{name} → trace {trace_id}, span {span_id}"
            if trace_id in stored:
                query = {"trace": trace_id, "span": span_id}
                st.page_link("trace_page.py", label=_render.md_escape(label), query_params=query)
            else:
                st.text(f"{label} (not in this store)")
            if attributes := link.get("attributes"):
                st.json(attributes, expanded=False)
        if len(links) > len(shown):
            st.caption(f"{len(links) - len(shown):,} more links not shown")


def _visible(nodes: list[SpanNode]) -> tuple[list[SpanNode], str]:
    """The slice of the tree on screen (depth limit, then page), and a key that names that slice."""
    controls = st.columns([2, 2, 2])
    depth_label = controls[0].selectbox("Show", list(DEPTHS), key="tree_depth")
    max_depth = DEPTHS[depth_label]
    shown = [n for n in nodes if max_depth is None or n.depth <= max_depth]
    pages = max(1, -(-len(shown) // TREE_PAGE))
    page = 1
    if pages > 1:
        with controls[1]:
            page = st.pagination(pages, key="tree_page")
    if len(nodes) != len(shown):
        controls[2].caption(f"{len(nodes) - len(shown):,} deeper spans hidden")
    return shown[(page - 1) * TREE_PAGE : page * TREE_PAGE], f"{depth_label}_{page}"


def _tree(visible: list[SpanNode], slice_key: str, selected: str | None) -> None:
    """The visible spans as a selectable, indented table; a click selects the span (kept in the URL)."""
    table = pd.DataFrame(
        [
            {
                "Span": f"{INDENT * n.depth}{_render.kind_icon(n.kind)} {n.name}",
                "Kind": n.kind,
                "Duration": _render.duration(n.duration_ms),
                "Tokens": _render.tokens(n.input_tokens, n.output_tokens),
                "Cost": _render.cost(n.cost),
                "Status": _render.status_label(n.status),
            }
            for n in visible
        ]
    )
    event = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"span_table_{slice_key}",
        height=min(38 + 35 * len(visible), 720),
        column_config={"Span": st.column_config.TextColumn(width="large")},
    )
    if event.selection.rows:
        chosen = visible[event.selection.rows[0]].span_id
        if chosen != selected:
            st.query_params["span"] = chosen
            st.rerun()


def _span(record: SpanRecord) -> None:
    st.subheader(f"{_render.kind_icon(record.kind)} {_render.md_escape(record.name)}")
    st.caption(f"Span {record.span_id} · {record.kind} · {_render.status_label(record.status)}")
    cols = st.columns(5)
    cols[0].metric("Duration", _render.duration(record.duration_ms))
    cols[1].metric("Model", _render.md_escape(record.model or "—", limit=40))
    cols[2].metric("Tokens in → out", _render.tokens(record.input_tokens, record.output_tokens) or "—")
    cols[3].metric("Cost", _render.md_escape(_render.cost(record.cost) or "—"), help=_COST_HELP)
    cols[4].metric("Started (UTC)", _render.when(record.start_ns)[11:])
    budget = _bounded.Budget()  # what the whole span may put on the page, its tabs included
    if record.status_message:
        _bounded.show_text(f"Status message: {record.status_message}", key="status_message", budget=budget)
    for number, event in enumerate(record.events):
        if event.get("name") == "exception":
            _render.show_exception(event, key=f"exception_{number}", budget=budget)
    attributes = record.attributes
    inputs = attributes.get("gen_ai.input.messages", record.inputs)
    outputs = attributes.get("gen_ai.output.messages", record.outputs)
    io_tab, feedback_tab, attr_tab, events_tab, raw_tab = st.tabs(
        ["Inputs & outputs", "Feedback on this span", "Attributes", "Events", "JSON"]
    )
    with io_tab:
        left, right = st.columns(2)
        with left:
            st.markdown("**Inputs**")
            if system := attributes.get("gen_ai.system_instructions"):
                _render.show_value(system, key="system", budget=budget)
            _render.show_value(inputs, key="inputs", budget=budget)
        with right:
            heading, switch = st.columns([2, 1])
            heading.markdown("**Outputs**")
            markdown = switch.toggle("Markdown", key="outputs_markdown", help=_MARKDOWN_HELP)
            _render.show_value(outputs, key="outputs", budget=budget, markdown=markdown, kind=record.kind)
    with feedback_tab:
        _feedback.panel(record.trace_id, record.span_id, key=f"fb_{record.trace_id}_{record.span_id}")
    with attr_tab:
        parsed = {k: _render.parse(v) for k, v in attributes.items()}
        _bounded.show_json(parsed, key="attributes", budget=budget, expanded=1)
    with events_tab:
        if record.events:
            _bounded.show_json(record.events, key="events", budget=budget)
        else:
            st.caption("No events.")
    with raw_tab:
        _bounded.show_json(record.to_dict(), key="raw", budget=budget, expanded=1)


_MARKDOWN_HELP = "Show the output as Markdown: formatting only (no HTML or images; links only to http, https, mailto)"


def _trace(trace_id: str) -> None:
    info = data.trace_summary(trace_id)
    if info is None:
        st.title("Trace")
        st.warning("No trace with that ID in this store.")
        st.text(trace_id)
        return
    _header(info)
    nodes = data.span_tree(trace_id)
    _links(nodes)
    selected = st.query_params.get("span") or info.root_span_id or (nodes[0].span_id if nodes else None)
    visible, slice_key = _visible(nodes)
    left, right = st.columns([3, 2])
    with left:
        _tree(visible, slice_key, selected)
    with right:
        if visible:
            st.altair_chart(_charts.waterfall(visible, info.start_ns, selected), width="stretch")
    record = data.span(info.trace_id, selected) if selected else None
    st.divider()
    if record is None:
        st.caption("Select a span.")
    else:
        _span(record)


if trace_id := st.query_params.get("trace"):
    st.fragment(run_every=data.live_interval())(_trace)(trace_id)
else:
    _open_form()
