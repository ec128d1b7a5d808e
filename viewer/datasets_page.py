"""Datasets page: every dataset with its latest version and size (``/datasets``), and one dataset's records at a
chosen version (``?dataset=<name>&version=<n>``), a keyset page at a time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spanlite.store import Dataset, DatasetRecord, eval_views
from spanlite.viewer import _examples, _preview, _render, data
from spanlite.viewer._pager import page_buttons


def _list() -> None:
    st.title("Datasets")
    found = data.datasets()
    if not found:
        st.info("No datasets yet.")
        st.caption("Make one with spanlite.datasets.create(name), or add a trace to one from the Trace page.")
        return
    table = pd.DataFrame(
        [
            {
                "Name": _preview.cell(d.name),
                "Version": d.version,
                "Records": d.size,
                "Description": _preview.cell(d.description or ""),
                "Tags": _preview.tags(d.tags),
                f"Updated ({_render.zone_name()})": _render.when(d.updated_ns),
            }
            for d in found
        ]
    )
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="datasets")
    if event.selection.rows:
        st.query_params["dataset"] = found[event.selection.rows[0]].name
        st.rerun()
    st.caption("Select a dataset to browse its records.")


def _records(count: int) -> str:
    return f"{count:,} record{'' if count == 1 else 's'}"


def _version(dataset: Dataset) -> int:
    """The version asked for in the URL (latest when absent or out of range), kept in the URL as it changes."""
    asked = st.query_params.get("version", "")
    start = int(asked) if asked.isdigit() and int(asked) <= dataset.version else dataset.version
    label = f"Version (0 to {dataset.version})"
    version = int(
        st.columns([1, 3])[0].number_input(
            label, min_value=0, max_value=dataset.version, value=start, key=f"version_{dataset.name}"
        )
    )
    if asked != str(version):
        st.query_params["version"] = str(version)
    return version


def _records_table(records: list[DatasetRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Record": r.record_id,
                "Inputs": _preview.cell(r.inputs),
                "Expectations": _preview.cell(r.expectations),
                "Source trace": r.source_trace_id or "",
                "Tags": _preview.tags(r.tags),
                "Added in": r.added_in,
            }
            for r in records
        ]
    )


def _dataset(name: str) -> None:
    dataset = data.dataset(name)
    if dataset is None:
        st.title("Datasets")
        st.warning("No dataset with that name in this store.")
        st.text(name)
        return
    st.title(f"Dataset: {_render.md_escape(dataset.name)}")
    updated = _render.when_named(dataset.updated_ns)
    st.caption(f"Latest version {dataset.version} · {_records(dataset.size)} · updated {updated}")
    st.page_link("datasets_page.py", label="All datasets", icon=":material/arrow_back:")
    if dataset.description:
        st.text(_preview.cell(dataset.description, limit=2000))
    version = _version(dataset)
    st.subheader(f"Version {version}: {_records(data.count_records(dataset, version))}")
    state_key = f"dataset_after_{name}_{version}"
    starts: list[eval_views.RecordKey] = st.session_state.setdefault(state_key, [(0, 0)])
    records = data.dataset_records(name, version, starts[-1], limit=data.PAGE_SIZE + 1)
    more, records = len(records) > data.PAGE_SIZE, records[: data.PAGE_SIZE]
    if not records:
        st.info("No records in this version.")
        return
    event = st.dataframe(
        _records_table(records),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"dataset_records_{version}_{len(starts)}",
        column_config={name: st.column_config.TextColumn(width="large") for name in ("Inputs", "Expectations")},
    )
    next_start = eval_views.record_key(records[-1]) if more else None
    page_buttons(starts, next_start, key="dataset", caption="Page {page}. Select a record to see it whole.")
    if event.selection.rows:
        record = records[event.selection.rows[0]]
        st.divider()
        st.subheader(f"Record {record.record_id}")
        if record.source_trace_id is not None:
            _examples.trace_link(record.source_trace_id, "Open source trace")
        _examples.values({"Inputs": record.inputs, "Expectations": record.expectations}, key="dataset_record")


if name := st.query_params.get("dataset"):
    _dataset(name)
else:
    _list()
