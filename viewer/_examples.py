"""One evaluation example or dataset record shown whole: its values bounded, each score with why, and a link to
its trace. Everything here is user or model content, so it goes out as text and JSON only (see ``_render``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from spanlite.store import RunScore
from spanlite.viewer import _preview, _render, data


def values(columns: Mapping[str, Any], *, key: str) -> None:
    """Values side by side under their headings (``{"Inputs": ..., "Outputs": ...}``), each bounded."""
    for col, (heading, value) in zip(st.columns(len(columns)), columns.items()):
        with col:
            st.markdown(f"**{_render.md_escape(heading)}**")
            _render.show_value(_preview.bounded(value), key=f"{key}_{heading}")


def scores(by_scorer: Mapping[str, RunScore | None]) -> None:
    """Each scorer's value and rationale; a failed scorer's error, and the judge's raw answer when kept."""
    if not by_scorer:
        st.caption("No scores.")
    for name, score in by_scorer.items():
        with st.container(border=True):
            if score is None:
                st.caption(f"{_render.md_escape(name)}: not scored")
                continue
            st.caption(f"{_render.md_escape(name)}: {_render.md_escape(_preview.score_cell(score))}")
            if score.rationale:
                st.text(_preview.bounded(score.rationale))
            if score.error is not None:
                st.code(_preview.bounded(score.error), language=None, wrap_lines=True)
            if score.raw:
                with st.expander("Raw answer"):
                    st.code(_preview.bounded(score.raw), language=None, wrap_lines=True)


def trace_link(trace_id: str | None, label: str = "Open trace") -> None:
    """A link that opens the trace on the Trace page, or why there is none."""
    if trace_id is None:
        st.caption("No trace recorded.")
    elif data.stored_traces({trace_id}):
        st.page_link(
            "trace_page.py",
            label=_render.md_escape(label),
            query_params={"trace": trace_id},
            icon=":material/open_in_new:",
        )
    else:
        st.caption(f"{_render.md_escape(label)}: trace {_render.md_escape(trace_id, limit=40)} is not in this store")
