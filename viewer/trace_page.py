"""Trace page (``/trace?trace=<id>&span=<id>``): the span tree and waterfall on the left, the selected span's
detail beside it on the right, both in view without scrolling the page, whatever the size of the trace."""

from __future__ import annotations

from typing import Any

import streamlit as st

from spanlite.store import SpanRecord, TraceSummary
from spanlite.viewer import _add_to_dataset, _bounded, _feedback, _render, _span_tree, data

DETAIL_PX = 580  # the detail pane beside the tree (as tall as it), scrolling on its own
FULL = 10_000  # characters: a figure is never cut short
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


def _facts(figures: list[tuple[str, str]], names: list[tuple[str, str | None]]) -> None:
    """Figures on one line that wraps, and names (session, model, ...) each in a box that wraps and has a copy
    button: shown whole, never cut off as a metric cuts them."""
    st.markdown(" · ".join(f"{label} **{_render.md_escape(value, limit=FULL)}**" for label, value in figures))
    with st.container(horizontal=True, vertical_alignment="center"):
        for label, value in names:
            if value:
                st.caption(label, width="content")
                st.code(value, language=None, wrap_lines=True, width="content")


def _header(info: TraceSummary) -> None:
    st.title(f"{_render.STATUS_ICONS.get(info.status, '')} {_render.md_escape(info.name or 'trace')}")
    st.caption(f"Trace {info.trace_id} · started {_render.when_named(info.start_ns)}")
    _facts(
        [
            ("Duration", _render.duration(info.duration_ms)),
            ("Spans", f"{info.span_count:,}"),
            ("Errors", f"{info.error_count:,}"),
            ("Tokens in → out", _render.tokens(info.input_tokens, info.output_tokens) or "—"),
            ("Cost", _render.cost(info.cost) or "—"),
        ],
        [("Session", info.session_id), ("User", info.user_id)],
    )
    if info.tags:
        st.text("Tags: " + ", ".join(info.tags))
    actions = st.columns([2, 1, 2, 2])
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
    # A popover, not an expander: open, it floats over the page rather than pushing the span's detail down.
    with actions[3].popover("Feedback on this trace", icon=":material/thumbs_up_down:"):
        _feedback.panel(info.trace_id, None, key=f"fb_{info.trace_id}")
    _resources(data.trace_resources(info.trace_id))


def _resources(resources: list[dict[str, Any]]) -> None:
    """Where the trace's spans ran: one resource per process (service), each with all its attributes."""
    for resource in resources:
        label = " · ".join(str(resource[k]) for k in RESOURCE_SUMMARY if k in resource) or "attributes"
        with st.expander(f"Resource: {_render.md_escape(label)}", icon=":material/dns:"):
            st.json(resource, expanded=True)


def _links(links: list[tuple[str, dict[str, Any]]]) -> None:
    """The spans this trace's spans link to; one whose trace is in the store opens on a click."""
    if not links:
        return
    shown = links[:LINKS_SHOWN]
    stored = data.stored_traces({str(link.get("trace_id")) for _, link in shown})
    with st.expander(f"Links ({len(links):,})", icon=":material/link:"):
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


def _span(record: SpanRecord) -> None:
    st.subheader(f"{_render.kind_icon(record.kind)} {_render.md_escape(record.name)}")
    st.caption(f"Span {record.span_id} · {record.kind} · {_render.status_label(record.status)}")
    _facts(
        [
            ("Duration", _render.duration(record.duration_ms)),
            ("Tokens in → out", _render.tokens(record.input_tokens, record.output_tokens) or "—"),
            ("Cost", _render.cost(record.cost) or "—"),
            ("Started", _render.when_named(record.start_ns)[11:]),
        ],
        [("Model", record.model)],
    )
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
    with io_tab:  # one above the other: the detail pane is too narrow for two columns of conversation
        st.markdown("**Inputs**")
        if system := attributes.get("gen_ai.system_instructions"):
            _render.show_value(system, key="system", budget=budget)
        _render.show_value(inputs, key="inputs", budget=budget)
        heading, switch = st.columns([3, 2], vertical_alignment="center")
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
    _links(_span_tree.links(info))
    selected = st.query_params.get("span") or info.root_span_id  # a span chosen in the tree is in the URL by now
    tree, detail = st.columns([11, 9], gap="medium")
    with tree:
        _span_tree.show(info, selected)
    with detail, st.container(height=DETAIL_PX, border=False, key="span_detail"):
        record = data.span(info.trace_id, selected) if selected else None
        if record is None:
            st.caption("Select a span in the tree.")
        else:
            _span(record)


if trace_id := st.query_params.get("trace"):
    st.fragment(run_every=data.live_interval())(_trace)(trace_id)
else:
    _open_form()
