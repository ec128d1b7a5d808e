""" "Add to dataset" on the Trace page (one trace) and the Traces page (the traces listed): each trace's root inputs,
and its outputs as the proposed ``expected_response``, become a record of a dataset picked or made here
(``Dataset.add_traces``)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from spanlite.viewer import _render, data

NEW = "New dataset…"


Traces = str | Callable[[], list[str]]  # one trace, or the traces a list matches, read at the click


def control(traces: Traces, *, key: str) -> None:
    """A popover with the dataset picker; the outcome (or the error) is shown below it after the click."""
    with st.popover("Add to dataset", icon=":material/dataset:"):
        names = data.dataset_names()
        choice = st.selectbox("Dataset", [*names, NEW], key=f"{key}_choice")
        if choice == NEW:
            st.text_input("New dataset's name", key=f"{key}_name")
        st.button("Add", key=f"{key}_add", on_click=_add, args=(traces, key), type="primary")
    if (outcome := st.session_state.get(f"{key}_outcome")) is not None:
        kind, message, dataset = outcome
        (st.success if kind == "ok" else st.error)(_render.md_escape(message, limit=300))
        if dataset is not None:
            st.page_link(
                "datasets_page.py", label="Open dataset", query_params={"dataset": dataset}, icon=":material/dataset:"
            )


def _add(traces: Traces, key: str) -> None:
    """Button callback: add the trace and keep the confirmation for the rerun to show. The picker and the name are
    read as they are now: a name typed and Add clicked at once arrive together, after the page last drew them."""
    choice = st.session_state.get(f"{key}_choice")
    create = choice == NEW
    name = str(st.session_state.get(f"{key}_name") or "").strip() if create else str(choice or "")
    try:
        if not name:
            raise ValueError("Name the new dataset first.")
        trace_ids = traces if isinstance(traces, str) else traces()
        dataset, added = data.add_trace_to_dataset(trace_ids, name, create=create)
    except ValueError as exc:
        st.session_state[f"{key}_outcome"] = ("error", str(exc), None)
        return
    if isinstance(trace_ids, list):
        held = len(trace_ids) - len(added)
        message = f"Added {len(added):,} traces to {dataset.name}: version {dataset.version}." + (
            f" {held:,} it already held." if held else ""
        )
    elif added:
        message = f"Added to {dataset.name} as record {added[0].record_id}: version {dataset.version}."
    else:
        message = f"{dataset.name} already holds this example: nothing added (still version {dataset.version})."
    st.session_state[f"{key}_outcome"] = ("ok", message, dataset.name)
