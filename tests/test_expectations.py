"""Expectations (ground truth on traces): log, replace, validate, kept apart from feedback, deleted with their trace."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import spanlite
from spanlite.store import TraceStore, views


def traced(question: str) -> str:
    with spanlite.start_span("request", inputs={"question": question}) as span:
        with spanlite.start_span("lookup", kind="TOOL"):
            pass
        span.set_outputs("an answer")
    spanlite.flush()
    return span.trace_id


def test_log_replace_get_and_delete() -> None:
    trace_id = traced("capital of France?")
    first = spanlite.log_expectation(trace_id, "expected_response", "Paris")
    assert (first.value, first.source, first.author, first.span_id) == ("Paris", "human", None, None)
    again = spanlite.log_expectation(trace_id, "expected_response", {"city": "Paris"}, source="code", author="ci")
    assert again.id == first.id and again.created_ns == first.created_ns  # one row per (trace, span, name)
    assert (again.value, again.source, again.author) == ({"city": "Paris"}, "code", "ci")
    trace = spanlite.get_trace(trace_id)
    assert trace is not None
    span_id = trace.spans[1].span_id
    facts = spanlite.log_expectation(trace_id, "expected_facts", ["capital", "Seine"], span_id=span_id)
    spanlite.log_expectation(trace_id, "expected_response", None, span_id=span_id)  # same name, another span
    store = spanlite._config.default_store()
    assert [(e.name, e.span_id) for e in store.get_expectations(trace_id)] == [
        ("expected_response", None),
        ("expected_facts", span_id),
        ("expected_response", span_id),
    ]
    assert [e.value for e in store.get_expectations(trace_id, span_id=span_id, name="expected_facts")] == [
        ["capital", "Seine"]
    ]
    assert store.delete_expectation(facts.id) is True and store.delete_expectation(facts.id) is False
    assert len(store.get_expectations(trace_id)) == 2


@pytest.mark.parametrize(
    ("trace_id", "name", "value", "source", "message"),
    [
        ("", "expected_response", "x", "human", "needs a trace_id"),
        ("t", "", "x", "human", "needs a name"),
        ("t", "expected_response", math.inf, "human", "must be JSON-serialisable"),
        ("t", "expected_response", {1, 2}, "human", "must be JSON-serialisable"),
        ("t", "expected_response", "x", "oracle", "source must be one of human, code, llm_judge, dataset"),
    ],
)
def test_bad_expectations_are_clear_errors_and_store_nothing(
    trace_id: str, name: str, value: Any, source: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        spanlite.log_expectation(trace_id, name, value, source=source)
    assert spanlite._config.default_store().rows("SELECT count(*) AS n FROM expectations")[0]["n"] == 0


def test_expectations_are_never_feedback(db_path: Path) -> None:
    """Ground truth on a trace must not count as a rating anywhere: thumbs, counts, filters, summaries, stats."""
    expected = traced("q1")
    rated = traced("q2")
    spanlite.log_expectation(expected, "thumbs", True)  # even under a feedback name
    spanlite.log_expectation(expected, "expected_response", "yes")
    spanlite.log_feedback(rated, "thumbs", False)
    with TraceStore(db_path) as store:
        assert store.get_feedback(expected) == []
        trace = store.get_trace(expected)
        assert trace is not None and trace.feedback == []
        assert [t.trace_id for t in store.search_traces(has_feedback=True)] == [rated]
        assert {t.trace_id for t in store.search_traces(has_feedback=False)} == {expected}
        assert [t.trace_id for t in store.search_traces(feedback="thumbs=true")] == []
        assert store.count_traces(has_feedback=True) == 1
        summary = views.feedback_summary(store, [expected, rated])
        assert expected not in summary and [(s.name, s.falses) for s in summary[rated]] == [("thumbs", 1)]
        assert store.stats()["feedback"] == 1
        assert [row["feedback.thumbs"] for row in store.dataset_rows() if "feedback.thumbs" in row] == [False]


def test_kept_before_their_trace_arrives_and_deleted_with_it(db_path: Path) -> None:
    early = spanlite.log_expectation("0" * 31 + "1", "expected_response", "later")
    assert spanlite._config.default_store().get_expectations(early.trace_id)[0].value == "later"
    trace_id = traced("q")
    other = traced("q2")
    spanlite.log_expectation(trace_id, "expected_response", "x")
    spanlite.log_expectation(other, "expected_response", "y")
    with TraceStore(db_path) as store:
        assert store.delete_traces([trace_id]) == 1
        assert store.get_expectations(trace_id) == []
        assert [e.value for e in store.get_expectations(other)] == ["y"]
        store.delete_traces(before=2**32)  # every stored trace; the early expectation's never arrived, and stays
        assert store.get_expectations(other) == []
        assert [e.value for e in store.get_expectations(early.trace_id)] == ["later"]
