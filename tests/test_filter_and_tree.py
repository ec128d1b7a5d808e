"""One filters object for every search, and one span tree for every reader of a trace."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import spanlite
from spanlite import cli
from spanlite.store import SpanRecord, Trace, TraceFilter, TraceStore, TraceSummary, views


def _traced(name: str, tags: list[str], *, session: str | None = None, fail: bool = False) -> None:
    with spanlite.start_span(name, kind="AGENT", inputs={"question": f"about {name}"}) as root:
        spanlite.update_current_trace(tags=tags, session_id=session, user_id="u1", metadata={"team": name})
        with spanlite.start_span("llm", kind="LLM", attributes={"gen_ai.request.model": f"model-{name}"}) as llm:
            llm.set_outputs(f"the answer mentions {name}-zebra")
        if fail:
            root.record_exception(RuntimeError("nope"))
    time.sleep(0.002)  # distinct start times, so that newest-first is one order


@pytest.fixture
def three(store: TraceStore) -> TraceStore:
    _traced("alpha", ["prod", "v1"], session="s1")
    _traced("beta", ["prod"], session="s1", fail=True)
    _traced("gamma", ["dev"])
    spanlite.flush()
    store.log_feedback(store.search_traces(name="alpha")[0].trace_id, "thumbs", True)
    return store


SEARCHES: list[dict[str, Any]] = [
    {},
    {"status": "ERROR"},
    {"tags": ["prod"], "status": "OK"},
    {"kind": "LLM", "model": "model-beta"},
    {"session_id": "s1", "user_id": "u1", "name": "ph"},
    {"text": "gamma-zebra", "metadata": {"team": "gamma"}},
    {"feedback": "thumbs=true"},
    {"has_feedback": False, "feedback_source": "human", "min_duration_ms": 0},
]


@pytest.mark.parametrize("fields", SEARCHES, ids=lambda f: ",".join(f) or "none")
def test_a_trace_filter_finds_what_its_fields_as_keywords_find(three: TraceStore, fields: dict[str, Any]) -> None:
    def ids(traces: Any) -> list[str]:
        return [t.trace_id for t in traces]

    where = TraceFilter(**fields)
    found = ids(three.search_traces(**fields))
    assert ids(three.search_traces(where)) == found
    assert ids(three.iter_traces(where)) == found
    assert ids(spanlite.search_traces(where)) == found
    assert three.count_traces(where) == len(found)
    assert [row["trace_id"] for row in three.dataset_rows(where)] == found


def test_keywords_refine_a_trace_filter_and_a_wrong_field_names_itself(three: TraceStore) -> None:
    prod = TraceFilter(tags=["prod"])
    assert [t.name for t in three.search_traces(prod, status="ERROR")] == ["beta"]
    assert [t.name for t in three.search_traces(prod, ascending=True)] == ["alpha", "beta"]
    assert three.count_traces(prod, status="OK") == 1
    assert prod == TraceFilter(tags=["prod"])  # the search left the filter as it was
    with pytest.raises(TypeError, match="stauts"):
        three.search_traces(stauts="ERROR")
    with pytest.raises(ValueError, match="status must be one of"):
        three.search_traces(TraceFilter(status="MAYBE"))


def test_every_cli_filter_option_is_a_trace_filter_field(three: TraceStore, db_path: Path, capsys: Any) -> None:
    """The command's filter options are the filter's fields: each finds what the field finds."""
    options = {
        "--status": ("status", "ERROR"),
        "--name": ("name", "amm"),
        "--kind": ("kind", "LLM"),
        "--model": ("model", "model-alpha"),
        "--tag": ("tags", ["dev"]),
        "--session": ("session_id", "s1"),
        "--user": ("user_id", "u1"),
        "--min-duration-ms": ("min_duration_ms", 0.0),
        "--feedback": ("feedback", ["thumbs=true"]),
    }
    names = {f.name for f in dataclasses.fields(TraceFilter)}
    for option, (field, value) in options.items():
        assert field in names
        arguments = [str(v) for v in (value if isinstance(value, list) else [value])]
        assert cli.main(["--db", str(db_path), "traces", "list", "--json", option, *arguments]) == 0
        listed = [json.loads(line)["trace_id"] for line in capsys.readouterr().out.splitlines()]
        expected = [t.trace_id for t in three.search_traces(TraceFilter(**{field: value}))]
        assert listed == expected and expected, option
    for flag, rated in (("--rated", True), ("--unrated", False)):
        assert cli.main(["--db", str(db_path), "traces", "list", "--json", flag]) == 0
        listed = [json.loads(line)["trace_id"] for line in capsys.readouterr().out.splitlines()]
        assert listed == [t.trace_id for t in three.search_traces(TraceFilter(has_feedback=rated))]


def _record(span_id: str, parent_id: str | None, start_ns: int) -> SpanRecord:
    return SpanRecord(
        span_id=span_id, trace_id="t", parent_id=parent_id, name=span_id, kind="CHAIN", start_ns=start_ns,
        end_ns=start_ns + 1, status="OK", status_message=None, inputs=None, outputs=None, attributes={}, events=[],
        model=None, input_tokens=None, output_tokens=None,
    )  # fmt: skip


def _trace(spans: list[SpanRecord]) -> Trace:
    summary = TraceSummary(
        trace_id="t", name="root", start_ns=0, end_ns=1, duration_ms=0.0, status="OK", root_span_id="root",
        session_id=None, user_id=None, tags=[], metadata={}, input_preview=None, output_preview=None,
        span_count=len(spans), input_tokens=None, output_tokens=None, error_count=0,
    )  # fmt: skip
    return Trace(summary, spans)


def test_a_trace_walks_its_spans_depth_first_in_start_order_with_orphans_as_roots() -> None:
    spans = [
        _record("root", None, 0),
        _record("a", "root", 1),
        _record("a1", "a", 2),
        _record("orphan", "not-stored", 3),  # its parent is in another service, or not arrived yet
        _record("b", "root", 4),
        _record("orphan-child", "orphan", 5),
        _record("a2", "a", 6),
    ]
    walked = [(depth, span.span_id) for depth, span in _trace(spans).walk()]
    assert walked == [
        (0, "root"), (1, "a"), (2, "a1"), (2, "a2"), (1, "b"), (0, "orphan"), (1, "orphan-child"),
    ]  # fmt: skip


def test_a_very_deep_trace_walks_without_recursion() -> None:
    depth = sys.getrecursionlimit() * 2
    spans = [_record(f"s{i}", f"s{i - 1}" if i else None, i) for i in range(depth)]
    walked = list(_trace(spans).walk())
    assert [d for d, _ in walked] == list(range(depth))


def test_the_viewer_and_the_cli_draw_the_same_tree(store: TraceStore, db_path: Path, capsys: Any) -> None:
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
    try:  # a trace whose root is in another service: its top span here has a parent that is not stored
        with spanlite.start_span("handler", kind="AGENT"):
            with spanlite.start_span("plan", kind="LLM"):
                with spanlite.start_span("search", kind="TOOL"):
                    pass
            with spanlite.start_span("answer", kind="LLM"):
                pass
    finally:
        context.detach(token)
    spanlite.flush()
    trace_id = f"{0xABC:032x}"
    stored = store.get_trace(trace_id)
    assert stored is not None
    walked = [(depth, span.span_id) for depth, span in stored.walk()]
    assert [(n.depth, n.span_id) for n in views.span_tree(store, trace_id)] == walked
    assert [(depth, span.name) for depth, span in stored.walk()] == [
        (0, "handler"), (1, "plan"), (2, "search"), (1, "answer"),
    ]  # fmt: skip
    assert cli.main(["--db", str(db_path), "traces", "show", trace_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines if line.lstrip().startswith(("AGENT", "LLM", "TOOL"))] == [
        "handler", "plan", "search", "answer",
    ]  # fmt: skip
    assert [len(line) - len(line.lstrip()) for line in lines if "LLM" in line or "TOOL" in line] == [2, 4, 2]


def test_tags_given_as_a_generator_filter_every_page(store: TraceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator of tags is read once, as the filter is made: else the first page used it up and the pages after
    it came back unfiltered."""
    from spanlite.store import query

    for name, tags in (("old", ["dev"]), ("a", ["prod"]), ("b", ["prod"])):
        _traced(name, tags)
    spanlite.flush()
    monkeypatch.setattr(query, "MAX_LIMIT", 1)  # a page a trace, so that the search goes on past its first page
    assert [t.name for t in store.iter_traces(tags=(tag for tag in ["prod"]))] == ["b", "a"]
