"""Two evaluation runs side by side (``/evaluation?a=<baseline>&b=<run>``): each scorer's mean in both and the
change, then the examples, regressed first, as ``spanlite.evaluation.compare_runs`` orders them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spanlite.evaluation import ExampleDelta, RunComparison
from spanlite.store import Run
from spanlite.viewer import _examples, _preview, _render, data

CHANGES = {  # in the order compare_runs ranks them
    "regressed": "▼ regressed",
    "mixed": "± mixed",
    "improved": "▲ improved",
    "same": "= same",
    "only_a": "only in A",
    "only_b": "only in B",
}
SHOW_ALL = "All"


def run_label(run: Run) -> str:
    """How a run is named in pickers and headings: its name (or id), date and short id."""
    return f"{run.name or 'unnamed'} · {_render.when_named(run.created_ns)} · {run.run_id[:8]}"


def show(run_a: str, run_b: str) -> None:
    st.title("Compare runs")
    try:
        comparison = data.comparison(run_a, run_b)
    except ValueError as exc:  # a run that is not (or no longer) in the store
        st.warning(_render.md_escape(exc, limit=300))
        st.page_link("evaluation_page.py", label="All runs", icon=":material/arrow_back:")
        return
    _heading(comparison)
    _scorers(comparison)
    _examples_list(comparison)


def _heading(comparison: RunComparison) -> None:
    a, b = comparison.run_a, comparison.run_b
    for col, side, run in zip(st.columns(2), "AB", (a, b)):
        col.page_link(
            "evaluation_page.py",
            label=f"{side}: {_render.md_escape(run_label(run), limit=120)}",
            query_params={"run": run.run_id},
        )
    if (a.dataset, a.dataset_version) != (b.dataset, b.dataset_version):
        st.warning(
            "The runs are on different datasets or versions: examples are matched by their inputs, "
            "and some may be in one run only."
        )
    if st.button("Swap A and B", key="eval_swap"):
        st.query_params["a"], st.query_params["b"] = b.run_id, a.run_id
        st.rerun()


def _scorers(comparison: RunComparison) -> None:
    if comparison.scorers:
        table = pd.DataFrame(
            [
                {
                    "Scorer": s.name,
                    "Mean A": _preview.score_value(s.mean_a) if s.mean_a is not None else "",
                    "Mean B": _preview.score_value(s.mean_b) if s.mean_b is not None else "",
                    "Δ (B - A)": _preview.delta(s.delta),
                }
                for s in comparison.scorers
            ]
        )
        st.dataframe(table, hide_index=True, key="eval_scorer_deltas")
    counts = dict.fromkeys(CHANGES, 0)
    for example in comparison.examples:
        counts[example.change] = counts.get(example.change, 0) + 1
    for col, (change, label) in zip(st.columns(len(CHANGES)), CHANGES.items()):
        col.metric(label, f"{counts[change]:,}")


def _examples_list(comparison: RunComparison) -> None:
    st.subheader("Examples")
    show_only = st.segmented_control(
        "Show", [SHOW_ALL, *CHANGES], format_func=lambda c: CHANGES.get(c, c), default=SHOW_ALL, key="eval_show"
    )
    examples = [e for e in comparison.examples if show_only in (None, SHOW_ALL) or e.change == show_only]
    if not examples:
        st.info("No examples.")
        return
    pages = -(-len(examples) // data.PAGE_SIZE)
    page = st.pagination(pages, key="eval_compare_page") if pages > 1 else 1
    shown = examples[(page - 1) * data.PAGE_SIZE : page * data.PAGE_SIZE]
    names = [s.name for s in comparison.scorers]
    rows = []
    for e in shown:
        row = {"Change": CHANGES.get(e.change, e.change), "Inputs": _preview.cell(e.inputs, limit=80)}
        for name in names:
            a, b = _preview.score_cell(e.scores_a.get(name)), _preview.score_cell(e.scores_b.get(name))
            row[name] = f"{a or '—'} → {b or '—'}"
            row[f"Δ {name}"] = _preview.delta(e.deltas.get(name))
        row["Output A"] = _preview.cell(e.outputs_a)
        row["Output B"] = _preview.cell(e.outputs_b)
        row["App errors"] = _preview.cell(" · ".join(f"{s}: {x}" for s, x in (("A", e.error_a), ("B", e.error_b)) if x))
        rows.append(row)
    event = st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"eval_compare_examples_{show_only}_{page}",
    )
    st.caption("Select an example to see both runs' answers and scores, with links to their traces.")
    if event.selection.rows:
        _example(shown[event.selection.rows[0]])


def _example(example: ExampleDelta) -> None:
    st.divider()
    st.subheader(CHANGES.get(example.change, example.change))
    _examples.values({"Inputs": example.inputs, "Expectations": example.expectations}, key="eval_compare_example")
    for col, side, outputs, error, trace_id, scores in zip(
        st.columns(2),
        "AB",
        (example.outputs_a, example.outputs_b),
        (example.error_a, example.error_b),
        (example.trace_a, example.trace_b),
        (example.scores_a, example.scores_b),
    ):
        with col:
            st.markdown(f"**Run {side}**")
            if (side == "A" and example.change == "only_b") or (side == "B" and example.change == "only_a"):
                st.caption("Not in this run.")
                continue
            _examples.trace_link(trace_id, f"Open trace {side}")
            if error:
                st.code(_preview.bounded(error), language=None, wrap_lines=True)
            _render.show_value(_preview.bounded(outputs), key=f"eval_compare_outputs_{side}")
            _examples.scores(scores)
