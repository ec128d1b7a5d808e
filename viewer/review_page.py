"""Review queue: unrated traces one at a time, newest first; a rating saves and moves on to the next.

The trace on screen is pinned in session state, so traces arriving while someone reads do not swap it out.
Buttons come in a fixed order (comment, thumbs up, thumbs down, Skip) so Tab and Enter are enough to work through
the queue.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spanlite.store.feedback import TYPES, FeedbackDefinition
from spanlite.store.records import TraceSummary
from spanlite.viewer import _bounded, _feedback, _focus, _render, data

st.title("Review")


def _state() -> tuple[str, tuple[str, ...]]:
    """The queue's filters; changing them drops the pinned trace so the next one comes from the new queue."""
    left, right = st.columns(2)
    name = left.text_input("Name contains", key="rq_name")
    tags = tuple(right.multiselect("Tags (all of)", data.facet("tag"), key="rq_tags"))
    st.session_state.setdefault("review_done", 0)
    st.session_state.setdefault("review_skipped", [])
    if st.session_state.get("review_filters") != (name, tags):
        st.session_state["review_filters"] = (name, tags)
        st.session_state["review_current"] = None
    return name, tags


def _comment_key(trace_id: str) -> str:
    """The comment box is one per trace: text typed for one trace can never be shown with, or saved on, another."""
    return f"review_comment_{trace_id}"


def _on_screen(trace_id: str) -> bool:
    """Whether ``trace_id`` is the trace the reviewer is looking at. A key pressed twice in a row, or pressed while
    the next trace is being drawn, is sent for the buttons of the trace before, already done (Streamlit even replays
    the press of an interrupted run): that press must not count again, nor fall on the next trace, which the
    reviewer may not have seen yet. It is said, so that a press that seems lost is pressed again."""
    if trace_id and st.session_state.get("review_current") == trace_id:
        return True
    st.session_state["review_notice"] = "That press was for the trace before, already done: this one is not rated yet."
    return False


def _rate(trace_id: str, value: bool) -> None:
    """Submit callback: save the thumbs (with the comment) and unpin, so this run draws the next trace."""
    if not _on_screen(trace_id):
        return
    if data.trace_summary(trace_id) is None:  # feedback on a trace that is gone would be kept, and never seen
        st.session_state["review_notice"] = "That trace was deleted meanwhile: nothing was saved."
        st.session_state["review_current"] = None
        return
    try:
        data.log_feedback(
            trace_id,
            data.thumbs_name(data.definitions()),
            value,
            comment=str(st.session_state.get(_comment_key(trace_id)) or "").strip(),
        )
    except ValueError as exc:
        st.session_state["review_error"] = str(exc)
        return
    st.session_state["review_done"] += 1
    st.session_state["review_current"] = None


def _skip(trace_id: str) -> None:
    if not _on_screen(trace_id):
        return
    st.session_state["review_skipped"].append(trace_id)
    st.session_state["review_current"] = None


def _restart() -> None:
    st.session_state["review_skipped"] = []


def _current(name: str, tags: tuple[str, ...], skipped: frozenset[str]) -> TraceSummary | None:
    pinned = st.session_state.get("review_current")
    info = data.trace_summary(pinned) if pinned else None
    if info is None:
        info = data.next_unreviewed(name, tags, skipped)
        st.session_state["review_current"] = info.trace_id if info else None
    return info


def _show(info: TraceSummary) -> None:
    st.subheader(_render.md_escape(info.name or "trace"))
    st.caption(f"Trace {info.trace_id} · {_render.when_named(info.start_ns)} · {_render.status_label(info.status)}")
    st.page_link("trace_page.py", label="Open the whole trace", query_params={"trace": info.trace_id})
    root = data.span(info.trace_id, info.root_span_id) if info.root_span_id else None
    budget = _bounded.Budget()
    left, right = st.columns(2)
    with left:
        st.markdown("**Input**")
        if root is not None:
            inputs = root.attributes.get("gen_ai.input.messages", root.inputs)
            _turn(inputs, key=f"review_in_{info.trace_id}", budget=budget)
        else:
            st.text(info.input_preview or "—")
    with right:
        st.markdown("**Output**")
        if root is not None:
            outputs = root.attributes.get("gen_ai.output.messages", root.outputs)
            _turn(outputs, key=f"review_out_{info.trace_id}", budget=budget)
        else:
            st.text(info.output_preview or "—")


def _turn(value: object, *, key: str, budget: _bounded.Budget) -> None:
    """Like ``_render.show_value``, but ``{"question": "..."}`` reads as the question: a reviewer wants the text."""
    value = _render.parse(value)
    if isinstance(value, dict) and len(value) == 1 and _render.as_messages(value) is None:
        [(name, inner)] = value.items()
        if isinstance(inner, str):
            st.caption(_render.md_escape(name, limit=60))
            _bounded.show_text(inner, key=key, budget=budget)
            return
    _render.show_value(value, key=key, budget=budget)


