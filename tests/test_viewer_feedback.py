"""Feedback in the viewer under AppTest: trace and span controls, definitions, the traces filter, the review queue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import spanlite
from _helpers import ANSWER, EVIL, QUESTION, Traces, all_text, app, open_page, populate
from spanlite.store import TraceStore, views
from spanlite.viewer._render import md_escape


@pytest.fixture
def traces(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Traces:
    monkeypatch.setenv("SPANLITE_USER", "ada")
    return populate()


@pytest.fixture
def store(traces: Traces, db_path: Path) -> TraceStore:  # type: ignore[override]
    with TraceStore(db_path) as s:
        yield s  # type: ignore[misc]


def stored(store: TraceStore, trace_id: str) -> list[tuple[object, ...]]:
    return [(f.name, f.value, f.span_id, f.author, f.comment, len(f.history)) for f in store.get_feedback(trace_id)]


def feedback_table(at: AppTest) -> pd.DataFrame:
    """The first table of stored feedback on the page (the trace's, above the span tree)."""
    return next(d.value for d in at.dataframe if "Earlier values" in d.value.columns)


def trace_page(traces: Traces, **query: str) -> AppTest:
    return open_page(app(), "trace_page.py", trace=traces.agent, **query)


def test_thumbs_save_at_once_and_rerating_keeps_history(traces: Traces, store: TraceStore) -> None:
    at = trace_page(traces)
    assert at.sidebar.text_input(key="author").value == "ada"
    key = f"fb_{traces.agent}"
    at.button(key=f"{key}_thumbs_down").click().run()
    assert not at.exception, at.exception
    assert stored(store, traces.agent) == [("thumbs", False, None, "ada", None, 0)]
    assert at.button(key=f"{key}_thumbs_down").proto.type == "primary"  # the current value, shown at once
    assert "Yours: thumbs down" in [c.value for c in at.caption]
    assert feedback_table(at).iloc[0]["Value"] == "thumbs down"
    at.button(key=f"{key}_thumbs_up").click().run()
    assert stored(store, traces.agent) == [("thumbs", True, None, "ada", None, 1)]
    assert "Yours: thumbs up · 1 earlier value" in [c.value for c in at.caption]
    at.sidebar.text_input(key="author").input("grace").run()
    at.button(key=f"{key}_thumbs_down").click().run()
    assert [(f.author, f.value) for f in store.get_feedback(traces.agent)] == [("ada", True), ("grace", False)]


def test_score_label_and_comment_submit_in_one_form(traces: Traces, store: TraceStore) -> None:
    at = trace_page(traces)
    key = f"fb_{traces.agent}"
    assert at.segmented_control(key=f"{key}_score").options == ["1", "2", "3", "4", "5"]
    at.segmented_control(key=f"{key}_score").set_value(2)
    at.text_area(key=f"{key}_label").input("too vague")
    at.text_area(key=f"{key}_comment").input("asked for the order, got a guess")
    at.button(key=f"{key}_save").click().run()
    assert not at.exception, at.exception
    comment = "asked for the order, got a guess"
    assert stored(store, traces.agent) == [
        ("score", 2, None, "ada", comment, 0), ("label", "too vague", None, "ada", comment, 0),
    ]  # fmt: skip
    assert at.segmented_control(key=f"{key}_score").label == "score (yours: 2)"
    # the browser clears the form on submit (clear_on_submit); AppTest keeps the values, so clear them here
    at.segmented_control(key=f"{key}_score").set_value(None)
    at.text_area(key=f"{key}_label").input("")
    at.text_area(key=f"{key}_comment").input("a comment alone")
    at.button(key=f"{key}_save").click().run()
    assert ("comment", "a comment alone", None, "ada", None, 0) in stored(store, traces.agent)


def test_span_feedback_lands_with_the_span_id(traces: Traces, store: TraceStore) -> None:
    llm = next(n for n in views.span_tree(store, traces.agent) if n.kind == "LLM")
    at = trace_page(traces, span=llm.span_id)
    at.button(key=f"fb_{traces.agent}_{llm.span_id}_thumbs_down").click().run()
    assert not at.exception, at.exception
    assert stored(store, traces.agent) == [("thumbs", False, llm.span_id, "ada", None, 0)]
    # the trace's own controls are untouched: span feedback is not trace feedback
    assert at.button(key=f"fb_{traces.agent}_thumbs_down").proto.type == "secondary"
    assert at.button(key=f"fb_{traces.agent}_{llm.span_id}_thumbs_down").proto.type == "primary"


def test_definitions_render_as_the_right_widgets(traces: Traces, store: TraceStore) -> None:
    store.define_feedback("correct", "bool", description="Is the answer right?")
    store.define_feedback("helpfulness", "number", min_value=1, max_value=10)
    store.define_feedback("accuracy", "number", min_value=0, max_value=100)
    store.define_feedback("topic", "category", categories=["billing", "shipping"])
    store.define_feedback("notes", "text")
    at = trace_page(traces)
    key = f"fb_{traces.agent}"
    labels = [b.label for b in at.button]
    assert "correct: yes" in labels and "correct: no" in labels
    assert "Thumbs up" not in labels  # only what is defined
    assert at.segmented_control(key=f"{key}_helpfulness").options == [str(i) for i in range(1, 11)]
    accuracy = at.number_input(key=f"{key}_accuracy")
    assert (accuracy.min, accuracy.max, accuracy.value) == (0, 100, None)
    assert at.selectbox(key=f"{key}_topic").options == ["billing", "shipping"]
    assert at.text_area(key=f"{key}_notes").value == ""
    at.button(key=f"{key}_correct_up").click().run()
    at.number_input(key=f"{key}_accuracy").set_value(87.5)
    at.selectbox(key=f"{key}_topic").select("shipping")
    at.button(key=f"{key}_save").click().run()
    assert not at.exception, at.exception
    assert {(f.name, f.value) for f in store.get_feedback(traces.agent)} == {
        ("correct", True), ("accuracy", 87.5), ("topic", "shipping"),
    }  # fmt: skip


def test_traces_page_feedback_column_and_filter(traces: Traces, store: TraceStore) -> None:
    store.log_feedback(traces.agent, "thumbs", False, author="ada")
    store.log_feedback(traces.failing, "thumbs", True, author="ada")
    store.log_feedback(traces.failing, "thumbs", True, author="grace")
    store.log_feedback(traces.failing, "score", 2, author="ada")
    at = app()
    table = at.dataframe[0].value.set_index("Trace ID")
    assert table.loc[traces.agent, "Feedback"] == "0 up, 1 down"
    assert table.loc[traces.failing, "Feedback"] == "score ⌀2 (1) · 2 up, 0 down"
    assert table.loc[traces.evil, "Feedback"] == ""

    def shown() -> set[str]:
        assert not at.exception, at.exception
        return set(at.dataframe[0].value["Trace ID"]) if at.dataframe else set()

    at.selectbox(key="f_feedback").select("Thumbs down").run()
    assert shown() == {traces.agent}
    at.selectbox(key="f_feedback").select("Thumbs up").run()
    assert shown() == {traces.failing}
    at.selectbox(key="f_feedback").select("Unrated").run()
    assert shown() == {traces.evil}
    at.selectbox(key="f_feedback").select("Rated").run()
    assert shown() == {traces.agent, traces.failing}
    at.selectbox(key="f_feedback").select("Any")
    at.text_input(key="f_feedback_cond").input("score<3").run()
    assert shown() == {traces.failing}
    at.text_input(key="f_feedback_cond").input("score>=3").run()
    assert shown() == set() and at.info[0].value == "No traces match."
    at.text_input(key="f_feedback_cond").input("score").run()
    assert shown() == set()
    assert "feedback condition must look like" in at.error[0].value


def test_review_queue_rates_skips_and_finishes(traces: Traces, store: TraceStore) -> None:
    at = open_page(app(), "review_page.py")
    assert at.subheader[0].value == md_escape(EVIL)  # the newest unrated trace, its hostile name escaped
    assert at.caption[0].value == "0 reviewed this session, 3 left"
    assert [b.label for b in at.button if b.key and b.key.startswith("review_")] == [
        "Thumbs up", "Thumbs down", "Skip",
    ]  # fmt: skip
    at.text_area(key=f"review_comment_{traces.evil}").input("unsafe output")
    at.button(key=f"review_down_{traces.evil}").click().run()
    assert not at.exception, at.exception
    assert stored(store, traces.evil) == [("thumbs", False, None, "ada", "unsafe output", 0)]
    assert at.subheader[0].value == "refund"  # moved on to the next, older trace
    assert at.text_area(key=f"review_comment_{traces.failing}").value == ""
    assert at.caption[0].value == "1 reviewed this session, 2 left"
    at.button(key=f"review_skip_{traces.failing}").click().run()
    assert at.subheader[0].value == "support\\_agent"
    assert at.caption[0].value == "1 reviewed this session, 1 left, 1 skipped"
    assert QUESTION in [t.value for t in at.text] and ANSWER in [t.value for t in at.text]  # root input and output
    at.button(key=f"review_up_{traces.agent}").click().run()
    assert stored(store, traces.agent) == [("thumbs", True, None, "ada", None, 0)]
    assert at.success[0].value == "Nothing left to review."
    assert at.caption[0].value == "2 reviewed this session, 0 left, 1 skipped"
    next(b for b in at.button if b.label == "Go through the skipped traces again").click().run()
    assert at.subheader[0].value == "refund"
    assert store.get_feedback(traces.failing) == []


def test_review_queue_honours_filters_and_keeps_content_text(traces: Traces) -> None:
    messages = [{"role": "user", "content": "hi"}]
    with spanlite.start_span("chat gpt-4o", kind="LLM", inputs={"messages": messages}) as span:
        span.set_outputs({"role": "assistant", "content": "hello"})
    spanlite.flush()
    at = open_page(app(), "review_page.py")
    assert [m.name for m in at.chat_message] == ["user", "assistant"]  # a chat root reads as a chat
    at.button(key=f"review_skip_{span.trace_id}").click().run()
    at.multiselect(key="rq_tags").select("support").run()
    assert at.subheader[0].value == "support\\_agent"
    assert at.caption[0].value == "0 reviewed this session, 1 left, 1 skipped"
    at.multiselect(key="rq_tags").unselect("support")
    at.text_input(key="rq_name").input("nothing like this").run()
    assert at.success[0].value == "Nothing left to review."
    at.text_input(key="rq_name").input("").run()
    assert EVIL in [t.value for t in at.text]
    assert not at.get("html")
    shown = all_text(at)
    assert "<script>" not in shown and "](javascript" not in shown


def test_feedback_settings_add_definitions(traces: Traces, store: TraceStore) -> None:
    at = open_page(app(), "review_page.py")
    at.text_input(key="def_name").input("helpfulness")
    at.selectbox(key="def_type").select("number")
    at.number_input(key="def_min").set_value(1)
    at.number_input(key="def_max").set_value(5)
    at.button(key="FormSubmitter:define_feedback-Add definition").click().run()
    assert not at.exception, at.exception
    assert at.success[-1].value == "Saved helpfulness\\."
    definition = store.feedback_definitions()["helpfulness"]
    assert (definition.type, definition.min_value, definition.max_value) == ("number", 1, 5)
    at.text_input(key="def_name").input("topic")
    at.selectbox(key="def_type").select("category")
    at.button(key="FormSubmitter:define_feedback-Add definition").click().run()
    assert "needs a list of categories" in at.error[0].value
    at = open_page(at, "trace_page.py", trace=traces.agent)
    assert at.segmented_control(key=f"fb_{traces.agent}_helpfulness")
    assert "Thumbs up" not in [b.label for b in at.button]


def test_feedback_content_is_never_html(traces: Traces, store: TraceStore) -> None:
    store.log_feedback(traces.agent, "label", EVIL, author="ada", comment=EVIL)
    store.log_feedback(traces.agent, EVIL, True, author="ada")
    at = trace_page(traces)
    assert not at.get("html")
    shown = all_text(at) + "\n".join(w.label for w in [*at.button, *at.text_area, *at.segmented_control])
    assert "<script>" not in shown and "](javascript" not in shown and ":red[" not in shown
    table = feedback_table(at)
    assert EVIL in list(table["Comment"]) and EVIL in list(table["Name"])
