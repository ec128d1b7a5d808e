"""Feedback controls for a trace or one span: each configured kind of feedback as the widget that fits it.

Thumbs save on click; scores, categories, text and the comment go through one small form. Every value is saved
at once with the sidebar's author, and what is stored is shown right below, as text (feedback values and
comments are user content, never Markdown).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from spanlite.store.feedback import Feedback, FeedbackDefinition, FeedbackValue
from spanlite.viewer import _render, data

MAX_PILLS = 11  # an integer range of 3 to 11 values is a row of buttons (1–5, 0–10); others get a number input
FIELDS_PER_ROW = 2
COMMENT = "comment"  # the name a comment alone is saved under


def show_value(value: FeedbackValue) -> str:
    """A feedback value as plain text (tables show no icons): booleans as thumbs up/down, numbers without a
    trailing ``.0``."""
    if isinstance(value, bool):
        return "thumbs up" if value else "thumbs down"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    return str(value)


THUMB_UP, THUMB_DOWN = ":material/thumb_up:", ":material/thumb_down:"  # the buttons' icons (no emoji font needed)


def thumb_labels(name: str) -> tuple[str, str]:
    """Button labels for a boolean feedback, shown with ``THUMB_UP`` / ``THUMB_DOWN``; names are Markdown-escaped
    because button labels are Markdown."""
    if name == data.THUMBS:
        return "Thumbs up", "Thumbs down"
    safe = _render.md_escape(name, limit=40)
    return f"{safe}: yes", f"{safe}: no"


def panel(trace_id: str, span_id: str | None, *, key: str) -> None:
    """Controls and current values for the trace (``span_id=None``) or one of its spans; ``key`` must be unique."""
    defs = data.definitions()
    existing = data.target_feedback(trace_id, span_id)
    me = data.author()
    mine = {f.name: f for f in existing if f.author == me}
    if error := st.session_state.pop(f"{key}_error", None):
        st.error(_render.md_escape(error, limit=300))
    for definition in (d for d in defs.values() if d.type == "bool"):
        _thumbs(trace_id, span_id, definition, mine.get(definition.name), key)
    others = [d for d in defs.values() if d.type != "bool"]
    with st.form(f"{key}_form", clear_on_submit=True, border=False):
        for start in range(0, len(others), FIELDS_PER_ROW):
            row = others[start : start + FIELDS_PER_ROW]
            for col, definition in zip(st.columns(FIELDS_PER_ROW), row):
                with col:
                    _field(definition, mine.get(definition.name), f"{key}_{definition.name}")
        st.text_area("Comment", key=f"{key}_{COMMENT}", height=68, placeholder="What was good or wrong?")
        st.form_submit_button(
            "Save feedback", key=f"{key}_save", on_click=_submit, args=(trace_id, span_id, others, key)
        )
    _table(existing)


def _thumbs(
    trace_id: str, span_id: str | None, definition: FeedbackDefinition, current: Feedback | None, key: str
) -> None:
    up, down = thumb_labels(definition.name)
    value = current.value if current is not None else None
    cols = st.columns([1, 1, 3], vertical_alignment="center")
    for col, label, choice in ((cols[0], up, True), (cols[1], down, False)):
        col.button(
            label,
            icon=THUMB_UP if choice else THUMB_DOWN,
            key=f"{key}_{definition.name}_{'up' if choice else 'down'}",
            type="primary" if value is choice else "secondary",
            on_click=_save,
            args=(trace_id, span_id, definition.name, choice, key),
            help=definition.description,
            width="stretch",
        )
    if current is not None:
        cols[2].caption(f"Yours: {show_value(current.value)}{_earlier(current)}")


def _field(definition: FeedbackDefinition, current: Feedback | None, key: str) -> None:
    """One form widget, empty until chosen, so submitting saves only what was actually set."""
    label = _render.md_escape(definition.name, limit=40)
    if current is not None:
        label += f" (yours: {_render.md_escape(show_value(current.value), limit=40)}{_earlier(current)})"
    help_text = definition.description
    if definition.type == "number":
        low, high = definition.min_value, definition.max_value
        if _integral(low) and _integral(high) and 2 <= high - low < MAX_PILLS:  # type: ignore[operator]
            options = list(range(int(low), int(high) + 1))  # type: ignore[arg-type]
            st.segmented_control(label, options, key=key, help=help_text)
        else:
            st.number_input(label, min_value=low, max_value=high, value=None, key=key, help=help_text)
    elif definition.type == "category":
        st.selectbox(label, definition.categories or [], index=None, key=key, help=help_text, placeholder="Choose")
    else:
        st.text_area(label, key=key, height=68, help=help_text)


def _integral(value: float | None) -> bool:
    return value is not None and float(value).is_integer()


def _earlier(current: Feedback) -> str:
    n = len(current.history)
    return f" · {n} earlier value{'s' if n != 1 else ''}" if n else ""


def _save(trace_id: str, span_id: str | None, name: str, value: FeedbackValue, key: str) -> None:
    """Button callback: runs before the rerun draws the page, so the new value shows at once."""
    try:
        data.log_feedback(trace_id, name, value, span_id=span_id)
    except ValueError as exc:  # e.g. a value that no longer fits a changed definition
        st.session_state[f"{key}_error"] = str(exc)


def _submit(trace_id: str, span_id: str | None, defs: list[FeedbackDefinition], key: str) -> None:
    """Form callback: save every field that was set, each with the comment; a comment alone is its own feedback."""
    comment = str(st.session_state.get(f"{key}_{COMMENT}") or "").strip() or None
    values: dict[str, FeedbackValue] = {}
    for definition in defs:
        value = _form_value(st.session_state.get(f"{key}_{definition.name}"))
        if value is not None:
            values[definition.name] = value
    if not values and comment is not None:
        values, comment = {COMMENT: comment}, None
    errors = []
    for name, value in values.items():
        try:
            data.log_feedback(trace_id, name, value, span_id=span_id, comment=comment)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        st.session_state[f"{key}_error"] = "; ".join(errors)


def _form_value(raw: Any) -> FeedbackValue | None:
    if isinstance(raw, str):
        return raw.strip() or None
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw if isinstance(raw, (bool, int, float)) else None


def _table(existing: list[Feedback]) -> None:
    if not existing:
        st.caption("No feedback yet.")
        return
    rows = [
        {
            "Name": f.name,
            "Value": show_value(f.value),
            "Author": f.author or "",
            "Source": f.source,
            "Comment": f.comment or "",
            f"Updated ({_render.zone_name()})": _render.when(f.updated_ns),
            "Earlier values": len(f.history),
        }
        for f in existing
    ]
    comment = st.column_config.TextColumn(width="large")
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={"Comment": comment})
