"""Evaluation page: runs newest first (``/evaluation``), one run's examples (``?run=<id>``), and two runs compared
(``?a=<baseline>&b=<run>``). Lists are read one keyset page at a time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from spanlite.store import Run, RunResult, eval_views
from spanlite.viewer import _comparison, _examples, _preview, _render, data
from spanlite.viewer._pager import page_buttons

STATUS_ICONS = {
    "running": ":material/hourglass_top:",
    "finished": ":material/check_circle:",
    "failed": ":material/cancel:",
}
METRICS_SHOWN = 8


def _metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_preview.score_value(v)}" for k, v in metrics.items())


def _dataset_text(run: Run) -> str:
    return "" if run.dataset is None else f"{run.dataset} v{run.dataset_version}"


def _runs() -> None:
    st.title("Evaluation")
    keys: list[eval_views.RunKey | None] = st.session_state.setdefault("eval_run_keys", [None])
    page = data.runs(keys[-1], limit=data.PAGE_SIZE + 1)
    more, page = len(page) > data.PAGE_SIZE, page[: data.PAGE_SIZE]
    if not page:
        st.info("No evaluation runs yet." if len(keys) == 1 else "No more runs.")
        st.caption("Runs appear here when spanlite.evaluate(...) scores an app.")
    else:
        table = pd.DataFrame(
            [
                {
                    f"Created ({_render.zone_name()})": _render.when(r.created_ns),
                    "Name": _preview.cell(r.name or ""),
                    "Status": r.status,  # a cell: text, no icon
                    "Dataset": _preview.cell(_dataset_text(r)),
                    "Metrics": _preview.cell(_metrics_text(r.metrics)),
                    "Tags": _preview.tags(r.tags),
                    "Scorers": _preview.cell(", ".join(r.scorers)),
                    "Run ID": r.run_id,
                }
                for r in page
            ]
        )
        event = st.dataframe(
            table, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"eval_runs_{len(keys)}"
        )
        if event.selection.rows:
            st.query_params["run"] = page[event.selection.rows[0]].run_id
            st.rerun()
        st.caption("Select a run to see its examples and compare it with another.")
    next_start = eval_views.run_key(page[-1]) if more else None
    page_buttons(keys, next_start, key="eval_runs", caption="Page {page}", newest_first=True)


def _header(run: Run) -> None:
    st.title(f"Run: {_render.md_escape(run.name or run.run_id)}")
    status = f"{STATUS_ICONS.get(run.status, '')} {run.status}"
    st.caption(f"Run {run.run_id} · {status} · created {_render.when_named(run.created_ns)}")
    st.page_link("evaluation_page.py", label="All runs", icon=":material/arrow_back:")
    if run.dataset is not None:
        query = {"dataset": run.dataset, "version": str(run.dataset_version)}
        label = f"Dataset {_render.md_escape(_dataset_text(run), limit=80)}"
        st.page_link("datasets_page.py", label=label, query_params=query, icon=":material/dataset:")
    if run.tags:
        st.text("Tags: " + _preview.tags(run.tags))
    if run.error:
        st.error(_render.md_escape(run.error, limit=300))
    shown = list(run.metrics.items())[:METRICS_SHOWN]
    for col, (name, value) in zip(st.columns(max(len(shown), 1)), shown):
        col.metric(_render.md_escape(name, limit=40), _render.md_escape(_preview.score_value(value)))


def _compare_picker(run: Run) -> None:
    others = data.runs_to_compare(run)
    if not others:
        st.caption("No other run to compare with yet.")
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    choice = left.selectbox(
        "Compare with a baseline",
        others,
        format_func=_comparison.run_label,
        index=None,
        placeholder="Pick a run",
        key="eval_baseline",
        help="The baseline is A and this run B: an example regressed when B scores it lower",
    )
    if right.button("Compare", disabled=choice is None, key="eval_compare") and choice is not None:
        st.switch_page("evaluation_page.py", query_params={"a": choice.run_id, "b": run.run_id})


def _examples_table(run: Run, results: list[RunResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        row: dict[str, Any] = {"#": r.example_index}
        row.update({name: _preview.score_cell(r.scores.get(name), why=True) for name in run.scorers})  # seen first
        row["Inputs"] = _preview.cell(r.inputs)
        row["Outputs"] = _preview.cell(r.outputs)
        row["Expectations"] = _preview.cell(r.expectations)
        row["Error"] = _preview.cell(r.error or "")
        rows.append(row)
    return pd.DataFrame(rows)


def _run(run_id: str) -> None:
    run = data.run(run_id)
    if run is None:
        st.title("Evaluation")
        st.warning("No evaluation run with that ID in this store.")
        st.text(run_id)
        return
    _header(run)
    _compare_picker(run)
    st.subheader(f"Examples ({data.count_results(run.run_id):,})")
    state_key = f"eval_results_{run.run_id}"
    starts: list[int] = st.session_state.setdefault(state_key, [-1])
    results = data.run_results(run.run_id, starts[-1], limit=data.PAGE_SIZE + 1)
    more, results = len(results) > data.PAGE_SIZE, results[: data.PAGE_SIZE]
    if not results:
        st.info("This run has no examples yet.")
        return
    event = st.dataframe(
        _examples_table(run, results),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"eval_examples_{len(starts)}",
        column_config={name: st.column_config.TextColumn(width="medium") for name in ("Inputs", "Outputs")},
    )
    next_start = results[-1].example_index if more else None
    page_buttons(starts, next_start, key="eval_results", caption="Page {page}. Select an example to see it whole.")
    if event.selection.rows:
        _example(run, results[event.selection.rows[0]])


def _example(run: Run, result: RunResult) -> None:
    st.divider()
    st.subheader(f"Example {result.example_index}")
    _examples.trace_link(result.trace_id)
    if result.error:
        st.code(_preview.bounded(result.error), language=None, wrap_lines=True)
    _examples.values(
        {"Inputs": result.inputs, "Outputs": result.outputs, "Expectations": result.expectations}, key="eval_example"
    )
    _examples.scores({name: result.scores.get(name) for name in [*run.scorers, *result.scores]})


if (run_a := st.query_params.get("a")) and (run_b := st.query_params.get("b")):
    _comparison.show(run_a, run_b)
elif run_id := st.query_params.get("run"):
    _run(run_id)
else:
    _runs()
