"""Compare page (``/compare?a=<trace_id>&b=<trace_id>``): two traces side by side, as MLflow's trace comparison
shows them: each header with B's change from A, the two span trees aligned span by span, and the root's inputs and
outputs. The Traces page opens it with two traces selected; the IDs can be pasted here too."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from spanlite.store import TraceSummary
from spanlite.store.prices import format_usd
from spanlite.viewer import _render, _trace_diff, data

ROWS_PAGE = 200  # aligned rows per page: two 10,000-span traces are pages of a table, not one huge one
SHOWN = {"All spans": False, "Differences only": True}
INDENT = "\u2003"  # an em space: leading ASCII spaces would be trimmed in the table


def _pick(a: str, b: str) -> None:
    """Two boxes to paste trace IDs into; open when either is missing, folded away under a comparison."""
    with st.expander("Compare other traces", expanded=not (a and b), icon=":material/compare_arrows:"):
        with st.form("compare_ids", border=False):
            left, right = st.columns(2)
            new_a = left.text_input("Trace A", value=a, placeholder="32 hex digits")
            new_b = right.text_input("Trace B", value=b, placeholder="32 hex digits")
            if st.form_submit_button("Compare", icon=":material/compare_arrows:"):
                st.query_params.update({"a": new_a.strip(), "b": new_b.strip()})
                st.rerun()


def _signed(delta: float, text: str) -> str:
    return "same" if delta == 0 else ("-" if delta < 0 else "+") + text


def _numbers(info: TraceSummary) -> dict[str, float | None]:
    reported = info.input_tokens is not None or info.output_tokens is not None
    return {
        "Duration": info.duration_ms,
        "Tokens": (info.input_tokens or 0) + (info.output_tokens or 0) if reported else None,
        "Cost": info.cost,
        "Spans": info.span_count,
        "Errors": info.error_count or 0,
    }


_SHOW: dict[str, Callable[[float], str]] = {
    "Duration": _render.duration,
    "Tokens": lambda n: f"{n:,.0f}",
    "Cost": format_usd,
    "Spans": lambda n: f"{n:,.0f}",
    "Errors": lambda n: f"{n:,.0f}",
}


def _header(label: str, info: TraceSummary) -> None:
    """One trace's name, status and when, with a link to it."""
    icon = _render.STATUS_ICONS.get(info.status, "")
    st.subheader(f"{label} · {icon} {_render.md_escape(info.name or 'trace', 80)}")
    errors = f" · {info.error_count:,} failed span{'s' * (info.error_count != 1)}" if info.error_count else ""
    st.caption(f"Trace {info.trace_id} · started {_render.when_named(info.start_ns)} · {info.status}{errors}")
    st.page_link(
        "trace_page.py",
        label=f"Open trace {label}",
        query_params={"trace": info.trace_id},
        icon=":material/open_in_new:",
    )


def _numbers_table(a: TraceSummary, b: TraceSummary) -> None:
    """Both traces' numbers in one table, with B's change from A; a table, so that no value is cut short."""
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    rows = []
    for name, show in _SHOW.items():
        value_a, value_b = numbers_a[name], numbers_b[name]
        change = "" if value_a is None or value_b is None else _signed(value_b - value_a, show(abs(value_b - value_a)))
        shown_a = "—" if value_a is None else show(value_a)
        shown_b = "—" if value_b is None else show(value_b)
        rows.append({"": name, "A": shown_a, "B": shown_b, "Change": change})
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _span_rows(a_id: str, b_id: str) -> None:
    """The span trees aligned: a row per span path, with each side's duration and tokens and B's change."""
    rows = _trace_diff.align(data.span_tree(a_id), data.span_tree(b_id))
    st.subheader("Spans")
    controls = st.columns([2, 2, 3])
    choice = controls[0].segmented_control("Show", list(SHOWN), default="All spans", key="cmp_show")
    only_differences = SHOWN[choice or "All spans"]  # None when the chosen one is clicked again
    shown = [r for r in rows if r.differs] if only_differences else rows
    only_a, only_b = sum(r.b is None for r in rows), sum(r.a is None for r in rows)
    controls[2].caption(f"{len(rows):,} span paths · {only_a:,} only in A · {only_b:,} only in B")
    if not shown:
        st.caption("No span differs in status or tokens.")
        return
    pages = -(-len(shown) // ROWS_PAGE)
    page = 1
    if pages > 1:
        with controls[1]:
            page = st.pagination(pages, key="cmp_page")
    table = pd.DataFrame([_row(r) for r in shown[(page - 1) * ROWS_PAGE : page * ROWS_PAGE]])
    ms, count = st.column_config.NumberColumn(format="%.2f ms"), st.column_config.NumberColumn(format="%+d")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "Span": st.column_config.TextColumn(width="large"),
            "A duration": ms,
            "B duration": ms,
            "Δ duration": st.column_config.NumberColumn(format="%+.2f ms"),
            "Δ tokens": count,
        },
    )


def _row(row: _trace_diff.AlignedSpan) -> dict[str, object]:
    a, b, span = row.a, row.b, row.span
    tokens_a, tokens_b = _trace_diff.tokens(a), _trace_diff.tokens(b)
    return {
        "Span": f"{INDENT * row.depth}{span.name}",  # a cell: no kind icon (icons do not render there)
        "Kind": span.kind,
        "In": "A only" if b is None else "B only" if a is None else "both",
        "A status": _render.status_text(a.status) if a else "",
        "B status": _render.status_text(b.status) if b else "",
        "A duration": a.duration_ms if a else None,
        "B duration": b.duration_ms if b else None,
        "Δ duration": b.duration_ms - a.duration_ms if a and b else None,
        "A tokens": tokens_a,
        "B tokens": tokens_b,
        "Δ tokens": tokens_b - tokens_a if tokens_a is not None and tokens_b is not None else None,
    }


def _inputs_outputs(a: TraceSummary, b: TraceSummary) -> None:
    """The two roots' inputs, then their outputs, side by side."""
    roots = {
        label: data.span(info.trace_id, info.root_span_id) if info.root_span_id else None
        for label, info in (("A", a), ("B", b))
    }
    for part in ("inputs", "outputs"):
        st.subheader(part.capitalize())
        for (label, root), column in zip(roots.items(), st.columns(2)):
            with column:
                st.caption(f"{label}: root span {root.span_id}" if root else f"{label}: no root span")
                _render.show_value(getattr(root, part) if root else None, key=f"cmp_{part}_{label}")


def _compare(a_id: str, b_id: str) -> None:
    infos = {label: data.trace_summary(trace_id) for label, trace_id in (("A", a_id), ("B", b_id))}
    missing = [(label, trace_id) for (label, info), trace_id in zip(infos.items(), (a_id, b_id)) if info is None]
    for label, trace_id in missing:
        st.warning(f"Trace {label}: no trace with that ID in this store.")
        st.text(trace_id)
    a, b = infos["A"], infos["B"]
    if a is None or b is None:
        return
    left, right = st.columns(2)
    with left:
        _header("A", a)
    with right:
        _header("B", b)
    _numbers_table(a, b)
    _span_rows(a.trace_id, b.trace_id)
    _inputs_outputs(a, b)


st.title("Compare traces")
trace_a, trace_b = st.query_params.get("a", "").strip(), st.query_params.get("b", "").strip()
_pick(trace_a, trace_b)
if trace_a and trace_b:
    _compare(trace_a, trace_b)
else:
    st.info("Pick two traces on the Traces page and press Compare, or paste their IDs above.")