def _controls(trace_id: str) -> None:
    up, down = _feedback.thumb_labels(data.thumbs_name(data.definitions()))
    # A form, because a text area outside one sends what was typed only when it loses the focus (or on Ctrl+Enter),
    # and a shortcut pressed in it takes no focus away: the rating would go without its comment, and the text would
    # stay for the next trace. Inside a form every keystroke is kept, and a submit button sends it along. Enter in
    # the box must not rate (it would be the first button, thumbs up), so only the buttons submit.
    with st.form(f"review_{trace_id}", border=False, enter_to_submit=False):
        st.text_area("Comment", key=_comment_key(trace_id), height=68, placeholder="Optional: what was good or wrong?")
        cols = st.columns(3)
        # Alt+key shortcuts: a modifier, so typing a comment never rates by accident
        for col, label, value, shortcut in ((cols[0], up, True, "Alt+U"), (cols[1], down, False, "Alt+D")):
            with col:
                st.form_submit_button(
                    label,
                    icon=_feedback.THUMB_UP if value else _feedback.THUMB_DOWN,
                    key=f"review_{'up' if value else 'down'}_{trace_id}",
                    type="primary",
                    width="stretch",
                    on_click=_rate,
                    args=(trace_id, value),
                    shortcut=shortcut,
                )
        with cols[2]:
            st.form_submit_button(
                "Skip",
                key=f"review_skip_{trace_id}",
                width="stretch",
                on_click=_skip,
                args=(trace_id,),
                shortcut="Alt+S",
            )
    # each trace has a box of its own: bring the focus from the last one, so the keyboard flow goes on
    _focus.focus(_comment_key(trace_id), within="review_")


def _queue() -> None:
    name, tags = _state()
    skipped = frozenset(st.session_state["review_skipped"])
    info = _current(name, tags, skipped)
    # The count is drawn last, into its place up here: whoever sees it change sees the next trace's buttons already
    # there, rather than pressing a key while only the last trace's are.
    progress = st.empty()
    if notice := st.session_state.pop("review_notice", None):
        st.warning(notice)
    if error := st.session_state.pop("review_error", None):
        st.error(_render.md_escape(error, limit=300))
    if info is None:
        st.success("Nothing left to review.")
        if skipped:
            st.button("Go through the skipped traces again", on_click=_restart)
    else:
        _show(info)
        st.divider()
        _controls(info.trace_id)
    left = data.count_unreviewed(name, tags, skipped)
    shown = f"{left:,}+" if left >= data.REVIEW_COUNT_CAP else f"{left:,}"
    text = f"{st.session_state['review_done']:,} reviewed this session, {shown} left"
    progress.caption(text + (f", {len(skipped):,} skipped" if skipped else ""))


def _add_definition() -> None:
    """Form callback: turn the settings form into a ``FeedbackDefinition``; errors stay on screen."""
    get = st.session_state.get
    categories = [c.strip() for c in str(get("def_categories") or "").split(",") if c.strip()]
    definition = FeedbackDefinition(
        name=str(get("def_name") or "").strip(),
        type=str(get("def_type")),
        min_value=get("def_min"),
        max_value=get("def_max"),
        categories=categories or None,
        description=str(get("def_description") or "").strip() or None,
    )
    try:
        if not definition.name:
            raise ValueError("a feedback definition needs a name")
        data.define_feedback(definition)
    except ValueError as exc:
        st.session_state["def_message"] = ("error", str(exc))
    else:
        st.session_state["def_message"] = ("success", f"Saved {definition.name}.")


def _settings() -> None:
    with st.expander("Feedback settings", icon=":material/settings:"):
        configured = data.configured_definitions()
        if configured:
            table = [
                {
                    "Name": d.name, "Type": d.type, "Min": d.min_value, "Max": d.max_value,
                    "Categories": ", ".join(d.categories or []), "Description": d.description or "",
                }
                for d in configured.values()
            ]  # fmt: skip
            st.dataframe(pd.DataFrame(table), hide_index=True)
        else:
            st.caption("No feedback defined: the trace page offers thumbs, score (1–5), label and a comment.")
        st.caption("Once anything is defined, the trace page offers exactly the defined kinds.")
        if message := st.session_state.pop("def_message", None):
            (st.error if message[0] == "error" else st.success)(_render.md_escape(message[1], limit=300))
        with st.form("define_feedback", clear_on_submit=True):
            cols = st.columns(2)
            cols[0].text_input("Name", key="def_name", placeholder="helpfulness")
            cols[1].selectbox("Type", TYPES, key="def_type", help="bool: thumbs up/down · number · category · text")
            cols = st.columns(2)
            cols[0].number_input("Min (number)", value=None, key="def_min")
            cols[1].number_input("Max (number)", value=None, key="def_max")
            st.text_input("Categories (category; comma-separated)", key="def_categories", placeholder="good, bad")
            st.text_input("Description", key="def_description")
            st.form_submit_button("Add definition", on_click=_add_definition)


_queue()
_settings()
